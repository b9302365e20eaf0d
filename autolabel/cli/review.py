"""``autolabel review RUN``: fix boxes in the FiftyOne App; ``--pull`` brings the fixes back."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from autolabel.cli import echo

if TYPE_CHECKING:  # pragma: no cover
    from autolabel.review import BuildResult, CorrectionSummary, PullResult


def format_corrections(c: CorrectionSummary) -> str:
    """One line: ``kept 12, relabeled 2, moved 1, rejected 3, added 1, reviewed 5`` (and
    ``invalid N`` when some boxes were dropped as invalid)."""
    parts = [("kept", c.kept), ("relabeled", c.relabeled), ("moved", c.moved), ("rejected", c.rejected),
             ("added", c.added), ("reviewed", c.reviewed)]
    if c.invalid:
        parts.append(("invalid", c.invalid))
    return ", ".join(f"{k} {v}" for k, v in parts)


def format_pull(res: PullResult, run: Path) -> str:
    """What ``autolabel review RUN --pull`` prints."""
    c = res.corrections
    if res.revision is None:
        since = "the original predictions" if res.base == "original" else f"revision {res.base}"
        return "\n".join([
            f"nothing changed in {res.dataset} since {since} ({c.images_reviewed} images, {c.boxes_after} boxes); "
            "no revision written",
            format_corrections(c),
        ])
    return "\n".join([
        f"pulled {res.dataset} into revision {res.revision} ({c.images_reviewed} images, {c.boxes_before} -> {c.boxes_after} boxes)",
        format_corrections(c),
        f"`autolabel export {run} -f FORMAT -o DIR` now exports it; --original exports the raw predictions",
    ])


def format_build(built: BuildResult, views: dict[str, str]) -> str:
    """What ``autolabel review RUN`` prints once the dataset is ready (before the App starts)."""
    verb = "created" if built.created else "updated"
    lines = [f"dataset {built.dataset} {verb}: {built.added} new sample(s), {built.existing} already there",
             "saved views, likeliest mistakes first:"]
    lines += [f"  {name:16s} {what}" for name, what in views.items()]
    lines.append("tags: `reject` removes a box, `ok` marks it reviewed; relabel, move, delete and draw in the Annotate tab")
    return "\n".join(lines)


OLDEST_MONGODB = "You are running the oldest supported major version of MongoDB"
MONGODB_NOTE = ("FiftyOne's database runs the oldest major version of MongoDB that this FiftyOne supports; it works, "
                "and FiftyOne warns on every connection that a later release may need a newer one "
                "(https://deprecation.voxel51.com; docs/review.md, 'The database')")


class _OldestMongoDB(logging.Filter):
    """Turn FiftyOne's warning about the oldest supported MongoDB, which it prints on every
    connection, into one INFO line of ours (shown with ``autolabel -v``)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if OLDEST_MONGODB not in record.getMessage():
            return True
        if not self.seen:
            self.seen = True
            logging.getLogger("autolabel.review").info(MONGODB_NOTE)
        return False


def quiet_oldest_mongodb_warning() -> None:
    """Install :class:`_OldestMongoDB` on FiftyOne's database logger (once per process)."""
    logger = logging.getLogger("fiftyone.core.odm.database")
    if not any(isinstance(f, _OldestMongoDB) for f in logger.filters):
        logger.addFilter(_OldestMongoDB())


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.command("review")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--pull", is_flag=True, help="Read the reviewed dataset back into the run as a corrected revision.")
@click.option("--port", type=int, default=5151, show_default=True, help="Port of the App on 127.0.0.1.")
@click.option("--no-launch", is_flag=True, help="Create or update the dataset only; do not start the App.")
@click.option("--dataset", "dataset", metavar="NAME", help="FiftyOne dataset name [default: the one used before, else autolabel-<run name>].")
def review(run: Path, pull: bool, port: int, no_launch: bool, dataset: str | None) -> None:
    """Review RUN's boxes in the FiftyOne App, then pull the corrections back.

    \b
    In the App: relabel, move, delete or draw boxes (Annotate tab); tag a box
    `reject` to remove it, `ok` to mark it reviewed. Saved views list the
    likeliest mistakes first. Stop the App with Ctrl-C, then run
    `autolabel review RUN --pull`; `autolabel export` uses the corrected
    revision from then on (`--original` exports the raw predictions).
    """
    from autolabel.review import app
    from autolabel.review.database import connect_fiftyone
    from autolabel.store import open_run

    store = open_run(run)
    if not (pull or no_launch):
        app.check_port_free(port)  # fail before the slow part
    quiet_oldest_mongodb_warning()
    connect_fiftyone()  # a missing or unreachable database: one line, in seconds

    from autolabel.review.dataset import VIEWS, build_dataset
    from autolabel.review.dataset import pull as pull_corrections

    if pull:
        echo(format_pull(pull_corrections(store, dataset), run))
        return

    built = build_dataset(store, dataset)
    echo(format_build(built, VIEWS))
    if no_launch:
        echo(f"start the App with: autolabel review {run}")
        return

    session = app.launch_app(built.dataset, port=port)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        echo(f"App: {app.app_url(port)}")
        echo(f"from another machine: {app.ssh_hint(port)}")
        echo(f"Ctrl-C stops the App; then: autolabel review {run} --pull")
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        echo("stopping the App ...")
    finally:
        app.close_app(session)
        signal.signal(signal.SIGTERM, previous)
    echo("stopped")
