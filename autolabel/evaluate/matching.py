"""Greedy matching of one image's predictions to its ground truth (the correction-cost rule).

Predictions are taken in descending ``score`` (ties in input order); each takes the not yet
matched ground-truth box with the highest IoU, if that IoU >= the threshold, regardless of
class. A prediction left over that covers a crowd region (intersection / its area >= the
threshold) is neutral. Boxes are pixel ``(x1, y1, x2, y2)``, ``x2`` exclusive; IoU is computed
on continuous coordinates (no ``+1``), by :mod:`autolabel.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from autolabel import geometry

ADJUST_IOU = 0.75
"""A matched box with IoU below this needs adjusting."""


@dataclass(frozen=True)
class EvalImage:
    """One labelled image: ground truth and predictions as arrays.

    Attributes:
        path: the run's relative path of the image.
        gt_boxes: ``(G, 4)`` float64 pixel ``x1, y1, x2, y2``.
        gt_labels: ``G`` ground-truth class names.
        gt_ignore: ``(G,)`` bool, True for crowd regions (neither found nor missed).
        pred_boxes: ``(P, 4)`` float64 pixel ``x1, y1, x2, y2``.
        pred_labels: ``P`` run labels.
        pred_classes: ``P`` ground-truth class each label maps to, or None.
        pred_scores: ``(P,)`` class probabilities in [0, 1].
        pred_objectness: ``(P,)`` discovery scores in [0, 1].
        gt_masks, pred_masks: per box its mask (COCO RLE over the image) or None; empty when
            the evaluation is on boxes (``iou_type="bbox"``).
        size: ``(height, width)`` of the image (needed to turn a box without mask into one).
    """

    path: str
    gt_boxes: np.ndarray
    gt_labels: tuple[str, ...]
    gt_ignore: np.ndarray
    pred_boxes: np.ndarray
    pred_labels: tuple[str, ...]
    pred_classes: tuple[str | None, ...]
    pred_scores: np.ndarray
    pred_objectness: np.ndarray
    gt_masks: tuple[Mapping[str, Any] | None, ...] = ()
    pred_masks: tuple[Mapping[str, Any] | None, ...] = ()
    size: tuple[int, int] | None = None

    @classmethod
    def build(
        cls,
        path: str,
        gt_boxes: Sequence[Sequence[float]],
        gt_labels: Sequence[str],
        pred_boxes: Sequence[Sequence[float]] = (),
        pred_labels: Sequence[str] = (),
        pred_scores: Sequence[float] = (),
        pred_objectness: Sequence[float] | None = None,
        *,
        gt_ignore: Sequence[bool] | None = None,
        to_gt: Mapping[str, str] | None = None,
        gt_masks: Sequence[Mapping[str, Any] | None] = (),
        pred_masks: Sequence[Mapping[str, Any] | None] = (),
        size: tuple[int, int] | None = None,
    ) -> EvalImage:
        """Make an image from lists; ``to_gt`` maps run labels to GT classes (default: same name);
        masks (empty, or one per box) and the image ``size`` ``(height, width)`` for ``segm``."""
        gb = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
        pb = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
        ps = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
        po = ps.copy() if pred_objectness is None else np.asarray(pred_objectness, dtype=np.float64).reshape(-1)
        gi = np.zeros(len(gb), bool) if gt_ignore is None else np.asarray(gt_ignore, dtype=bool).reshape(-1)
        labels = tuple(pred_labels)
        if not (len(gb) == len(gt_labels) == len(gi)):
            raise ValueError(f"{path}: {len(gb)} GT boxes, {len(gt_labels)} labels, {len(gi)} ignore flags")
        if not (len(pb) == len(labels) == len(ps) == len(po)):
            raise ValueError(f"{path}: {len(pb)} predicted boxes, {len(labels)} labels, {len(ps)} scores, {len(po)} objectness")
        if (gt_masks and len(gt_masks) != len(gb)) or (pred_masks and len(pred_masks) != len(pb)):
            raise ValueError(f"{path}: {len(gt_masks)} GT masks for {len(gb)} boxes, {len(pred_masks)} predicted masks for {len(pb)}")
        classes = tuple((to_gt.get(lab) if to_gt is not None else lab) for lab in labels)
        return cls(path, gb, tuple(gt_labels), gi, pb, labels, classes, ps, po, tuple(gt_masks), tuple(pred_masks), size)

    @property
    def num_gt(self) -> int:
        """Ground-truth boxes to be found (crowd regions excluded)."""
        return int((~self.gt_ignore).sum())


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` ``(A, 4)`` with every box in ``b`` ``(B, 4)``: ``(A, B)`` float64."""
    ta = torch.as_tensor(np.asarray(a, dtype=np.float64).reshape(-1, 4))
    tb = torch.as_tensor(np.asarray(b, dtype=np.float64).reshape(-1, 4))
    return geometry.box_iou(ta, tb).numpy()


