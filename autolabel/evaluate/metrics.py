"""Metrics over labelled images: correction cost, CorLoc, and COCO AP50 / AR@100 (pycocotools).

See :mod:`autolabel.evaluate` for the definitions.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from autolabel import masks
from autolabel.evaluate.matching import EvalImage, GreedyMatcher, box_iou

CORLOC_IOU = 0.5
IOU_TYPES = ("bbox", "segm")
"""What COCO AP/AR compare: boxes, or instance masks (pycocotools' ``iouType``)."""


def rounded(v: float | None, nd: int = 6) -> float | None:
    """``v`` rounded to ``nd`` decimals for the report (None stays None)."""
    return None if v is None else round(float(v), nd)


@dataclass(frozen=True)
class Counts:
    """Correction cost over a set of images at one threshold (see the module doc)."""

    images: int
    gt: int
    predictions: int
    matched: int
    delete: int
    draw: int
    relabel: int
    adjust: int

    @property
    def edits(self) -> int:
        return self.delete + self.draw + self.relabel + self.adjust

    @property
    def edits_per_image(self) -> float:
        return self.edits / self.images if self.images else 0.0

    @property
    def precision(self) -> float | None:
        return self.matched / self.predictions if self.predictions else None

    @property
    def recall(self) -> float | None:
        return self.matched / self.gt if self.gt else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f) + getattr(other, f) for f in
                        ("images", "gt", "predictions", "matched", "delete", "draw", "relabel", "adjust")))

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images, "gt_boxes": self.gt, "predictions": self.predictions, "matched": self.matched,
            "delete": self.delete, "draw": self.draw, "relabel": self.relabel, "adjust": self.adjust,
            "edits": self.edits, "edits_per_image": rounded(self.edits_per_image),
            "precision": rounded(self.precision), "recall": rounded(self.recall), "f1": rounded(self.f1),
        }


def matchers_for(images: Sequence[EvalImage], iou: float, matchers: Sequence[GreedyMatcher] | None) -> Sequence[GreedyMatcher]:
    """``matchers`` if given (built once by the caller), else one :class:`GreedyMatcher` per image."""
    return matchers if matchers is not None else [GreedyMatcher.for_image(i, iou) for i in images]


def counts_from_row(images: int, gt: int, row: Sequence[int]) -> Counts:
    """:class:`Counts` from a ``(predictions, matched, delete, relabel, adjust)`` row
    (:meth:`GreedyMatcher.count`); ``draw`` is the ground truth left unmatched."""
    predictions, matched, delete, relabel, adjust = (int(v) for v in row)
    return Counts(images, gt, predictions, matched, delete, gt - matched, relabel, adjust)


def correction_cost(images: Sequence[EvalImage], score_threshold: float = 0.0, objectness_threshold: float = 0.0,
                    iou: float = 0.5, matchers: Sequence[GreedyMatcher] | None = None) -> Counts:
    """Edits needed to turn the kept predictions into the ground truth (module doc), summed."""
    matchers = matchers_for(images, iou, matchers)
    total = np.zeros(5, dtype=np.int64)
    for img, m in zip(images, matchers):
        keep = (img.pred_scores >= score_threshold) & (img.pred_objectness >= objectness_threshold)
        total += m.count(keep.tolist())
    return counts_from_row(len(images), sum(m.num_gt_found for m in matchers), total)

# --------------------------------------------------------------------------------------------
# CorLoc


def corloc(images: Sequence[EvalImage], iou: float = CORLOC_IOU) -> tuple[float | None, int, int]:
    """``(corloc, hits, images)`` over the images with at least one (non-crowd) GT box.

    The image's top box is its highest-``objectness`` prediction (ties: higher score, then
    the first); a hit is IoU >= ``iou`` with some GT box. An image without predictions misses.
    """
    hits = n = 0
    for img in images:
        gt = img.gt_boxes[~img.gt_ignore]
        if len(gt) == 0:
            continue
        n += 1
        if len(img.pred_boxes) == 0:
            continue
        top = int(np.lexsort((np.arange(len(img.pred_boxes)), -img.pred_scores, -img.pred_objectness))[0])
        if (box_iou(img.pred_boxes[top:top + 1], gt) >= iou).any():
            hits += 1
    return (hits / n if n else None), hits, n


# --------------------------------------------------------------------------------------------
# COCO metrics (pycocotools)


def _segmentation(mask: Any, box: Sequence[float], size: tuple[int, int] | None, where: str) -> dict[str, Any]:
    """The compressed RLE pycocotools compares in ``segm`` mode: the mask, or the filled box
    (pixels whose centre it holds) when there is none."""
    if mask is not None:
        return {"size": list(mask["size"]), "counts": mask["counts"]}
    if size is None:
        raise ValueError(f"{where}: a box without a mask needs the image size for iou_type='segm'")
    return box_rle(box, *size)


