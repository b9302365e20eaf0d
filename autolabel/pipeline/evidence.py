"""Classifier evidence: where in the whole photo the classifier sees a box's classes, and how
well the box covers that evidence.

The classifier that names each crop is also run once on the whole photo (its longer side
resized to ``evidence_side`` pixels, both sides rounded to a multiple of :data:`STRIDE`). Its
final feature map (``forward_features``: ``(C, h, w)``, one cell per :data:`STRIDE` pixels of
that input) goes through the classification head cell by cell: per-class logits per cell,
``(K, h, w)``, a class activation map (CAM). Averaged over the cells they are the logits of
the whole photo (the head of a CNN classifier is global average pooling then a linear layer).

For a box named with the top-k classes ``c`` at probabilities ``p_c`` (the crop's own
classification), the box's *evidence map* is ``sum_c p_c * relu(z_c - median(z_c)) / max``,
each class's logits less their median over the photo and scaled to a peak of 1, the sum
scaled to a peak of 1 again (:func:`evidence_map`): where in the photo the classifier sees
what it named the box. The box's *evidence IoU* is the soft intersection over union of the
box with that map (:func:`soft_iou`): the map's mass inside the box over the map's total mass
plus the box's area outside it, in cells. A box around a group, or around the object with its
surroundings, holds the evidence but also much area without it; a box on a part holds only
some of it; the box around the object scores highest.

The score factor of a box is its evidence IoU over the highest evidence IoU among the photo's
boxes, to the power ``evidence_power`` (:func:`evidence_factors`): in ``[0, 1]``, 1 for the
photo's best-covered box, so the factor re-ranks the boxes inside a photo and a photo whose
boxes all cover their evidence poorly keeps its best one.

Where the extractor is the classifier (one model, as in lite), a CNN map read at scale 1 and
``evidence_side`` equals ``max_side``, the feature stage carries the extractor's map of a photo
seen whole (untiled) on through the rest of the network (:meth:`autolabel.pipeline.features.CNNMap.finish`)
and :func:`cell_logits` gives the same maps without a second pass over the photo; the view's
sides are multiples of the extractor's stride (16), so its last row or column of cells may
reach past the photo (:class:`autolabel.pipeline.work.ClassMaps`).

The maps are not stored in the records: ``autolabel devset --records F --rescore`` cannot
redo this factor (``docs/discovery-quality.md``, "Classifier evidence").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from autolabel.errors import ModelError

STRIDE = 32
"""Both sides of the whole-photo input are rounded to a multiple of this many pixels: the
output stride of timm's CNN classifiers, so every cell of the map covers whole input pixels."""


def evidence_size(width: int, height: int, side: int, stride: int = STRIDE) -> tuple[int, int]:
    """``(w, h)`` of the whole-photo input: the longer side scaled to ``side`` pixels (up or
    down), each side rounded to a multiple of ``stride``, at least ``stride``."""
    s = float(side) / float(max(width, height))
    return (max(stride, int(round(width * s / stride)) * stride), max(stride, int(round(height * s / stride)) * stride))