UNMATCHED = -1
NEUTRAL = -2
DROPPED = -3


class GreedyMatcher:
    """Greedy matching of one image's predictions to its ground truth (see the module doc).

    Built once per image (IoUs computed once); :meth:`match` and :meth:`count` then run for any
    subset of the predictions, as a threshold sweep needs.

    Args:
        pred_boxes: ``(P, 4)`` pixel boxes; pred_scores: ``(P,)`` (the matching order).
        gt_boxes: ``(G, 4)`` pixel boxes; gt_ignore: ``(G,)`` bool crowd flags.
        iou_threshold: the IoU a match needs.
        pred_classes, gt_labels: classes to tell a relabel (optional; without them no relabels).
    """

    def __init__(self, pred_boxes: np.ndarray, pred_scores: np.ndarray, gt_boxes: np.ndarray, gt_ignore: np.ndarray,
                 iou_threshold: float = 0.5, pred_classes: Sequence[str | None] | None = None,
                 gt_labels: Sequence[str] | None = None) -> None:
        pred_boxes = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
        gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
        self.num_pred = len(pred_boxes)
        self.num_gt = len(gt_boxes)
        normal = ~np.asarray(gt_ignore, dtype=bool).reshape(-1)
        self.num_gt_found = int(normal.sum())
        self.order = [int(i) for i in np.argsort(-np.asarray(pred_scores, dtype=np.float64), kind="stable")]
        self.ious = box_iou(pred_boxes, gt_boxes)
        # per prediction: (gt index, needs adjusting, needs relabelling) for each GT it may take, best IoU first
        self.candidates: list[list[tuple[int, bool, bool]]] = []
        for p in range(self.num_pred):
            row = self.ious[p]
            ok = np.flatnonzero((row >= iou_threshold) & normal)
            cands = []
            for g in ok[np.argsort(-row[ok], kind="stable")]:
                g = int(g)
                wrong = pred_classes is not None and gt_labels is not None and pred_classes[p] != gt_labels[g]
                cands.append((g, bool(row[g] < ADJUST_IOU), wrong))
            self.candidates.append(cands)
        if (~normal).any() and self.num_pred:
            cover = geometry.box_containment(torch.as_tensor(np.asarray(pred_boxes, dtype=np.float64)),
                                             torch.as_tensor(np.asarray(gt_boxes[~normal], dtype=np.float64))).numpy()
            self.on_crowd = [bool(v) for v in (cover >= iou_threshold).any(axis=1)]
        else:
            self.on_crowd = [False] * self.num_pred

    @classmethod
    def for_image(cls, img: EvalImage, iou_threshold: float = 0.5) -> GreedyMatcher:
        return cls(img.pred_boxes, img.pred_scores, img.gt_boxes, img.gt_ignore, iou_threshold, img.pred_classes, img.gt_labels)

    def _greedy(self, keep: Sequence[bool] | np.ndarray | None) -> Iterator[tuple[int, tuple[int, bool, bool] | None]]:
        """Kept predictions by descending score, each with the first free candidate it takes
        ``(gt index, loose, wrong class)``, or None when every candidate is taken."""
        keep_l = [True] * self.num_pred if keep is None else [bool(k) for k in keep]
        taken = [False] * self.num_gt
        for p in self.order:
            if not keep_l[p]:
                continue
            hit = next((c for c in self.candidates[p] if not taken[c[0]]), None)
            if hit is not None:
                taken[hit[0]] = True
            yield p, hit

    def match(self, keep: Sequence[bool] | np.ndarray | None = None) -> np.ndarray:
        """``(P,)`` int: the matched GT index per prediction, or ``UNMATCHED`` (-1, a false
        positive), ``NEUTRAL`` (-2, on a crowd region) or ``DROPPED`` (-3, not in ``keep``)."""
        out = np.full(self.num_pred, DROPPED, dtype=np.int64)
        for p, hit in self._greedy(keep):
            out[p] = hit[0] if hit is not None else NEUTRAL if self.on_crowd[p] else UNMATCHED
        return out

    def count(self, keep: Sequence[bool] | np.ndarray | None = None) -> tuple[int, int, int, int, int]:
        """``(predictions, matched, delete, relabel, adjust)`` for the kept predictions."""
        matched = delete = relabel = adjust = 0
        for p, hit in self._greedy(keep):
            if hit is not None:
                matched += 1
                adjust += hit[1]
                relabel += hit[2]
            elif not self.on_crowd[p]:
                delete += 1
        return matched + delete, matched, delete, relabel, adjust