def box_rle(box: Sequence[float], height: int, width: int) -> dict[str, Any]:
    """The filled box as RLE over a ``height x width`` image, encoded on the box's window (no
    whole-image array): the pixels that :func:`~autolabel.formats.polygons.polygons_to_mask` of
    its outline sets, i.e. centres with ``x1 < x < x2`` and ``y1 <= y < y2``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
    cols = np.flatnonzero((np.arange(width) + 0.5 > x1) & (np.arange(width) + 0.5 < x2))
    rows = np.flatnonzero((np.arange(height) + 0.5 >= y1) & (np.arange(height) + 0.5 < y2))
    if cols.size == 0 or rows.size == 0:
        return masks.encode_window(np.zeros((0, 0), bool), 0, 0, height, width)
    return masks.encode_window(np.ones((rows.size, cols.size), bool), int(cols[0]), int(rows[0]), height, width)


def coco_metrics(images: Sequence[EvalImage], *, class_aware: bool = False, rank_by: str = "objectness",
                 classes: Sequence[str] | None = None, iou_type: str = "bbox") -> dict[str, Any]:
    """AP50, AR@100 and per-class AP50 by pycocotools' COCOeval (``iou_type`` ``bbox`` or
    ``segm``: boxes, or the images' masks; a box without a mask is its filled box then).

    Class-agnostic (default): every box is one category. Class-aware: the categories are
    ``classes`` (ground-truth names); GT boxes of other classes and predictions that map to
    none of them are left out. Predictions are ranked by ``rank_by`` (``score`` or
    ``objectness``). An undefined value (no GT box) is None; with GT but no predictions the
    values are 0.

    Returns:
        ``{"ap50": float|None, "ar100": float|None, "per_class": {name: ap50|None}}``.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if rank_by not in ("score", "objectness"):
        raise ValueError(f"rank_by must be 'score' or 'objectness', got {rank_by!r}")
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    segm = iou_type == "segm"
    names = list(classes) if class_aware else ["object"]
    if class_aware and classes is None:
        raise ValueError("class-aware COCO metrics need the list of classes")
    cat_id = {n: i + 1 for i, n in enumerate(names)}
    gt_json: dict[str, Any] = {"images": [], "annotations": [], "categories": [{"id": i, "name": n} for n, i in cat_id.items()]}
    results: list[dict[str, Any]] = []
    num_gt = {n: 0 for n in names}
    for image_id, img in enumerate(images, 1):
        entry: dict[str, Any] = {"id": image_id, "file_name": img.path}
        if img.size is not None:
            entry.update(height=int(img.size[0]), width=int(img.size[1]))
        gt_json["images"].append(entry)
        gt_masks = img.gt_masks or (None,) * len(img.gt_boxes)
        for b, lab, ig, m in zip(img.gt_boxes, img.gt_labels, img.gt_ignore, gt_masks):
            name = lab if class_aware else "object"
            if name not in cat_id:
                continue
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            ann = {"id": len(gt_json["annotations"]) + 1, "image_id": image_id, "category_id": cat_id[name],
                   "bbox": [float(b[0]), float(b[1]), w, h], "area": w * h, "iscrowd": int(ig)}
            if segm:
                ann["segmentation"] = _segmentation(m, b, img.size, img.path)
            gt_json["annotations"].append(ann)
            if not ig:
                num_gt[name] += 1
        ranks = img.pred_scores if rank_by == "score" else img.pred_objectness
        pred_masks = img.pred_masks or (None,) * len(img.pred_boxes)
        for b, cls, s, m in zip(img.pred_boxes, img.pred_classes, ranks, pred_masks):
            name = cls if class_aware else "object"
            if name not in cat_id:
                continue
            res = {"image_id": image_id, "category_id": cat_id[name],
                   "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])], "score": float(s)}
            if segm:
                res["segmentation"] = _segmentation(m, b, img.size, img.path)
            results.append(res)
    has_gt = sum(num_gt.values()) > 0
    if not results or not has_gt:
        per = {n: (0.0 if num_gt[n] else None) for n in names}
        return {"ap50": 0.0 if has_gt else None, "ar100": 0.0 if has_gt else None, "per_class": per}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_json
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iouType=iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = ev.stats
    prec = ev.eval["precision"]  # (T iou, R recall, K classes, A areas, M maxDets)
    t50 = int(np.argmin(np.abs(ev.params.iouThrs - 0.5)))
    per = {}
    for k, n in enumerate(names):
        p = prec[t50, :, k, 0, -1]
        p = p[p > -1]
        per[n] = float(p.mean()) if len(p) else None
    return {"ap50": _undefined(stats[1]), "ar100": _undefined(stats[8]), "per_class": per}


def _undefined(v: float) -> float | None:
    return None if v < 0 else float(v)
