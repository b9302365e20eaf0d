"""Every box computation in one place: IoU, containment, NMS, conversions, clipping.

Conventions (the run's, see :mod:`autolabel.types`): a box is ``(x1, y1, x2, y2)`` floats,
origin at the top-left corner of the top-left pixel, ``x2``/``y2`` exclusive, so a box that
touches the right border has ``x2 == width``. Grid boxes (discovery) use the same convention in
patch units.

Batched functions take and return ``torch.Tensor`` so that they run on whichever device the
boxes live on; IoU and NMS are ``torchvision.ops``. Scalar helpers for single boxes take and
return plain tuples of floats (what the exporters and importers handle).

Formats of a single box:

=============  ==============================================  ==================================
name           values                                          used by
=============  ==============================================  ==================================
xyxy           ``x1, y1, x2, y2`` pixels                        the run, CVAT, VOC (after origin)
xywh           ``x, y, w, h`` pixels, top-left corner          COCO ``bbox``
relative       ``x, y, w, h`` in ``[0, 1]`` of the image size  FiftyOne ``bounding_box``
percent        ``x, y, width, height`` in ``[0, 100]``         Label Studio ``value``
yolo           ``xc, yc, w, h`` in ``[0, 1]``, centre-based    YOLO label lines
=============  ==============================================  ==================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

from autolabel.types import Box

if TYPE_CHECKING:  # the tensor functions import torch when called: single-box math (and the
    import torch  # refinement workers, autolabel.pipeline.refine) run without loading it

# --------------------------------------------------------------------------------------------
# single boxes


def clip_box(box: Iterable[float], width: float, height: float) -> Box:
    """Clamp ``box`` (x1, y1, x2, y2 px) to ``[0, width] x [0, height]``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (
        min(max(x1, 0.0), float(width)),
        min(max(y1, 0.0), float(height)),
        min(max(x2, 0.0), float(width)),
        min(max(y2, 0.0), float(height)),
    )


def box_area(box: Sequence[float]) -> float:
    """Area of an ``(x1, y1, x2, y2)`` box in squared units; 0 for an empty or inverted box."""
    return max(0.0, float(box[2]) - float(box[0])) * max(0.0, float(box[3]) - float(box[1]))


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes (0 when disjoint or empty)."""
    iw = min(float(a[2]), float(b[2])) - max(float(a[0]), float(b[0]))
    ih = min(float(a[3]), float(b[3])) - max(float(a[1]), float(b[1]))
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def xyxy_to_xywh(box: Sequence[float]) -> Box:
    """``(x1, y1, x2, y2)`` -> ``(x, y, w, h)``, same unit (COCO ``bbox``)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (x1, y1, x2 - x1, y2 - y1)


def xywh_to_xyxy(box: Sequence[float]) -> Box:
    """``(x, y, w, h)`` -> ``(x1, y1, x2, y2)``, same unit."""
    x, y, w, h = (float(v) for v in box)
    return (x, y, x + w, y + h)


def xyxy_to_relative(box: Sequence[float], width: float, height: float) -> Box:
    """Pixel ``(x1, y1, x2, y2)`` -> ``(x, y, w, h)`` as fractions of the image (FiftyOne)."""
    x, y, w, h = xyxy_to_xywh(box)
    return (x / width, y / height, w / width, h / height)


def relative_to_xyxy(box: Sequence[float], width: float, height: float) -> Box:
    """Relative ``(x, y, w, h)`` -> pixel ``(x1, y1, x2, y2)`` (not clipped)."""
    x, y, w, h = (float(v) for v in box)
    return (x * width, y * height, (x + w) * width, (y + h) * height)


def xyxy_to_percent(box: Sequence[float], width: float, height: float) -> Box:
    """Pixel ``(x1, y1, x2, y2)`` -> ``(x, y, width, height)`` in percent of the image (Label Studio).

    ``x, y`` is the top-left corner, not the centre. Computed as ``100 * x1 / width`` (the
    order Label Studio exports have always been written with, so output stays byte-stable).
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    return (100.0 * x1 / width, 100.0 * y1 / height, 100.0 * (x2 - x1) / width, 100.0 * (y2 - y1) / height)


def percent_to_xyxy(box: Sequence[float], width: float, height: float) -> Box:
    """Percent ``(x, y, width, height)`` -> pixel ``(x1, y1, x2, y2)`` (not clipped).

    ``x1 = x * width / 100``, ``x2 = x1 + w * width / 100`` (the order the Label Studio import
    has always used, so imported boxes stay byte-stable).
    """
    x, y, w, h = (float(v) for v in box)
    x1, y1 = x * width / 100.0, y * height / 100.0
    return (x1, y1, x1 + w * width / 100.0, y1 + h * height / 100.0)


def xyxy_to_yolo(box: Sequence[float], width: float, height: float) -> Box:
    """Pixel ``(x1, y1, x2, y2)`` -> YOLO ``(xc, yc, w, h)`` normalised to ``[0, 1]``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return ((x1 + x2) / 2.0 / width, (y1 + y2) / 2.0 / height, (x2 - x1) / width, (y2 - y1) / height)


