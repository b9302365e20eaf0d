"""``autolabel export``: write a stored run in one or more formats.

Format options reach exporters one way, built-in or plugin alike: ``-O NAME=VALUE`` (or
``-O FORMAT.NAME=VALUE``), parsed by the option's declared click type. An option that declares a
``flag`` also gets that flag here (``--some-flag X`` = ``-O FORMAT.NAME=X``); the flags
are generated from the registered exporters' declarations when the command runs, so nothing
here names a format.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from autolabel.cli import echo
from autolabel.errors import ExportError

if TYPE_CHECKING:
    from autolabel.export import ExportReport

log = logging.getLogger(__name__)

_ALIASES = "autolabel.export.aliases"  # ctx.meta key: FORMAT.NAME -> value given through a flag


def read_classes(values: tuple[str, ...]) -> list[str] | None:
    """``--classes`` values: one class per option; ``@file`` reads one class per line."""
    if not values:
        return None
    out: list[str] = []
    for v in values:
        if v.startswith("@"):
            path = Path(v[1:])
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as e:
                raise ExportError(f"--classes {v}: cannot read {path} ({e.strerror or e})") from None
            out.extend(line.strip() for line in lines if line.strip())
        else:
            out.append(v)
    return out


def parse_format_options(values: tuple[str, ...], hint: str = "-O/--option") -> dict[str, str]:
    """``("origin=zero", "fmt.results=true")`` -> ``{"origin": "zero", "fmt.results": "true"}``.

    Values stay strings: the driver parses each with its option's click type. A name given
    twice keeps the last value.

    Raises:
        click.BadParameter: an item without ``=`` or without a name.
    """
    opts: dict[str, str] = {}
    for v in values:
        key, sep, value = v.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"expected NAME=VALUE or FORMAT.NAME=VALUE, got {v!r}", param_hint=hint)
        opts[key] = value
    return opts


def print_report(report: ExportReport, files: bool = True) -> None:
    """What an export wrote: each format's folder (and files), then the formats' notes."""
    for name, folder in report.dirs.items():
        if files:
            echo(f"{name}: {folder}")
            for p in report.files[name]:
                echo(f"  {p.relative_to(folder)}{'/' if p.is_dir() else ''}")
        else:
            echo(f"exported {name}: {folder} ({len(report.files[name])} file(s))")
    for name, lines in report.notes.items():
        for line in lines:
            echo(f"{name}: {line}")


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None:
            ctx.meta.setdefault(_ALIASES, {})[key] = value
    return callback


def alias_options(taken: set[str]) -> list[click.Option]:
    """One click option per declared :attr:`Option.flag` of the registered exporters.

    A flag already in ``taken`` (the command's own, or an earlier format's) is skipped with a
    warning; that option stays reachable with ``-O``. Formats that fail to load are skipped
    (``autolabel formats`` shows why).
    """
    from autolabel.export import loadable_exporters

    params: list[click.Option] = []
    for fmt, cls in loadable_exporters().items():
        for name, opt in cls.options.items():
            if not opt.flag:
                continue
            if opt.flag in taken:
                log.warning("format %r option %r: flag %s is taken; use -O %s.%s=VALUE", fmt, name, opt.flag, fmt, name)
                continue
            taken.add(opt.flag)
            key = f"{fmt}.{name}"
            help_text = f"{fmt}: {opt.help}"
            if opt.is_flag:
                param = click.Option([opt.flag], is_flag=True, flag_value=True, default=None, expose_value=False,
                                     callback=_remember(key), help=help_text)
            else:
                param = click.Option([opt.flag], type=opt.param_type, default=None, expose_value=False,
                                     callback=_remember(key), help=help_text)
            params.append(param)
    return params


class ExportCommand(click.Command):
    """A command whose format flags are generated, when it runs, from the exporters' declarations."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        base = super().get_params(ctx)
        key = f"{_ALIASES}.params"
        if key not in ctx.meta:
            taken = {o for p in base if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}
            ctx.meta[key] = alias_options(taken)
        extra: list[click.Parameter] = ctx.meta[key]
        help_option = self.get_help_option(ctx)  # keep --help last
        return [p for p in base if p is not help_option] + extra + [p for p in base if p is help_option]


@click.command("export", cls=ExportCommand)
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("-f", "--format", "formats", multiple=True, required=True, metavar="FORMAT",
              help="Format to write (repeat or comma-separate; 'all' = every installed format). See `autolabel formats`.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; each format goes to OUT/<format>/.")
@click.option("--revision", default=None, metavar="NAME",
              help="Export this corrected revision (default: the latest one, else the original predictions).")
@click.option("--original", is_flag=True, help="Export the pipeline's original predictions, ignoring review corrections.")
@click.option("--min-score", type=click.FloatRange(0.0, 1.0), default=None, help="Leave out boxes scoring below this.")
@click.option("--classes", "classes", multiple=True, metavar="NAME",
              help="Export only this class (repeat for more; @FILE reads one per line). Declared order stays the run's.")
@click.option("--copy-images", is_flag=True, help="Copy the images into the export.")
@click.option("--link-images", is_flag=True, help="Hard-link the images into the export (symbolic links across file systems).")
@click.option("--split", default=None, metavar="NAME", help="Split/subset name (default: each format's own).")
@click.option("-O", "--option", "extra", multiple=True, metavar="[FORMAT.]NAME=VALUE",
              help="Set a format option (repeatable); FORMAT. only when two selected formats declare NAME. "
                   "`autolabel formats` lists every option.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (there is none when stderr is not a terminal).")
def export(run: Path, formats: tuple[str, ...], out_dir: Path, revision: str | None, original: bool,
           min_score: float | None, classes: tuple[str, ...], copy_images: bool, link_images: bool,
           split: str | None, extra: tuple[str, ...], quiet: bool) -> None:
    """Write the boxes of RUN in one or more formats (built-in or plugin; see `autolabel formats`)."""
    from autolabel.export import run_export
    from autolabel.store import LATEST, ORIGINAL, open_run

    if original and revision:
        raise click.UsageError("use either --original or --revision, not both")
    if copy_images and link_images:
        raise click.UsageError("use either --copy-images or --link-images, not both")
    options: dict[str, Any] = dict(click.get_current_context().meta.get(_ALIASES, {}))
    options.update(parse_format_options(extra))
    store = open_run(run)
    bar = None
    if not quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="img", dynamic_ncols=True, file=sys.stderr, desc="export", leave=False)
    try:
        report = run_export(
            store, list(formats), out_dir,
            revision=ORIGINAL if original else (revision or LATEST), format_options=options,
            min_score=min_score, classes=read_classes(classes), copy_images=copy_images,
            link_images=link_images, split=split, progress=None if bar is None else bar.update,
        )
    finally:
        if bar is not None:
            bar.close()
    rev = report.revision
    echo(f"revision: {rev}" + (" (the pipeline's predictions)" if rev == ORIGINAL else " (corrected)"))
    dropped = f", {report.dropped} left out by filters" if report.dropped else ""
    echo(f"{report.images} images, {report.boxes} boxes{dropped}, {len(report.classes)} classes")
    print_report(report)
    report.raise_failed()  # a format that could not carry an image: exit 1, one line naming it
