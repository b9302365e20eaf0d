"""Read a Label Studio JSON export back into a run: the boxes a reviewer left, per image.

Reading the file, matching tasks to run images and choosing each task's annotation live in
:mod:`autolabel.review.lstasks`; shapes (rectangles, polygons, brushes) in
:mod:`autolabel.review.lsshapes`. This module
turns an annotation's regions into reviewed boxes and stores the result (pure until
:func:`import_labelstudio` writes the revision):

* **Which annotation.** The most recent one that was not cancelled
  (:func:`~autolabel.review.lstasks.latest_annotation`). A task without one keeps its
  predictions unchanged and is counted as ``tasks_unannotated``.
* **Region -> detection.** A region whose id is the region id our exporter gave one of the
  image's detections (:func:`region_id`; usually the detection id itself) is that detection:
  Label Studio keeps prediction region ids when an annotator starts from the prediction (it
  only replaces a ``#suffix``, so ids are also compared up to the first ``#``). Any other
  region is a box the reviewer drew. Regions sharing an id (a rectangle and its
  per-region labels) are merged.
* **Reviewed.** Every box of a submitted annotation is marked ``reviewed`` (tag ``ok``): the
  annotator saw the whole image and left that box there.
* **Percent -> pixels.** ``x1 = x * W / 100``, ``y1 = y * H / 100``,
  ``x2 = (x + width) * W / 100``, ``y2 = (y + height) * H / 100`` with the run's displayed
  ``W x H`` (Label Studio draws percentages on the image it shows; ``original_width/height``
  is informational). A rotated box becomes the axis-aligned box around it (Label Studio
  rotates clockwise about the top-left corner), with a warning.
* **Polygons, brushes, unreadable regions, limits, labels.** See :mod:`autolabel.review.lsshapes`.

The result feeds :func:`autolabel.review.corrections.correct_images`, the same core the FiftyOne
review uses, and :meth:`autolabel.store.RunStore.write_revision` stores it (see
:func:`import_labelstudio`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from autolabel.errors import InputError
from autolabel.formats.labelstudio import clean_region_id, region_id
from autolabel.formats.polygons import DEFAULT_TOLERANCE
from autolabel.names import display_name
from autolabel.review.corrections import CorrectionSummary, ReviewedBox, correct_images, label_id_map
from autolabel.review.lsshapes import REVIEWED_TAGS, ShapeCounts, region_boxes
from autolabel.review.lstasks import (
    ImageMatcher,
    Region,
    annotation_rank,
    latest_annotation,
    load_export,
    regions_of,
    short,
    task_image_url,
    task_run_path,
)
from autolabel.types import ImageAnnotations

if TYPE_CHECKING:  # pragma: no cover
    from autolabel.store import RunStore

__all__ = [
    "REVIEWED_TAGS", "SOURCE", "STAT_KEYS", "ImageMatcher", "ImportResult", "LabelStudioReview", "Region",
    "TaskStats", "annotation_rank", "import_labelstudio", "latest_annotation", "load_export", "parse_export",
    "regions_of",
]

log = logging.getLogger(__name__)

SOURCE = "labelstudio"
"""Revision source name: revisions are stored as ``revisions/NNN-labelstudio.jsonl``."""


@dataclass
class TaskStats(ShapeCounts):
    """Counts of what an export held (mutable: :func:`parse_export` counts into it).

    Attributes:
        tasks: tasks in the export; tasks_annotated: with an annotation that decides the image;
        tasks_unannotated: no annotation (predictions kept); tasks_cancelled: only skipped
            annotations (predictions kept); tasks_unmatched: no run image; tasks_duplicate: a
            second task for an image already seen (the newer annotation wins).
        regions, regions_matched, regions_new, regions_rotated, regions_unreadable,
            labels_refused: what the regions held (:class:`~autolabel.review.lsshapes.ShapeCounts`).
        items_ignored: result items that are not shapes (or of another control).
    """

    tasks: int = 0
    tasks_annotated: int = 0
    tasks_unannotated: int = 0
    tasks_cancelled: int = 0
    tasks_unmatched: int = 0
    tasks_duplicate: int = 0
    items_ignored: int = 0

    def to_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in STAT_KEYS}


STAT_KEYS = ("tasks", "tasks_annotated", "tasks_unannotated", "tasks_cancelled", "tasks_unmatched", "tasks_duplicate",
             *ShapeCounts.__dataclass_fields__, "items_ignored")
"""The keys of :meth:`TaskStats.to_dict`, in order."""


@dataclass
class LabelStudioReview:
    """What a Label Studio export says about a run.

    Attributes:
        reviews: image path -> the boxes of its task's chosen annotation (annotated tasks only),
            ready for :func:`autolabel.review.corrections.correct_images`.
        stats: what the export held (:class:`TaskStats`).
        annotation_ids: image path -> Label Studio annotation id used.
        unmatched: image URLs of the tasks that match no run image.
    """

    reviews: dict[str, list[ReviewedBox]] = field(default_factory=dict)
    stats: TaskStats = field(default_factory=TaskStats)
    annotation_ids: dict[str, Any] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)


def parse_export(
    tasks: Sequence[Mapping[str, Any]],
    images: Iterable[ImageAnnotations],
    *,
    image_key: str | None = None,
    from_name: str | None = None,
    source_name: str = "export",
    polygon_tolerance: float = DEFAULT_TOLERANCE,
) -> LabelStudioReview:
    """Turn Label Studio tasks into per-image reviewed boxes for ``images`` (the review's base).

    Args:
        tasks: the export (a list of task dicts, Label Studio's "JSON" format).
        images: the run's images as exported to Label Studio (detection ids, displayed size).
        image_key: the task ``data`` key of the image URL; default ``image``, or the only string.
        from_name: only use results of this ``RectangleLabels``/``PolygonLabels`` control (default: any).
        source_name: name of the export for messages.
        polygon_tolerance: the exporter's ``polygon_tolerance`` (px), tried first; a detection's
            polygon that is still what an export wrote, at this or any other tolerance, leaves
            its box and mask unchanged (:func:`~autolabel.review.lsshapes.polygons_unchanged`).

    Raises:
        InputError: the export is not a list of tasks, or no task matches a run image.
    """
    if not isinstance(tasks, Sequence) or isinstance(tasks, (str, bytes)):
        raise InputError(f"{source_name}: expected a JSON list of Label Studio tasks, got {type(tasks).__name__}")
    base = {img.path: img for img in images}
    matcher = ImageMatcher(base)
    stats = TaskStats()
    out = LabelStudioReview(stats=stats)
    chosen: dict[str, tuple[tuple[float, float, float], Any, list[ReviewedBox]]] = {}
    for n, task in enumerate(tasks):
        if not isinstance(task, Mapping) or "data" not in task:
            kind = "a JSON_MIN/CSV row" if isinstance(task, Mapping) else type(task).__name__
            raise InputError(
                f"{source_name}: item {n} is not a Label Studio task (no 'data'; looks like {kind}); "
                "export the project with the 'JSON' format, not 'JSON-MIN' or CSV"
            )
        stats.tasks += 1
        url = task_image_url(task, image_key)
        path = task_run_path(task, base)
        if path is None and url:
            path = matcher.match(url)
        if path is None:
            stats.tasks_unmatched += 1
            out.unmatched.append(str(url))
            continue
        try:
            ann = latest_annotation(task)
        except InputError as e:
            raise InputError(f"{source_name}: {e}") from None
        if ann is None:
            if task.get("annotations"):
                stats.tasks_cancelled += 1
            else:
                stats.tasks_unannotated += 1
            continue
        img = base[path]
        by_id: dict[str | None, str] = {}
        for d in img.detections:
            for key in (region_id(d.id), d.id, clean_region_id(d.id)):
                by_id.setdefault(key, d.id)
        result = ann.get("result")
        result = [] if result is None else result
        if not isinstance(result, (list, tuple)):
            raise InputError(f"{source_name}: task {short(task.get('id'))}, annotation {short(ann.get('id'))}: "
                             f"'result' must be a list, got {type(result).__name__}")
        regions, ignored = regions_of(result, from_name)
        stats.items_ignored += ignored
        where = f"{source_name}: task {short(task.get('id'))} ({display_name(path)})"
        boxes = region_boxes(regions, img, by_id, tolerance=polygon_tolerance, where=where, counts=stats)
        ident = ann.get("id")
        rank = annotation_rank(ann)
        if path in chosen:
            stats.tasks_duplicate += 1
            log.warning("%s: more than one task shows %s; the most recent annotation wins", source_name, path)
            if chosen[path][0] >= rank:
                continue
        else:
            stats.tasks_annotated += 1
        chosen[path] = (rank, ident, boxes)
    if not stats.tasks:
        raise InputError(f"{source_name}: the export holds no tasks")
    if stats.tasks_unmatched == stats.tasks:
        raise InputError(
            f"{source_name}: none of its {stats.tasks} tasks shows an image of this run "
            f"(first task's image: {out.unmatched[0]!r}; run images look like {matcher.paths[0]!r})"
            if matcher.paths
            else f"{source_name}: the run has no images"
        )
    if out.unmatched:
        log.warning("%s: %d task(s) match no image of the run and were ignored, e.g. %s", source_name, len(out.unmatched), out.unmatched[0])
    for path in sorted(chosen):
        _, ident, boxes = chosen[path]
        out.reviews[path] = boxes
        out.annotation_ids[path] = ident
    return out


@dataclass(frozen=True)
class ImportResult:
    """Outcome of :func:`import_labelstudio`.

    Attributes:
        revision: the new revision's name (``None`` for a dry run).
        base_revision: the revision the review was compared with (``None`` = original predictions).
        export: the export file's name.
        corrections: what the review changed (:class:`~autolabel.review.corrections.CorrectionSummary`).
        tasks: what the export held (:class:`TaskStats`).
        images: the corrected images (every image of the run).
    """

    revision: str | None
    base_revision: str | None
    export: str
    corrections: CorrectionSummary
    tasks: TaskStats
    images: list[ImageAnnotations]

    def to_dict(self) -> dict[str, Any]:
        """The summary stored beside the revision: the correction counts, :data:`STAT_KEYS`,
        ``export`` and ``base_revision`` (``original`` for the original predictions)."""
        return {
            **self.corrections.to_dict(),
            **self.tasks.to_dict(),
            "export": self.export,
            "base_revision": self.base_revision or "original",
        }


def import_labelstudio(
    store: RunStore,
    export_path: str | Path,
    *,
    base_revision: str | None = "latest",
    image_key: str | None = None,
    from_name: str | None = None,
    dry_run: bool = False,
    polygon_tolerance: float = DEFAULT_TOLERANCE,
) -> ImportResult:
    """Apply a Label Studio JSON export to a run and store the result as a new revision.

    Args:
        store: the run.
        export_path: the export file (Label Studio "JSON" format).
        base_revision: the revision the tasks were exported from (``latest``, ``original`` or
            a name); the review is compared with it.
        image_key, from_name: see :func:`parse_export`.
        dry_run: compute everything but write nothing.
        polygon_tolerance: the ``polygon_tolerance`` the tasks were most likely exported with
            (tried first; any other is recognised too, see :func:`parse_export`).

    Returns:
        an :class:`ImportResult`; its ``revision`` names ``revisions/NNN-labelstudio``.
    """
    store.read_manifest()
    tasks = load_export(export_path)
    # hold the run's lock: no annotate/review/import may add a revision between read and write
    with contextlib.nullcontext() if dry_run else store.lock():
        base_name = store.resolve_revision(base_revision)
        images = list(store.iter_images(base_name))
        review = parse_export(tasks, images, image_key=image_key, from_name=from_name, source_name=str(export_path),
                              polygon_tolerance=polygon_tolerance)
        result = correct_images(images, review.reviews, label_id_map(images))
        out = ImportResult(revision=None, base_revision=base_name, export=Path(export_path).name,
                           corrections=result.summary, tasks=review.stats, images=result.images)
        if not dry_run:
            name = store.write_revision(SOURCE, result.images, out.to_dict())
            log.info("stored Label Studio review of %d image(s) as revision %s", review.stats.tasks_annotated, name)
            out = dataclasses.replace(out, revision=name)
    return out
