"""Read a Label Studio JSON export back into a run: the boxes a reviewer left, per image.

Label Studio's "JSON" export is a list of tasks; each task has ``data`` (the image URL under
the key named by ``<Image value="$image">``) and ``annotations``, each with a ``result`` list
of regions::

    {"id": 7, "data": {"image": "/data/local-files/?d=images/cam1/0001.jpg"},
     "annotations": [{"id": 3, "was_cancelled": false, "updated_at": "2024-05-01T10:00:00Z",
       "result": [{"id": "0001-0", "type": "rectanglelabels", "from_name": "label",
                   "to_name": "image", "original_width": 640, "original_height": 480,
                   "value": {"x": 10.0, "y": 20.0, "width": 30.0, "height": 40.0,
                             "rotation": 0, "rectanglelabels": ["person"]}}]}]}

What this module does (pure; no file is written here):

* **Task -> image.** ``data.path`` (our exporter writes the run path there) when it names an
  image of the run; else ``data.<key>`` is matched against the run's relative image paths: the
  ``d=`` parameter of a local-files URL (``/data/local-files/?d=<quote(relpath)>``, decoded
  the way Label Studio decodes it, so ``+`` is a space), else the URL's path. The run path
  that is the longest trailing run of path components wins (``images/cam1/0001.jpg`` ->
  ``cam1/0001.jpg``); failing that, a basename that exactly one run image has (Label Studio's
  upload prefix ``1a2b3c4d-`` is ignored). Two folders' ``0001.jpg`` never get mixed up.
* **Which annotation.** The most recent one (``updated_at``, then ``created_at``, then id)
  that was not cancelled ("skipped"). A task without one keeps its predictions unchanged and
  is counted as ``tasks_unannotated``.
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

* **Polygons -> masks.** ``polygonlabels`` regions (``value.points``, percent) are read too. The
  parts of one detection (region ids ``<id>``, ``<id>_p2``, ...; see
  :func:`~autolabel.formats.labelstudio.part_region_id`) make one box. A polygon whose every
  vertex is within :data:`~autolabel.review.corrections.MOVE_TOLERANCE` px of what the export
  wrote for the detection's mask (at ``polygon_tolerance``) is *unchanged*: the detection keeps
  its box and exact mask. Any other polygon (edited, or drawn) is rasterised (pixel centres
  inside, :func:`~autolabel.formats.polygons.polygons_to_mask`) into the box's new mask, and the
  box becomes the mask's bounds (the polygon's bounds if it covers no pixel centre; then there
  is no mask).

The result feeds :func:`autolabel.review.corrections.correct_images`, the same core the FiftyOne
review uses, and :meth:`autolabel.store.RunStore.write_revision` stores it (see
:func:`import_labelstudio`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from autolabel import masks
from autolabel.errors import InputError
from autolabel.formats.labelstudio import (
    clean_region_id,
    percent_to_box,
    points_to_pixels,
    region_id,
    split_part_region_id,
    url_to_relpath,
)
from autolabel.formats.polygons import DEFAULT_TOLERANCE, mask_to_polygons, polygons_bbox, polygons_to_mask
from autolabel.review.corrections import (
    MOVE_TOLERANCE,
    CorrectionSummary,
    ReviewedBox,
    correct_images,
    label_id_map,
)
from autolabel.types import Detection, ImageAnnotations

if TYPE_CHECKING:  # pragma: no cover
    from autolabel.store import RunStore

log = logging.getLogger(__name__)

SOURCE = "labelstudio"
"""Revision source name: revisions are stored as ``revisions/NNN-labelstudio.jsonl``."""

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
_LABEL_KEYS = ("rectanglelabels", "polygonlabels", "labels")
REVIEWED_TAGS = frozenset({"ok"})
"""Tags given to every box of a submitted annotation (``autolabel.review.corrections.OK``)."""




# -- task -> image ----------------------------------------------------------------------------


class ImageMatcher:
    """Maps a task's image URL to one of the run's relative image paths (see the module docstring)."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = sorted(set(paths))
        self._by_parts = {tuple(PurePosixPath(p).parts): p for p in self.paths}
        self._depth = max((len(k) for k in self._by_parts), default=0)
        by_name: dict[str, list[str]] = {}
        for p in self.paths:
            by_name.setdefault(PurePosixPath(p).name, []).append(p)
        self._unique_names = {n: ps[0] for n, ps in by_name.items() if len(ps) == 1}

    def match(self, url: str) -> str | None:
        """The run path ``url`` shows, or ``None``."""
        rel = url_to_relpath(url)
        parts = tuple(p for p in PurePosixPath(rel).parts if p not in ("", "."))
        if not parts:
            return None
        for n in range(min(len(parts), self._depth), 0, -1):
            hit = self._by_parts.get(parts[-n:])
            if hit is not None:
                return hit
        name = parts[-1]
        hit = self._unique_names.get(name)
        if hit is None and _UPLOAD_PREFIX.match(name):
            hit = self._unique_names.get(_UPLOAD_PREFIX.sub("", name, count=1))
        return hit


