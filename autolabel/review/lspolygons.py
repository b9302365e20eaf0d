"""A Label Studio polygon region as the box and mask a reviewer left (pure; no file is written here).

* **Polygons -> masks.** ``polygonlabels`` regions (``value.points``, percent) are read too. The
  parts of one detection (region ids ``<id>``, ``<id>_p2``, ...; see
  :func:`~autolabel.formats.labelstudio.part_region_id`) make one box. A polygon whose every
  vertex is within :data:`~autolabel.review.corrections.MOVE_TOLERANCE` px of what the export
  wrote for the detection's mask (at ``polygon_tolerance``) is *unchanged*: the detection keeps
  its box and exact mask. Any other polygon (edited, or drawn) is rasterised (pixel centres
  inside, :func:`~autolabel.formats.polygons.polygons_to_mask`) into the box's new mask, and the
  box becomes the mask's bounds (the polygon's bounds if it covers no pixel centre; then there
  is no mask).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from autolabel import masks
from autolabel.formats.labelstudio import clean_region_id, points_to_pixels, split_part_region_id
from autolabel.formats.polygons import mask_to_polygons, polygons_bbox, polygons_to_mask
from autolabel.review.corrections import MOVE_TOLERANCE, ReviewedBox
from autolabel.review.lstasks import Region
from autolabel.types import Detection, ImageAnnotations

log = logging.getLogger(__name__)

REVIEWED_TAGS = frozenset({"ok"})
"""Tags given to every box of a submitted annotation (``autolabel.review.corrections.OK``)."""


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


def polygon_box(group: tuple[str | None, list[Region]], dets: Mapping[str, Detection], img: ImageAnnotations,
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
