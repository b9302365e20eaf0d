"""The ``autolabel`` command line. The only place that prints and picks exit codes.

Commands live in one module each and are imported only when run, so ``autolabel --help`` and
``autolabel --version`` start in well under a second (no torch import).

Exit codes: 0 success; 1 a clear error (an :class:`~autolabel.errors.AutolabelError`, shown as
one line); 2 a usage error (click's own); 130 interrupted.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from typing import Any

import click

from autolabel import __version__
from autolabel.errors import AutolabelError

# command name -> "module:attribute"; a module that does not exist yet is simply not listed.
COMMANDS: dict[str, str] = {
    "annotate": "autolabel.cli.annotate:annotate",
    "export": "autolabel.cli.export:export",
    "formats": "autolabel.cli.export:formats",
    "review": "autolabel.cli.review:review",
    "import": "autolabel.cli.importing:import_",
    "evaluate": "autolabel.cli.evaluate:evaluate",
    "classes": "autolabel.cli.classes:classes",
    "models": "autolabel.cli.models:models",
    "bench": "autolabel.cli.bench:bench",
    "devset": "autolabel.cli.devset:devset",
}


def _available(spec: str) -> bool:
    return importlib.util.find_spec(spec.split(":")[0]) is not None


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, s in COMMANDS.items() if _available(s))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None or not _available(spec):
            return None
        mod, attr = spec.split(":")
        return getattr(importlib.import_module(mod), attr)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AutolabelError as e:
            if (ctx.obj or {}).get("verbose", 0) > 0:
                raise
            click.echo(f"error: {e}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="autolabel")
@click.option("-v", "--verbose", count=True, help="Log progress (-v) or debug details (-vv); show tracebacks.")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """Pre-annotate a folder of images: DINO + LOST find the objects, an ImageNet classifier
    names them, and exporters write COCO, VOC, YOLO, CVAT or Label Studio files."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("autolabel").setLevel(level)


def echo(msg: str = "", err: bool = False) -> None:
    """Print a line (commands use this, never ``print``)."""
    click.echo(msg, err=err)


if __name__ == "__main__":  # pragma: no cover
    main()