def yolo_to_xyxy(box: Sequence[float], width: float, height: float) -> Box:
    """YOLO ``(xc, yc, w, h)`` (normalised) -> pixel ``(x1, y1, x2, y2)`` (not clipped)."""
    xc, yc, w, h = (float(v) for v in box)
    return ((xc - w / 2.0) * width, (yc - h / 2.0) * height, (xc + w / 2.0) * width, (yc + h / 2.0) * height)


# --------------------------------------------------------------------------------------------
# batches of boxes (tensors)


def as_boxes(boxes: torch.Tensor | Sequence[Sequence[float]]) -> torch.Tensor:
    """Any ``(N, 4)`` array-like of xyxy boxes -> a float tensor ``(N, 4)`` (``(0, 4)`` if empty)."""
    import torch

    t = torch.as_tensor(boxes)
    if t.numel() == 0:
        return torch.zeros((0, 4), dtype=torch.float32, device=t.device)
    if not t.is_floating_point():
        t = t.float()
    return t.reshape(-1, 4)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box in ``a`` ``(M, 4)`` with every box in ``b`` ``(K, 4)`` -> ``(M, K)``.

    Empty or inverted boxes have IoU 0 with everything (torchvision would give NaN for 0/0).
    """
    import torch
    from torchvision import ops

    a, b = as_boxes(a), as_boxes(b)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return torch.zeros((a.shape[0], b.shape[0]), dtype=torch.promote_types(a.dtype, b.dtype), device=a.device)
    return torch.nan_to_num(ops.box_iou(a, b), nan=0.0)


def box_intersection(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection area of every box in ``a`` ``(M, 4)`` with every box in ``b`` ``(K, 4)`` -> ``(M, K)``."""
    import torch

    a, b = as_boxes(a), as_boxes(b)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    return (rb - lt).clamp(min=0).prod(dim=2)


def box_containment(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Share of each box of ``a`` ``(M, 4)`` that lies inside each box of ``b`` ``(K, 4)`` -> ``(M, K)``.

    ``out[i, j] = area(a_i & b_j) / area(a_i)``, in ``[0, 1]``; 0 where ``a_i`` is empty. A value
    near 1 means ``a_i`` is nested in ``b_j`` (what IoU misses when ``b_j`` is much larger).
    """
    import torch
    from torchvision import ops

    a, b = as_boxes(a), as_boxes(b)
    inter = box_intersection(a, b)
    area = ops.box_area(a).clamp(min=0) if a.shape[0] else torch.zeros(0, device=a.device)
    return torch.where(area[:, None] > 0, inter / area[:, None].clamp(min=1e-12), torch.zeros_like(inter))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Class-agnostic non-maximum suppression (``torchvision.ops.nms``) with a stable tie order.

    ``torchvision.ops.nms`` does not define the order of equal scores. To keep LOST's published
    behaviour (ties keep the lower index, i.e. the lower-degree seed), the boxes are first sorted
    stably by descending score and NMS runs on that order, in which scores are strictly
    decreasing by a rank tiebreak.

    Args:
        boxes: ``(M, 4)`` ``(x1, y1, x2, y2)`` corners (any unit; IoU does not depend on it).
        scores: ``(M,)``; higher is kept first, ties keep the lower index.
        iou_threshold: a box overlapping a kept one by more than this is dropped.

    Returns:
        ``(K,)`` long indices into ``boxes`` of the kept boxes, by descending score.
    """
    import torch
    from torchvision import ops

    boxes = as_boxes(boxes)
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(-scores.float(), stable=True).indices
    # Rank-based scores: strictly decreasing along ``order``, so torchvision's sort cannot
    # reorder ties.
    rank = torch.arange(boxes.shape[0], 0, -1, dtype=torch.float32, device=boxes.device)
    # torchvision compares the float32 IoU with a double threshold; round the threshold to
    # float32 first so that an IoU exactly at the threshold is kept, as in a float32 comparison.
    threshold = float(torch.tensor(iou_threshold, dtype=torch.float32))
    kept = ops.nms(boxes[order].float(), rank, threshold)
    return order[kept]


def suppress_nested(boxes: torch.Tensor, scores: torch.Tensor, containment: float = 0.9,
                    iou_threshold: float = 1.0) -> torch.Tensor:
    """Greedy suppression by containment: drop a box mostly inside a better-scored kept box.

    A box ``i`` is dropped if an already kept box ``j`` (higher score, ties to the lower index)
    covers at least ``containment`` of ``i``'s area, or ``j`` lies at least ``containment`` inside
    ``i`` (a big box around a kept object adds nothing), or their IoU exceeds ``iou_threshold``.

    Args:
        boxes: ``(M, 4)`` xyxy.
        scores: ``(M,)``.
        containment: share of a box's area inside another above which they are duplicates.
        iou_threshold: plain IoU suppression on top (1.0 = off).

    Returns:
        ``(K,)`` long indices of kept boxes, by descending score.
    """
    import torch

    boxes = as_boxes(boxes)
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(-scores.float(), stable=True).indices
    b = boxes[order].float()
    inside = box_containment(b, b)  # inside[i, j]: share of i inside j
    dup = (inside >= containment) | (containment <= inside.T) | (box_iou(b, b) > iou_threshold)
    dup = dup.cpu()
    keep: list[int] = []
    for i in range(b.shape[0]):
        if not any(bool(dup[i, j]) for j in keep):
            keep.append(i)
    return order[torch.tensor(keep, dtype=torch.long, device=order.device)]
