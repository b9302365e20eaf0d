"""An annotation's Label Studio regions as the boxes (and masks) a reviewer left (pure; no file
is written here).

* **Region -> detection.** A region whose id is the region id our exporter gave one of the
  image's detections is that detection (ids are also compared up to Label Studio's ``#suffix``;
  a polygon part ``<id>_p2``, ... belongs to ``<id>``, see
  :func:`~autolabel.formats.labelstudio.part_region_id`). Any other region was drawn.
* **Rectangles** (``x``, ``y``, ``width``, ``height`` in percent): the pixel box
  (:func:`~autolabel.formats.labelstudio.percent_to_box`); a rotated one becomes the
  axis-aligned box around it, with a warning.
* **Polygons** (``points`` in percent). The parts of one detection make one box. A detection's
  polygons that are still what an export wrote for its mask are *unchanged*: the detection keeps
  its box and exact mask, *whatever* ``polygon_tolerance`` the export used (see
  :func:`polygons_unchanged`). Any other polygon (edited, or drawn) is rasterised (pixel centres
  inside, :func:`~autolabel.formats.polygons.polygons_to_mask`) into the box's new mask, and the
  box becomes the mask's bounds (the polygon's bounds if it covers no pixel centre; then there
  is no mask).
* **Brushes** (``rle``, Label Studio's own RLE, :mod:`autolabel.review.lsbrush`): the mask as
  painted; the box is its bounds. A detection's brush that paints exactly its mask is unchanged.
* **Limits.** A polygon region with more than :data:`MAX_POLYGON_VERTICES` vertices is not read.
  Rasterising costs one step per (edge, pixel row) crossing: an annotation's changed polygons
  may cross the rows :data:`MAX_ROW_CROSSINGS` times in all (an object's outline crosses each
  row it spans about twice); a polygon past what is left is not read.
* **A region that cannot be read** (shape missing, not numbers, NaN, fewer than 3 points, a
  brush RLE of another image size, over a limit) is never taken for a deletion: the
  detection it belongs to is kept as it was (not marked reviewed), a drawn one is dropped, each
  with a one-line warning naming the task and region. Only a detection that has no region
  left in the annotation is rejected.
* **Labels.** The first label of a region (of the first part that has one, for a polygon).
  A label holding a control character (see :func:`autolabel.names.class_name_problem`) is
  refused with a one-line warning: the detection keeps its old label; a drawn box without a
  usable label is dropped by the corrections.

Every box of a submitted annotation that was read is tagged ``ok`` (reviewed). Messages quote
at most :data:`~autolabel.yamlio.EXCERPT_CHARS` characters of a value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from autolabel import masks
from autolabel.formats.labelstudio import clean_region_id, percent_to_box, points_to_pixels, split_part_region_id
from autolabel.formats.polygons import mask_to_polygons, polygons_bbox, polygons_to_mask
from autolabel.names import class_name_problem
from autolabel.review.corrections import MOVE_TOLERANCE, ReviewedBox
from autolabel.review.lsbrush import brush_mask
from autolabel.review.lstasks import Region, short
from autolabel.types import Detection, ImageAnnotations
from autolabel.yamlio import excerpt

log = logging.getLogger(__name__)

REVIEWED_TAGS = frozenset({"ok"})
"""Tags given to every box of a submitted annotation (``autolabel.review.corrections.OK``)."""

MAX_POLYGON_VERTICES = 20_000
"""Most vertices a polygon region may have to be read (a tolerance-0 outline of a 5,000 x 5,000
px object has about as many)."""

MAX_ROW_CROSSINGS = 2_000_000
"""Most (edge, pixel row) crossings rasterised per annotation: a few seconds of work."""

_SNAP = 0.25
"""A received vertex is a traced contour vertex when it is this close (px); those lie 0.5 px apart."""


class Unreadable(ValueError):
    """A region's shape cannot be read (the message says why, in a few words)."""