# -- regions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """One box of an annotation, merged over the result items that share its id.

    Attributes:
        key: Label Studio's region id (``None`` if the item had none).
        value: the rectangle's ``value`` (percent, top-left corner) or the polygon's (``points``
            in percent).
        label: first label of ``rectanglelabels``/``polygonlabels``/``labels``, ``None`` if none.
        labels: every label given (more than one is reported as a warning).
    """

    key: str | None
    value: Mapping[str, Any]
    label: str | None
    labels: tuple[str, ...] = ()

    @property
    def is_polygon(self) -> bool:
        """True for a polygon (``value.points``), False for a rectangle."""
        return "points" in self.value


def regions_of(result: Sequence[Mapping[str, Any]], from_name: str | None = None) -> tuple[list[Region], int]:
    """The rectangles and polygons in an annotation's ``result``; returns ``(regions, n_ignored_items)``.

    Items without geometry (choices, text areas, relations) or from another control than
    ``from_name`` (when given) are ignored and counted.
    """
    order: list[str | None] = []
    merged: dict[str | None, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    ignored = 0
    for item in result:
        if not isinstance(item, Mapping):
            ignored += 1
            continue
        value = item.get("value")
        if from_name is not None and item.get("from_name") != from_name:
            ignored += 1
            continue
        if not isinstance(value, Mapping):
            ignored += 1
            continue
        has_geometry = all(k in value for k in ("x", "y", "width", "height")) or isinstance(value.get("points"), list)
        labels = next((value[k] for k in _LABEL_KEYS if k in value), None)
        if not has_geometry and labels is None:
            ignored += 1
            continue
        key = item.get("id")
        slot: dict[str, Any]
        if key is None:
            slot = {"value": None, "labels": None}
            anonymous.append(slot)
        else:
            key = str(key)
            if key not in merged:
                merged[key] = {"value": None, "labels": None}
                order.append(key)
            slot = merged[key]
        if has_geometry and slot["value"] is None:
            slot["value"] = value
        if labels is not None and slot["labels"] is None:
            slot["labels"] = labels
    out: list[Region] = []
    for key, slot in [(k, merged[k]) for k in order] + [(None, s) for s in anonymous]:
        if slot["value"] is None:
            ignored += 1
            continue
        raw = slot["labels"]
        labels = tuple(str(x) for x in raw) if isinstance(raw, (list, tuple)) else ((str(raw),) if raw else ())
        out.append(Region(key=key, value=slot["value"], label=labels[0] if labels else None, labels=labels))
    return out, ignored


# -- annotations -----------------------------------------------------------------------------


def _when(ann: Mapping[str, Any], key: str) -> float:
    raw = ann.get(key)
    if not isinstance(raw, str) or not raw:
        return float("-inf")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("-inf")


def annotation_rank(ann: Mapping[str, Any]) -> tuple[float, float, float]:
    """Sort key of an annotation: ``updated_at``, then ``created_at``, then its id (newest last)."""
    ident = ann.get("id")
    return (_when(ann, "updated_at"), _when(ann, "created_at"), _number(ident))


def _short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters (ids in messages can be absurdly long)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(value: Any) -> float:
    """An id as a sortable float: huge ints (an id of 10**400) saturate instead of overflowing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return float("-inf")
    try:
        v = float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")
    return v if math.isfinite(v) else float("-inf")


