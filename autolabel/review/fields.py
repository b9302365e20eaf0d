"""Our detections as FiftyOne values and back, and the App's label schema (no FiftyOne import).

FiftyOne boxes are ``[x, y, w, h]`` relative to the image size; ours are pixel
``(x1, y1, x2, y2)``. Both use the displayed (EXIF-transposed) size stored in the run.

Masks: ours are COCO RLE over the whole image; a FiftyOne detection's ``mask`` is a 2-D bool
array covering its bounding box only (the App stretches it over the box). :func:`fo_mask` cuts
ours to the box (rounded outwards to whole pixels); an automatic box is its mask's bounds, so
nothing is lost.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from autolabel.geometry import iou, relative_to_xyxy, xyxy_to_relative
from autolabel.masks import crop
from autolabel.review.corrections import ReviewedBox
from autolabel.types import Detection

FIELD = "predictions"
"""The sample field that holds the boxes."""
OVERLAP_IOU = 0.5
"""Two boxes of one image with at least this IoU count as an overlapping pair."""

ATTRIBUTES: dict[str, str] = {
    "autolabel_id": "str",
    "objectness": "float",
    "label_id": "str",
    "topk": "list<str>",
    "topk_scores": "list<float>",
    "source": "str",
    "max_iou": "float",
}
"""Attributes on each detection besides label / bounding_box / confidence / tags: name -> field type."""


def overlaps(detections: Sequence[Detection], threshold: float = OVERLAP_IOU) -> tuple[list[float], int]:
    """Each box's highest IoU with another box of the image, and the number of pairs >= ``threshold``."""
    best = [0.0] * len(detections)
    pairs = 0
    for i, a in enumerate(detections):
        for j in range(i + 1, len(detections)):
            v = iou(a.box, detections[j].box)
            best[i] = max(best[i], v)
            best[j] = max(best[j], v)
            pairs += v >= threshold
    return best, pairs


def fo_mask(mask: Any, box: Sequence[float]) -> np.ndarray | None:
    """A detection's RLE ``mask`` as FiftyOne holds it: the bool ``(rows, cols)`` part inside
    pixel ``box`` (rounded outwards); None without a mask or when the box holds no pixel."""
    if mask is None:
        return None
    m = crop(mask, tuple(box))  # type: ignore[arg-type]
    return m if m.size else None


def detection_fields(det: Detection, width: int, height: int, max_iou: float = 0.0) -> dict[str, Any]:
    """The keyword arguments of the ``fo.Detection`` that shows ``det`` (tag ``ok`` if reviewed;
    ``mask`` only when the detection has one)."""
    extra: dict[str, Any] = {}
    mask = fo_mask(det.mask, det.box)
    if mask is not None:
        extra["mask"] = mask
    return {
        "label": det.label,
        "bounding_box": list(xyxy_to_relative(det.box, width, height)),
        "confidence": det.score,
        "tags": ["ok"] if det.reviewed else [],
        "autolabel_id": det.id,
        "objectness": det.objectness,
        "label_id": det.label_id,
        "topk": [a.label for a in det.topk],
        "topk_scores": [a.score for a in det.topk],
        "source": det.source,
        "max_iou": round(max_iou, 6),
        **extra,
    }


def reviewed_box(
    label: str | None,
    bounding_box: Sequence[float] | None,
    tags: Iterable[str] | None,
    autolabel_id: str | None,
    width: int,
    height: int,
    key: str | None = None,
) -> ReviewedBox | None:
    """A FiftyOne detection's values as a :class:`ReviewedBox` (``None`` if it has no box)."""
    if bounding_box is None or len(bounding_box) != 4:
        return None
    return ReviewedBox(
        id=autolabel_id or None,
        box=relative_to_xyxy(bounding_box, width, height),
        label=label or None,
        tags=frozenset(tags or ()),
        key=key,
    )


def label_schema(classes: Sequence[str]) -> dict[str, Any]:
    """The App's annotation schema for :data:`FIELD`.

    Labels come from ``classes`` (a dropdown); boxes can be moved, drawn and deleted; tags are
    two checkboxes, ``ok`` and ``reject``; every score and id is read-only.
    """
    attributes: list[dict[str, Any]] = [
        {"name": "id", "type": "id", "component": "text", "read_only": True},
        {"name": "confidence", "type": "float", "component": "text", "read_only": True},
        {"name": "tags", "type": "list<str>", "component": "checkboxes", "values": ["ok", "reject"]},
    ]
    attributes += [{"name": n, "type": t, "component": "text", "read_only": True} for n, t in ATTRIBUTES.items()]
    schema: dict[str, Any] = {"type": "detections", "attributes": attributes}
    if classes:
        schema.update(component="dropdown", classes=list(classes))
    else:
        schema["component"] = "text"
    return schema