@dataclass
class ShapeCounts:
    """What :func:`region_boxes` read (mutable: it counts into it; part of
    :class:`~autolabel.review.labelstudio.TaskStats`).

    Attributes:
        regions: boxes read or tried (a detection's polygon parts count once); regions_matched:
            of our detections; regions_new: drawn; regions_rotated: rotated rectangles;
            regions_unreadable: shapes that could not be read (detection kept / drawn one
            dropped); labels_refused: labels with a control character.
    """

    regions: int = 0
    regions_matched: int = 0
    regions_new: int = 0
    regions_rotated: int = 0
    regions_unreadable: int = 0
    labels_refused: int = 0


@dataclass
class _Context:
    img: ImageAnnotations
    dets: Mapping[str, Detection]
    tolerance: float
    where: str
    crossings_left: int
    counts: ShapeCounts


def region_boxes(
    regions: Sequence[Region],
    img: ImageAnnotations,
    by_id: Mapping[str | None, str],
    *,
    tolerance: float,
    where: str,
    counts: ShapeCounts,
) -> list[ReviewedBox]:
    """The reviewed boxes of one annotation's regions (see the module docstring).

    Args:
        regions: the annotation's regions (:func:`~autolabel.review.lstasks.regions_of`).
        img: the image as exported (detection ids, boxes, masks; displayed ``W x H`` in px).
        by_id: Label Studio region id (and its forms) -> detection id.
        tolerance: the ``polygon_tolerance`` the export most likely used (px; tried first).
        where: prefix of warnings, e.g. ``"export.json: task 7"``.
        counts: what was read is added to it (in place).

    Returns:
        the boxes: polygons first (grouped per detection), then brushes and rectangles in
        annotation order.
    """
    ctx = _Context(img=img, dets={d.id: d for d in img.detections}, tolerance=tolerance, where=where,
                   crossings_left=MAX_ROW_CROSSINGS, counts=counts)
    groups = polygon_groups([r for r in regions if r.kind == "polygon"], by_id)
    groups += [(_owner(r.key, by_id), [r]) for r in regions if r.kind != "polygon"]
    boxes = []
    for det_id, parts in groups:
        rb = _read_group(ctx, det_id, parts)
        if rb is not None:
            boxes.append(rb)
    return boxes


def _owner(key: str | None, by_id: Mapping[str | None, str]) -> str | None:
    if key is None:
        return None
    return by_id.get(key) or by_id.get(clean_region_id(key))


def _read_group(ctx: _Context, det_id: str | None, parts: list[Region]) -> ReviewedBox | None:
    counts, img = ctx.counts, ctx.img
    counts.regions += 1
    key = parts[0].key
    name = f"{ctx.where}, region {short(key)}"
    label = _label(ctx, parts, name)
    det = ctx.dets.get(det_id) if det_id is not None else None
    kind = parts[0].kind
    try:
        if kind == "rectangle":
            try:
                box, rotated = percent_to_box(parts[0].value, img.width, img.height)
            except ValueError as e:
                raise Unreadable(str(e)) from None
            if rotated:
                counts.regions_rotated += 1
                log.warning("%s is rotated; using the axis-aligned box around it", name)
            rb = ReviewedBox(id=det_id, box=box, label=label, tags=REVIEWED_TAGS, key=key)
        elif kind == "brush":
            rb = _brush_box(ctx, det_id, det, parts[0], label, name)
        else:
            rb = _polygon_box(ctx, det_id, det, parts, label, name)
    except Unreadable as e:
        counts.regions_unreadable += 1
        if det is None:
            log.warning("%s: %s; this drawn %s is dropped", name, e, kind)
            return None
        log.warning("%s: %s; detection %s is kept as it was", name, e, short(det.id))
        return ReviewedBox(id=det.id, box=det.box, label=None, key=key)
    counts.regions_matched += det_id is not None
    counts.regions_new += det_id is None
    return rb