def latest_annotation(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The task's most recent annotation that was not cancelled, or ``None``."""
    raw = task.get("annotations")
    raw = [] if raw is None else raw
    if not isinstance(raw, (list, tuple)):
        raise InputError(f"task {_short(task.get('id'))}: 'annotations' must be a list, got {type(raw).__name__}")
    anns = [a for a in raw if isinstance(a, Mapping) and not a.get("was_cancelled")]
    return max(anns, key=annotation_rank) if anns else None


# -- the whole export ------------------------------------------------------------------------


@dataclass
class TaskStats:
    """Counts of what an export held (mutable: :func:`parse_export` counts into it).

    Attributes:
        tasks: tasks in the export; tasks_annotated: with an annotation that decides the image;
        tasks_unannotated: no annotation (predictions kept); tasks_cancelled: only skipped
            annotations (predictions kept); tasks_unmatched: no run image; tasks_duplicate: a
            second task for an image already seen (the newer annotation wins).
        regions: rectangles read; regions_matched: to our detection ids; regions_new: drawn;
            regions_rotated: rotated (replaced by the axis-aligned box around them).
        items_ignored: result items that are not rectangles (or of another control).
    """

    tasks: int = 0
    tasks_annotated: int = 0
    tasks_unannotated: int = 0
    tasks_cancelled: int = 0
    tasks_unmatched: int = 0
    tasks_duplicate: int = 0
    regions: int = 0
    regions_matched: int = 0
    regions_new: int = 0
    regions_rotated: int = 0
    items_ignored: int = 0

    def to_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in STAT_KEYS}


STAT_KEYS = tuple(TaskStats.__dataclass_fields__)
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

    reviews: dict[str, list["ReviewedBox"]] = field(default_factory=dict)
    stats: TaskStats = field(default_factory=TaskStats)
    annotation_ids: dict[str, Any] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)


def _task_run_path(task: Mapping[str, Any], base: Mapping[str, ImageAnnotations]) -> str | None:
    """``data.path`` when our exporter wrote it and it names an image of the run."""
    data = task.get("data")
    path = data.get("path") if isinstance(data, Mapping) else None
    return path if isinstance(path, str) and path in base else None


