"""``autolabel import``: bring a review done in another tool back into a run as a revision."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from autolabel.cli import echo
from autolabel.cli.review import format_corrections

if TYPE_CHECKING:  # pragma: no cover
    from autolabel.review.labelstudio import ImportResult


def format_import(result: ImportResult, dry_run: bool) -> str:
    """What ``autolabel import labelstudio`` prints: what changed, and what the tasks held."""
    t = result.tasks
    what = "would write" if dry_run else f"wrote revision {result.revision}"
    return "\n".join([
        f"{what} from {result.export} (base: {result.base_revision or 'original'}): {format_corrections(result.corrections)}",
        f"tasks: {t.tasks} in the export, {t.tasks_annotated} annotated"
        f" ({result.corrections.images_reviewed} image(s) corrected), {t.tasks_unannotated} without annotation"
        f" and {t.tasks_cancelled} skipped (their predictions kept unchanged)"
        + (f", {t.tasks_unmatched} matching no image of the run (ignored)" if t.tasks_unmatched else "")
        + (f", {t.tasks_duplicate} duplicate(s) of an image (newest annotation used)" if t.tasks_duplicate else ""),
    ])


@click.group(name="import")
def import_() -> None:
    """Read corrections made in a labeling tool back into a run (as a new revision).

    The run's original predictions are never changed; each import adds
    RUN/revisions/NNN-<tool>.jsonl, which export, review and evaluate use from then on
    (as revision "latest").
    """


@import_.command(name="labelstudio")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path, file_okay=False))
@click.argument("export_file", metavar="EXPORT.json", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--base",
    "base_revision",
    default="latest",
    show_default=True,
    help="Revision the Label Studio tasks were exported from: latest, original or a revision name.",
)
@click.option("--image-key", default=None, help="Task data key of the image URL, for tasks without the stored path (default: image).")
@click.option("--from-name", default=None, help="Only read the regions (rectangles and polygons) of this control: 'label' is the exported "
                                                 "RectangleLabels, 'polygon' its PolygonLabels (default: every control).")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
def labelstudio(
    run_dir: Path, export_file: Path, base_revision: str, image_key: str | None, from_name: str | None, dry_run: bool
) -> None:
    """Apply a Label Studio JSON export (Export > JSON) to RUN.

    Each task is matched to a run image by the run path the export stored in the task
    (data.path), else by its image URL's path; its most recent submitted annotation decides
    the image's boxes: a box deleted there is rejected, a new label or a moved box is
    taken over, a drawn box is added. Tasks without an annotation keep their predictions.
    """
    from autolabel.review.labelstudio import import_labelstudio
    from autolabel.store import open_run

    store = open_run(run_dir)
    result = import_labelstudio(
        store, export_file, base_revision=base_revision, image_key=image_key, from_name=from_name, dry_run=dry_run
    )
    echo(format_import(result, dry_run))
    if result.tasks.regions_rotated:
        echo(f"note: {result.tasks.regions_rotated} rotated box(es) were replaced by the axis-aligned box around them", err=True)
    if result.tasks.regions_unreadable:
        echo(f"note: {result.tasks.regions_unreadable} region(s) could not be read (see the warnings); their detections"
             " were kept as they were, drawn ones dropped", err=True)
    if result.tasks.labels_refused:
        echo(f"note: {result.tasks.labels_refused} label(s) holding a control character were refused; those boxes keep"
             " their old label (drawn ones are dropped)", err=True)