def _label(ctx: _Context, parts: Sequence[Region], name: str) -> str | None:
    """The group's label: the first part's first label; ``None`` (warned) when it holds a control character."""
    labels = [r.label for r in parts if r.label]
    if len(parts) == 1 and len(parts[0].labels) > 1:
        log.warning("%s has %d labels; using the first, %s", name, len(parts[0].labels), excerpt(parts[0].label))
    elif len(set(labels)) > 1:
        log.warning("%s: its parts have different labels %s; using the first", name, excerpt(labels))
    label = labels[0] if labels else None
    if label is not None and class_name_problem(label) is not None:
        ctx.counts.labels_refused += 1
        log.warning("%s: label %s holds a control character; label ignored", name, excerpt(label))
        return None
    return label


# -- brushes ---------------------------------------------------------------------------------


def _brush_box(ctx: _Context, det_id: str | None, det: Detection | None, region: Region, label: str | None,
               name: str) -> ReviewedBox:
    img = ctx.img
    try:
        m = brush_mask(region.value, img.width, img.height)
    except ValueError as e:
        raise Unreadable(str(e)) from None
    if det is not None and det.mask is not None and np.array_equal(m, masks.decode(det.mask)):
        return ReviewedBox(id=det_id, box=det.box, label=label, tags=REVIEWED_TAGS, key=region.key)
    box = masks.bbox(m)
    if box is None:
        raise Unreadable("the brush paints no pixel")
    return ReviewedBox(id=det_id, box=box, label=label, tags=REVIEWED_TAGS, key=region.key, mask=masks.encode(m))


# -- polygons --------------------------------------------------------------------------------


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


def polygon_groups(regions: Sequence[Region], by_id: Mapping[str | None, str]) -> list[tuple[str | None, list[Region]]]:
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


def polygon_pixels(points: Any, width: int, height: int) -> np.ndarray:
    """A polygon region's ``points`` (percent) as ``(N, 2)`` float64 ``(x, y)`` pixels.

    Raises:
        Unreadable: not a list of at least 3 finite ``[x, y]`` pairs, or more than
            :data:`MAX_POLYGON_VERTICES` of them (messages quote a short excerpt).
    """
    if not isinstance(points, (list, tuple)):
        raise Unreadable(f"polygon points must be a list of [x, y] in percent, got {type(points).__name__} {excerpt(points)}")
    if len(points) > MAX_POLYGON_VERTICES:
        raise Unreadable(f"the polygon has {len(points)} vertices, more than the {MAX_POLYGON_VERTICES} an import reads")
    try:
        return np.asarray(points_to_pixels(points, width, height), dtype=np.float64).reshape(-1, 2)
    except ValueError:
        raise Unreadable(f"a polygon needs at least 3 finite [x, y] points in percent, got {excerpt(points)}") from None


def row_crossings(polygons: Sequence[np.ndarray], height: int) -> int:
    """How many (edge, pixel row) crossings rasterising ``polygons`` visits: per edge, the pixel
    rows of the image whose centre ``y = i + 0.5`` lies between its ends."""
    total = 0
    for p in polygons:
        y = np.clip(p[:, 1], 0.0, float(height))
        rows = np.floor(y - 0.5)
        total += int(np.abs(rows - np.roll(rows, -1)).sum())
    return total


def _polygon_box(ctx: _Context, det_id: str | None, det: Detection | None, parts: Sequence[Region],
                 label: str | None, name: str) -> ReviewedBox:
    img, key = ctx.img, parts[0].key
    polys = [polygon_pixels(r.value.get("points"), img.width, img.height) for r in parts]
    if det is not None and det.mask is not None and polygons_unchanged(polys, det.mask, ctx.tolerance):
        return ReviewedBox(id=det_id, box=det.box, label=label, tags=REVIEWED_TAGS, key=key)
    cost = row_crossings(polys, img.height)
    if cost > ctx.crossings_left:
        raise Unreadable(f"its outline crosses the pixel rows {cost} times, more than the {ctx.crossings_left} left "
                         f"of the {MAX_ROW_CROSSINGS} an import rasterises per annotation")
    ctx.crossings_left -= cost
    m = polygons_to_mask(polys, img.height, img.width)
    box = masks.bbox(m)
    if box is None:
        log.warning("%s: the polygon covers no pixel centre; kept as its bounding box without a mask", name)
        return ReviewedBox(id=det_id, box=polygons_bbox(polys), label=label, tags=REVIEWED_TAGS, key=key)
    return ReviewedBox(id=det_id, box=box, label=label, tags=REVIEWED_TAGS, key=key, mask=masks.encode(m))


