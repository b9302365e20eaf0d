"""The ``autolabel`` command line. The only place that prints and picks exit codes.

Commands live in one module each and are imported only when run, so ``autolabel --help`` and
``autolabel --version`` start in well under a second (no torch import).

Exit codes: 0 success; 1 a clear error (an :class:`~autolabel.errors.AutolabelError`, shown as
one line, or a full disk); 2 a usage error (click's own); 130 interrupted.

Error text is printed with control characters and undecodable file-name bytes escaped
(:func:`autolabel.names.display_name`), so a hostile file name cannot drive the terminal.
A file name that is not UTF-8 reaching a writer that cannot carry it is one line naming it.
A library that prints its log records itself (huggingface_hub, FiftyOne) is printed once: the
root handler skips records one of its own handlers has already shown.
"""

from __future__ import annotations

import errno
import importlib
import logging
import sys
from typing import Any

import click

from autolabel import __version__
from autolabel.errors import AutolabelError
from autolabel.names import display_name

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

DISK_FULL_MESSAGE = (
    "the disk is full ({detail}). Free some space, then run the same command again: annotate "
    "resumes where it stopped (every image finished so far is kept), export writes the export anew"
)


def _disk_full(exc: BaseException) -> OSError | None:
    """The ENOSPC / EDQUOT error behind ``exc`` (itself, or what it was raised from), if any."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _DISK_FULL:
            return e
        e = e.__cause__ or e.__context__
    return None


def _one_line_safe(text: str) -> str:
    """``text`` with control characters escaped in each line (intended line breaks kept)."""
    return "\n".join(display_name(line) for line in text.split("\n"))


class _ShownOnce(logging.Filter):
    """Drop a record that a handler of its own logger tree (below the root) already printed."""

    def filter(self, record: logging.LogRecord) -> bool:
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None and logger is not logging.root:
            if any(not isinstance(h, logging.NullHandler) for h in logger.handlers):
                return False
            if not logger.propagate:
                break
            logger = logger.parent  # type: ignore[assignment]
        return True

# command name -> "module:attribute"; every one is listed, and one that cannot be loaded is an error.
COMMANDS: dict[str, str] = {
    "annotate": "autolabel.cli.annotate:annotate",
    "export": "autolabel.cli.export:export",
    "formats": "autolabel.cli.formats:formats",
    "review": "autolabel.cli.review:review",
    "import": "autolabel.cli.importing:import_",
    "evaluate": "autolabel.cli.evaluate:evaluate",
    "classes": "autolabel.cli.classes:classes",
    "models": "autolabel.cli.models:models",
    "bench": "autolabel.cli.bench:bench",
    "devset": "autolabel.cli.devset:devset",
    "serve": "autolabel.cli.serve:serve",
}


def load_command(name: str, spec: str) -> click.Command:
    """Import the command ``spec`` (``"module:attribute"``) registered as ``name``.

    Raises:
        click.ClickException: the module cannot be imported or lacks the attribute (a broken
            installation); the message names the command, the module and the cause.
    """
    mod, attr = spec.split(":")
    try:
        cmd = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as e:
        raise click.ClickException(
            f"command {name!r} cannot be loaded: {mod}:{attr} failed ({type(e).__name__}: {e}); "
            "the installation is incomplete, reinstall autolabel"
        ) from e
    if not isinstance(cmd, click.Command):
        raise click.ClickException(f"command {name!r} cannot be loaded: {mod}:{attr} is not a click command")
    return cmd


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command runs (or ``--help``
    lists it). A command that cannot be imported fails loudly; it is never silently left out."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        return None if spec is None else load_command(cmd_name, spec)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (AutolabelError, OSError) as e:
            full = _disk_full(e)
            if (ctx.obj or {}).get("verbose", 0) > 0 or (full is None and not isinstance(e, AutolabelError)):
                raise
            if full is not None:
                detail = full.strerror or "no space left on device"
                if full.filename:
                    detail += f": {full.filename}"
                click.echo(f"error: {_one_line_safe(DISK_FULL_MESSAGE.format(detail=detail))}", err=True)
            else:
                click.echo(f"error: {_one_line_safe(str(e))}", err=True)
            ctx.exit(1)
        except UnicodeEncodeError as e:
            # A file name that is not UTF-8 (kept as surrogates, see autolabel.names) reaching a
            # writer that cannot carry it yet: say so in one line, naming the text.
            if (ctx.obj or {}).get("verbose", 0) > 0 or "surrogates" not in str(e.reason):
                raise
            around = e.object[max(0, e.start - 40): e.end + 40] if isinstance(e.object, str) else ""
            click.echo(f"error: cannot write a file name that is not UTF-8 (near \"{display_name(around)}\") in this "
                       "output; rename the file to UTF-8 (e.g. convmv) and rerun", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="autolabel")
@click.option("-v", "--verbose", count=True, help="Log progress (-v) or debug details (-vv); show tracebacks.")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """Pre-annotate a folder of images, with no training.

    A self-supervised feature extractor (a DINO ViT; EfficientNet-Lite0 in the offline lite
    preset) and unsupervised object discovery on its features (votes by default; tokencut,
    maskcut, multi, or single = LOST with --discovery) find the objects, with a mask refined to
    their pixels; an ImageNet classifier names them, optionally mapped onto your classes
    (--classes cat,dog); exporters write COCO, VOC, YOLO, CVAT and Label Studio files
    (`autolabel formats`). Review in FiftyOne (`review`) or Label Studio (`import labelstudio`),
    and measure against a hand-labelled sample (`evaluate`).

    \b
    Presets (`autolabel models`; annotate --preset NAME):
      default  DINO ViT-S/16 + ConvNeXt-B (ImageNet-22k), weights from the Hugging Face hub
      fast     DINO ViT-S/16 + ConvNeXt-T (ImageNet-22k)
      seed     DINO ViT-B/8 + ConvNeXt-XL (ImageNet-22k), 40 seeds: slowest, finest grid
      lite     EfficientNet-Lite0 (ImageNet-1k) for both; weights ship with pip, offline

    \b
    Start with:  autolabel annotate sample_data -o runs/sample --preset lite --export coco
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("autolabel").setLevel(level)
    for h in logging.getLogger().handlers:
        if type(h) is logging.StreamHandler and not any(isinstance(f, _ShownOnce) for f in h.filters):
            h.addFilter(_ShownOnce())


def echo(msg: str = "", err: bool = False) -> None:
    """Print a line (commands use this, never ``print``)."""
    click.echo(msg, err=err)


if __name__ == "__main__":  # pragma: no cover
    main()