def evidence_input(image: Image.Image, side: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """The whole RGB ``image`` as the classifier's ``(3, h, w)`` float32 input: resized
    (bicubic; a huge photo first reduced by an integer factor, PIL's ``reducing_gap``) to
    :func:`evidence_size`, scaled to ``[0, 1]`` and normalised per channel."""
    w, h = evidence_size(image.width, image.height, side)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    arr = np.asarray(rgb.resize((w, h), Image.BICUBIC, reducing_gap=3.0), dtype=np.float32) / 255.0
    x = torch.from_numpy(arr).permute(2, 0, 1)
    m = torch.tensor(tuple(mean), dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(tuple(std), dtype=torch.float32).view(3, 1, 1)
    return (x - m) / s


@torch.inference_mode()
def class_maps(module: Any, x: torch.Tensor) -> torch.Tensor:
    """Per-cell class logits of a timm CNN classifier: ``(1, 3, H, W)`` input ->
    ``(K, h, w)`` float32 on CPU, ``h, w`` the final feature map's grid (``H / 32`` for
    timm's CNNs), through :func:`cell_logits`.

    Raises:
        ModelError: the model's features are not a ``(1, C, h, w)`` map (a ViT's tokens).
    """
    return cell_logits(module, module.forward_features(x))[0]


@torch.inference_mode()
def cell_logits(module: Any, features: torch.Tensor) -> torch.Tensor:
    """Per-cell class logits of a batch's final feature maps: ``(B, C, h, w)`` (what
    ``forward_features`` gives) -> ``(B, K, h, w)`` float32 on CPU. Each cell's features go
    through the model's own head as a 1 x 1 map (``forward_head``), so pooling is the identity
    and the head's layers act per cell.

    Raises:
        ModelError: ``features`` is not a ``(B, C, h, w)`` map (a ViT's tokens).
    """
    f = features
    if f.dim() != 4:
        raise ModelError(f"classifier evidence needs a CNN feature map (B, C, h, w), got shape {tuple(f.shape)}")
    b, c, h, w = f.shape
    cells = f.permute(0, 2, 3, 1).reshape(b * h * w, c, 1, 1)
    logits = module.forward_head(cells)
    return logits.float().reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous().cpu()


def evidence_map(maps: np.ndarray, classes: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """Where the classifier sees ``classes`` in the photo: ``(h, w)`` float64 in ``[0, 1]``
    (peak 1; all 0 when no cell stands out).

    Args:
        maps: ``(K, h, w)`` per-cell class logits (:func:`class_maps`).
        classes: class indices (a box's top-k).
        weights: their weights (the box's class probabilities).
    """
    out = np.zeros(maps.shape[1:], dtype=np.float64)
    for c, p in zip(classes, weights):
        z = np.asarray(maps[int(c)], dtype=np.float64)
        e = np.clip(z - np.median(z), 0.0, None)
        peak = e.max()
        if peak > 0.0:
            out += float(p) * e / peak
    peak = out.max()
    return out / peak if peak > 0.0 else out


def _cover(lo: float, hi: float, n: int, size: float) -> np.ndarray:
    """Share of each of ``n`` equal cells along ``[0, size]`` that ``[lo, hi]`` covers."""
    edges = np.linspace(0.0, size, n + 1)
    return np.clip(np.minimum(hi, edges[1:]) - np.maximum(lo, edges[:-1]), 0.0, None) / (size / n)


def cell_overlap(box: Sequence[float], width: int, height: int, shape: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` share of each cell of a grid of ``shape`` laid over the ``width x height``
    image that the pixel box ``(x1, y1, x2, y2)`` covers, in ``[0, 1]``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.outer(_cover(y1, y2, shape[0], float(height)), _cover(x1, x2, shape[1], float(width)))


def soft_iou(emap: np.ndarray, box: Sequence[float], width: int, height: int) -> float:
    """Intersection over union of the pixel box with the evidence map ``emap`` (``(h, w)``
    in ``[0, 1]`` over the ``width x height`` image), in cells: the map's mass inside the box
    over its total mass plus the box's cells outside the map. In ``[0, 1]``; 0 for an empty map."""
    ov = cell_overlap(box, width, height, emap.shape)
    inside = float((emap * ov).sum())
    union = float(emap.sum()) + float(ov.sum()) - inside
    return inside / union if union > 0.0 else 0.0


def evidence_factors(ious: Sequence[float], power: float = 1.0) -> list[float]:
    """Each box's score factor in ``[0, 1]``: its evidence IoU over the photo's highest, to
    ``power``; all 1 when no box holds any evidence (nothing to rank by)."""
    best = max((float(v) for v in ious), default=0.0)
    if best <= 0.0:
        return [1.0] * len(ious)
    return [min(max(float(v) / best, 0.0), 1.0) ** power for v in ious]


def box_factors(maps: np.ndarray, boxes: Sequence[Sequence[float]], tops: Sequence[tuple[Sequence[int], Sequence[float]]],
                width: int, height: int, power: float = 1.0) -> list[float]:
    """The score factors (:func:`evidence_factors`) of one photo's boxes.

    Args:
        maps: ``(K, h, w)`` per-cell class logits of the whole photo (:func:`class_maps`).
        boxes: pixel boxes ``(x1, y1, x2, y2)`` in the ``width x height`` photo.
        tops: per box, its top-k class indices and their probabilities.
    """
    ious = [soft_iou(evidence_map(maps, c, p), b, width, height) for b, (c, p) in zip(boxes, tops)]
    return evidence_factors(ious, power)