# -- unchanged polygons, whatever the export's tolerance ----------------------------------------


def polygons_unchanged(got: Sequence[np.ndarray], mask: Mapping[str, Any], tolerance: float) -> bool:
    """True if ``got`` (pixel polygons, one per part) is what an export wrote for ``mask`` at
    *some* ``polygon_tolerance``, vertex by vertex within MOVE_TOLERANCE px.

    :func:`~autolabel.formats.polygons.mask_to_polygons` at tolerance ``t`` keeps a subsequence
    of each part's full outline (its tolerance-0 trace) chosen by Douglas-Peucker. So: try
    ``tolerance`` first; else snap each received vertex to the full outline (it must be a
    subsequence of it, starting where the trace starts), take ``d`` = the largest distance of a
    dropped outline vertex from the received segment spanning it, and compare with the export at
    ``t = d`` (Douglas-Peucker at any ``t`` with ``d <= t`` below every kept vertex's distance
    gives the same polygon), at 0 and with the fallback of parts too small to simplify. A reviewer's
    edit (a moved, added or deleted vertex) is not such a polygon.
    """
    if _same_polygons(got, mask_to_polygons(mask, tolerance)):
        return True
    full = mask_to_polygons(mask, 0.0)
    if len(full) != len(got):
        return False
    spans = []
    for g in got:
        d = next((d for d in (_dropped_distance(g, f) for f in full) if d is not None), None)
        if d is None:
            return False
        spans.append(d)
    t = max(spans)
    t = t * (1 + 1e-9) + 1e-9  # at or just above the farthest dropped vertex, far below the next kept one
    pool = full + mask_to_polygons(mask, t) + mask_to_polygons(mask, float(1 << 30))
    return all(any(_same_polygon(g, p) for p in pool) for g in got)


def _dropped_distance(got: np.ndarray, outline: np.ndarray) -> float | None:
    """If ``got`` is a subsequence of ``outline`` starting at its first vertex (within ``_SNAP``
    px), the largest distance of a skipped outline vertex from the ``got`` segment spanning it
    (0 when none is skipped); else None."""
    if len(got) > len(outline) or np.abs(got[0] - outline[0]).max() > _SNAP:
        return None
    index: dict[tuple[int, int], list[int]] = {}
    for j, (x, y) in enumerate(np.rint(outline * 2).astype(np.int64).tolist()):
        index.setdefault((x, y), []).append(j)
    snapped = np.rint(got * 2)
    if np.abs(snapped / 2 - got).max() > _SNAP:
        return None
    idx = [0]
    for x, y in snapped[1:].astype(np.int64).tolist():
        nxt = next((j for j in index.get((x, y), ()) if j > idx[-1]), None)
        if nxt is None:
            return None
        idx.append(nxt)
    ends = np.asarray(idx + [len(outline)])
    closed = np.concatenate([outline, outline[:1]])
    seg = np.searchsorted(ends, np.arange(len(outline)), side="right") - 1  # segment of each outline vertex
    a, b = closed[ends[seg]], closed[ends[seg + 1]]
    return float(_point_segment_distance(outline, a, b).max())


def _point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (px) of each point ``p[i]`` from the segment ``a[i] -> b[i]`` (all ``(N, 2)``)."""
    ab = b - a
    length2 = (ab * ab).sum(1)
    t = np.clip(((p - a) * ab).sum(1) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    return np.hypot(*(p - (a + t[:, None] * ab)).T)


def _same_polygon(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) == len(b) and bool((np.abs(np.asarray(a) - np.asarray(b)) <= MOVE_TOLERANCE).all())


def _same_polygons(got: Sequence[np.ndarray], wrote: Sequence[np.ndarray]) -> bool:
    """True if ``got`` has the polygons of ``wrote``, in order, vertex by vertex within MOVE_TOLERANCE px."""
    return len(got) == len(wrote) and all(_same_polygon(a, b) for a, b in zip(got, wrote))