def _task_image_url(task: Mapping[str, Any], image_key: str | None) -> str | None:
    data = task.get("data")
    if not isinstance(data, Mapping):
        return None
    if image_key is not None:
        v = data.get(image_key)
        return v if isinstance(v, str) else None
    if isinstance(data.get("image"), str):
        return data["image"]
    strings = [v for v in data.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


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
        polygon_tolerance: the exporter's ``polygon_tolerance``: a detection's polygon that is
            still what the export wrote at this tolerance leaves its mask unchanged.

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
        url = _task_image_url(task, image_key)
        path = _task_run_path(task, base)
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
            raise InputError(f"{source_name}: task {_short(task.get('id'))}, annotation {_short(ann.get('id'))}: "
                             f"'result' must be a list, got {type(result).__name__}")
        regions, ignored = regions_of(result, from_name)
        stats.items_ignored += ignored
        boxes: list[ReviewedBox] = []
        dets = {d.id: d for d in img.detections}
        for group in _polygon_groups([r for r in regions if r.is_polygon], by_id):
            stats.regions += 1
            rb = _polygon_box(group, dets, img, polygon_tolerance, f"{source_name}: {path}")
            if rb is None:
                continue
            stats.regions_matched += rb.id is not None
            stats.regions_new += rb.id is None
            boxes.append(rb)
        for r in regions:
            if r.is_polygon:
                continue
            stats.regions += 1
            try:
                box, rotated = percent_to_box(r.value, img.width, img.height)
            except ValueError as e:
                log.warning("%s: task %s, region %s: %s; dropped", source_name, task.get("id"), r.key, e)
                continue
            if rotated:
                stats.regions_rotated += 1
                log.warning("%s: %s region %s is rotated; using the axis-aligned box around it", source_name, path, r.key)
            if len(r.labels) > 1:
                log.warning("%s: %s region %s has %d labels; using the first, %r", source_name, path, r.key, len(r.labels), r.label)
            det_id = by_id.get(r.key) if r.key is not None else None
            if det_id is None and r.key is not None:
                det_id = by_id.get(clean_region_id(r.key))
            if det_id is not None:
                stats.regions_matched += 1
            else:
                stats.regions_new += 1
            # a submitted annotation is a person's verdict on every box left on the image
            boxes.append(ReviewedBox(id=det_id, box=box, label=r.label, tags=REVIEWED_TAGS, key=r.key))
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


def _polygon_owner(key: str | None, by_id: Mapping[str | None, str]) -> tuple[str | None, int]:
    """``(detection id, 0-based part)`` of a polygon region id; ``(None, 0)`` for a drawn polygon."""
    for k in dict.fromkeys((key, clean_region_id(key))):
        if k is None:
            continue
        if k in by_id:
            return by_id[k], 0
        base, part = split_part_region_id(k)
        if part and base in by_id:
            return by_id[base], part
    return None, 0


def _polygon_groups(regions: Sequence[Region], by_id: Mapping[str | None, str]) -> list[tuple[str | None, list[Region]]]:
    """Polygon regions grouped by the detection they belong to, ``(detection id, parts by part
    number)`` in first-seen order; each polygon of no detection is a group of its own (``None``)."""
    order: list[str | None] = []
    groups: dict[str, list[tuple[int, Region]]] = {}
    drawn: list[Region] = []
    for r in regions:
        det_id, part = _polygon_owner(r.key, by_id)
        if det_id is None:
            order.append(None)
            drawn.append(r)
            continue
        if det_id not in groups:
            groups[det_id] = []
            order.append(det_id)
        groups[det_id].append((part, r))
    out: list[tuple[str | None, list[Region]]] = []
    drawn_iter = iter(drawn)
    for det_id in order:
        if det_id is None:
            out.append((None, [next(drawn_iter)]))
        else:
            out.append((det_id, [r for _, r in sorted(groups[det_id], key=lambda pr: pr[0])]))
    return out


def _polygon_box(group: tuple[str | None, list[Region]], dets: Mapping[str, Detection], img: ImageAnnotations,
                 tolerance: float, where: str) -> ReviewedBox | None:
    """One reviewed box from a detection's polygon parts (see the module docstring)."""
    det_id, parts = group
    key = parts[0].key
    try:
        polys = [points_to_pixels(r.value["points"], img.width, img.height) for r in parts]
    except ValueError as e:
        log.warning("%s: polygon %s: %s; dropped", where, key, e)
        return None
    labels = [r.label for r in parts if r.label]
    if len(set(labels)) > 1:
        log.warning("%s: the parts of %s have different labels %s; using the first, %r", where, det_id, labels, labels[0])
    label = labels[0] if labels else None
    det = dets.get(det_id) if det_id is not None else None
    if det is not None and det.mask is not None and _same_polygons(polys, mask_to_polygons(det.mask, tolerance)):
        return ReviewedBox(id=det_id, box=det.box, label=label, tags=REVIEWED_TAGS, key=key)
    m = polygons_to_mask(polys, img.height, img.width)
    box = masks.bbox(m)
    if box is None:
        log.warning("%s: polygon %s covers no pixel centre; kept as its bounding box without a mask", where, key)
        return ReviewedBox(id=det_id, box=polygons_bbox(polys), label=label, tags=REVIEWED_TAGS, key=key)
    return ReviewedBox(id=det_id, box=box, label=label, tags=REVIEWED_TAGS, key=key, mask=masks.encode(m))


def _same_polygons(got: Sequence[Sequence[tuple[float, float]]], wrote: Sequence[Any]) -> bool:
    """True if ``got`` has the polygons of ``wrote``, vertex by vertex within MOVE_TOLERANCE px."""
    if len(got) != len(wrote):
        return False
    for a, b in zip(got, wrote):
        if len(a) != len(b):
            return False
        if any(abs(pa[0] - pb[0]) > MOVE_TOLERANCE or abs(pa[1] - pb[1]) > MOVE_TOLERANCE for pa, pb in zip(a, b)):
            return False
    return True


def load_export(path: str | Path) -> list[Mapping[str, Any]]:
    """Read a Label Studio JSON export; :class:`InputError` naming the file if it is not one."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"Label Studio export {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read Label Studio export {p}: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{p} is not JSON ({e.msg} at line {e.lineno}); export the project with the 'JSON' format") from None
    except RecursionError:
        raise InputError(f"{p}: JSON nested too deeply to be a Label Studio export") from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise InputError(f"{p}: {str(e)[:120]}") from None
    if isinstance(data, Mapping) and "data" in data:
        data = [data]  # a single task
    if not isinstance(data, list):
        raise InputError(f"{p}: expected a JSON list of Label Studio tasks, got a {type(data).__name__}")
    return data


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
    store: "RunStore",
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
        polygon_tolerance: the ``polygon_tolerance`` the tasks were exported with (see
            :func:`parse_export`).

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
