"""``autolabel review RUN``: fix boxes in the FiftyOne App; ``--pull`` brings the fixes back."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click

from autolabel.cli import echo


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
    from autolabel import review as rv
    from autolabel.corrections import format_summary
    from autolabel.store import open_run

    store = open_run(run)
    if pull:
        res = rv.pull(store, dataset)
        s = res.summary
        echo(f"pulled {s['dataset']} into revision {res.revision} ({s['images_reviewed']} images, {s['boxes_before']} -> {s['boxes_after']} boxes)")
        echo(format_summary(s))
        echo(f"`autolabel export {run} -f FORMAT -o DIR` now exports it; --original exports the raw predictions")
        return

    if not no_launch:
        rv.check_port_free(port)  # fail before the slow part
    built = rv.build_dataset(store, dataset)
    verb = "created" if built.created else "updated"
    echo(f"dataset {built.dataset} {verb}: {built.added} new sample(s), {built.existing} already there")
    echo("saved views, likeliest mistakes first:")
    for name, what in rv.VIEWS.items():
        echo(f"  {name:16s} {what}")
    echo("tags: `reject` removes a box, `ok` marks it reviewed; relabel, move, delete and draw in the Annotate tab")
    if no_launch:
        echo(f"start the App with: autolabel review {run}")
        return

    session = rv.launch_app(built.dataset, port=port)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        echo(f"App: {rv.app_url(port)}")
        echo(f"from another machine: {rv.ssh_hint(port)}")
        echo(f"Ctrl-C stops the App; then: autolabel review {run} --pull")
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        echo("stopping the App ...")
    finally:
        rv.close_app(session)
        signal.signal(signal.SIGTERM, previous)
    echo("stopped")
