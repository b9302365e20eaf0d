"""How good the exported boxes are: class-agnostic metrics of the pipeline's records against
labelled images, overall, per top-level folder and per COCO size bucket.

Every metric is class-agnostic (every box is one class, "object") and uses what a record
holds, exactly as exported:

* **AP50**: COCO average precision at IoU 0.5 (pycocotools, 101 recall points), boxes ranked
  by ``score``; **AR100** COCO's average recall over IoU 0.5:0.95 with up to 100 boxes.
* **recall@0.5 / precision@0.5**: greedy matching (:class:`autolabel.evaluate.matching.GreedyMatcher`,
  boxes by descending ``score``, IoU >= 0.5): matched ground truth / ground truth, matched
  boxes / boxes (boxes on crowd regions count in neither).
* **CorLoc**: share of images (with ground truth) whose top-``score`` box matches some object.
* **edits/image**: the correction cost at IoU 0.5 (delete, draw, adjust; no relabels).
* masks, on images whose every object has a mask: **segm AP50** (COCO, masks; a box without a
  mask counts as its filled box), the **median mask IoU** of the box-matched pairs, and the
  **inverted** share: matched pairs whose masks overlap under :data:`INVERTED_IOU` although
  the boxes match (the mask covers the background around the object).
* **score AUC**: the probability that a matched box scores higher than an unmatched one
  (ties count half): 1.0 when ``score`` ranks every match first, 0.5 when it ranks by chance.

Size buckets are COCO's, by the ground-truth **box** area ``w * h`` (small < 32², medium
< 96², large): a bucket's recall counts its objects; its precision counts the boxes matched to
its objects and the unmatched boxes whose own area is in it (pycocotools' area-range rule);
its AP50 is pycocotools' for that area range.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autolabel.formats.base import GroundTruthImage
from autolabel.tools.devset.labelled import group_of
from autolabel.tools.devset.operating import OperatingPoint, operating_points, precision_points
from autolabel.tools.devset.rounding import rounded
from autolabel.types import ImageAnnotations

MATCH_IOU = 0.5
INVERTED_IOU = 0.2
"""A box-matched pair whose masks overlap less than this has an inverted (or wrong) mask."""
BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("small", 0.0, 32.0 ** 2), ("medium", 32.0 ** 2, 96.0 ** 2), ("large", 96.0 ** 2, 1e10))
"""COCO's size buckets: name, lower and upper box area in pixels (lower inclusive)."""


@dataclass
class Quality:
    """The metrics of one slice (a folder and/or a size bucket); None where undefined.

    Size-bucket rows hold only ``ap50``, ``recall50`` and ``precision50``.
    """

    group: str
    bucket: str
    images: int
    gt: int
    predictions: int
    ap50: float | None = None
    ar100: float | None = None
    recall50: float | None = None
    precision50: float | None = None
    corloc: float | None = None
    edits_per_image: float | None = None
    segm_ap50: float | None = None
    mask_iou_median: float | None = None
    inverted_share: float | None = None
    score_auc: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return rounded(self.__dict__)


@dataclass
class QualityReport:
    """One configuration's records measured on one labelled set."""

    name: str
    split: str
    images: int
    gt: int
    settings: dict[str, Any] = field(default_factory=dict)
    seconds_per_image: float | None = None
    failures: int = 0
    rows: list[Quality] = field(default_factory=list)
    operating: list[OperatingPoint] = field(default_factory=list)
    """The ``min_score`` reaching each asked recall (:mod:`autolabel.tools.devset.operating`)."""
    keeping: list[OperatingPoint] = field(default_factory=list)
    """The ``min_score`` keeping each asked precision (:func:`~autolabel.tools.devset.operating.precision_points`)."""

    def row(self, group: str = "all", bucket: str = "all") -> Quality:
        """The row of ``group`` and ``bucket``; KeyError if there is none."""
        for r in self.rows:
            if r.group == group and r.bucket == bucket:
                return r
        raise KeyError((group, bucket))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "split": self.split, "images": self.images, "gt_boxes": self.gt,
                "settings": self.settings, "failures": self.failures,
                "seconds_per_image": None if self.seconds_per_image is None else round(self.seconds_per_image, 4),
                "rows": [r.to_dict() for r in self.rows],
                **({"at_recall": [p.to_dict() for p in self.operating]} if self.operating else {}),
                **({"at_precision": [p.to_dict() for p in self.keeping]} if self.keeping else {})}


@dataclass(frozen=True)
class Prepared:
    """One image ready to measure: arrays, greedy matches and the image's folder."""

    eval: Any  # EvalImage
    match: np.ndarray
    """Per box: matched GT index, -1 unmatched, -2 on a crowd region."""
    group: str


def prepare(pairs: Sequence[tuple[GroundTruthImage, ImageAnnotations]]) -> list[Prepared]:
    """Each ``(ground truth, record)`` pair as arrays with its greedy matches at IoU 0.5
    (boxes by descending ``score``)."""
    from autolabel.evaluate.matching import EvalImage, GreedyMatcher

    out = []
    for g, rec in pairs:
        scores = [d.score for d in rec.detections]
        n, m = len(g.boxes), len(rec.detections)
        ev = EvalImage.build(rec.path, g.boxes, ["object"] * n, [d.box for d in rec.detections], ["object"] * m,
                             scores, scores, gt_ignore=g.ignore, gt_masks=g.masks,
                             pred_masks=[d.mask for d in rec.detections] if g.masks else (),
                             size=(rec.height, rec.width))
        out.append(Prepared(ev, GreedyMatcher.for_image(ev, MATCH_IOU).match(), group_of(rec.path)))
    return out


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _in(area: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (area >= lo) & (area < hi)


def recall_precision(images: Sequence[Prepared], lo: float = 0.0, hi: float = math.inf) -> tuple[float | None, float | None, int, int]:
    """``(recall, precision, gt, boxes)`` at IoU 0.5 for objects (and boxes) of box area in
    ``[lo, hi)`` (see the module doc)."""
    gt = found = boxes = hits = 0
    for im in images:
        ev = im.eval
        g_in = _in(_area(ev.gt_boxes), lo, hi) & ~ev.gt_ignore if len(ev.gt_boxes) else np.zeros(0, bool)
        gt += int(g_in.sum())
        matched = im.match[im.match >= 0]
        found += int(g_in[matched].sum()) if len(matched) else 0
        p_in = _in(_area(ev.pred_boxes), lo, hi) if len(ev.pred_boxes) else np.zeros(0, bool)
        for k, j in enumerate(im.match.tolist()):
            if j >= 0:
                boxes += int(g_in[j])
                hits += int(g_in[j])
            elif j == -1:
                boxes += int(p_in[k])
    return (found / gt if gt else None), (hits / boxes if boxes else None), gt, boxes


def score_auc(images: Sequence[Prepared]) -> float | None:
    """P(a matched box scores above an unmatched one), ties half; None without both kinds."""
    from scipy.stats import rankdata

    s = [im.eval.pred_scores[im.match != -2] for im in images]
    y = [im.match[im.match != -2] >= 0 for im in images]
    scores = np.concatenate(s) if s else np.zeros(0)
    pos = np.concatenate(y) if y else np.zeros(0, bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def with_masks(im: Prepared) -> bool:
    ev = im.eval
    return bool(ev.gt_masks) and all(m is not None for m, ig in zip(ev.gt_masks, ev.gt_ignore) if not ig) and ev.num_gt > 0


def matched_mask_ious(im: Prepared) -> list[float]:
    """The mask IoU of each box-matched pair of one image where both have a mask."""
    from pycocotools import mask as coco_mask

    ev = im.eval
    if not ev.gt_masks or not ev.pred_masks:
        return []
    out = []
    for k, j in enumerate(im.match.tolist()):
        pm, gm = (ev.pred_masks[k], ev.gt_masks[j]) if j >= 0 else (None, None)
        if pm is None or gm is None:
            continue
        a = {"size": list(pm["size"]), "counts": pm["counts"].encode("ascii") if isinstance(pm["counts"], str) else pm["counts"]}
        b = {"size": list(gm["size"]), "counts": gm["counts"].encode("ascii") if isinstance(gm["counts"], str) else gm["counts"]}
        out.append(float(coco_mask.iou([a], [b], [0])[0][0]))
    return out


def mask_quality(images: Sequence[Prepared]) -> tuple[float | None, float | None]:
    """``(median mask IoU, inverted share)`` over box-matched pairs where both have a mask."""
    ious = [v for im in images for v in matched_mask_ious(im)]
    if not ious:
        return None, None
    arr = np.asarray(ious)
    return float(np.median(arr)), float((arr < INVERTED_IOU).mean())


def coco_ap50(images: Sequence[Prepared]) -> tuple[dict[str, float | None], float | None]:
    """Class-agnostic pycocotools AP50 per area range (``all`` and :data:`BUCKETS`, by GT box
    area) and AR100 (all areas), boxes ranked by ``score``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = ["all", *(b[0] for b in BUCKETS)]
    gt_json: dict[str, Any] = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "object"}]}
    results = []
    for image_id, im in enumerate(images, 1):
        ev = im.eval
        gt_json["images"].append({"id": image_id})
        for b, ig in zip(ev.gt_boxes, ev.gt_ignore):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            gt_json["annotations"].append({"id": len(gt_json["annotations"]) + 1, "image_id": image_id, "category_id": 1,
                                           "bbox": [float(b[0]), float(b[1]), w, h], "area": w * h, "iscrowd": int(ig)})
        for b, s in zip(ev.pred_boxes, ev.pred_scores):
            results.append({"image_id": image_id, "category_id": 1, "score": float(s),
                            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    num_gt = sum(im.eval.num_gt for im in images)
    if not num_gt:
        return {n: None for n in names}, None
    if not results:
        return {n: 0.0 for n in names}, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_json
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), iouType="bbox")
        ev.params.areaRng = [[0.0, 1e10], *([lo, hi] for _, lo, hi in BUCKETS)]
        ev.params.areaRngLbl = names
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"]  # (T, R, K, A, M)
    t50 = int(np.argmin(np.abs(ev.params.iouThrs - 0.5)))
    out: dict[str, float | None] = {}
    for a, n in enumerate(names):
        p = prec[t50, :, 0, a, -1]
        out[n] = float(p.mean()) if (p > -1).any() else None
    ar = float(ev.stats[8])
    return out, (None if ar < 0 else ar)


def _slice(group: str, images: Sequence[Prepared]) -> Quality:
    from autolabel.evaluate.metrics import coco_metrics, corloc, correction_cost

    evs = [im.eval for im in images]
    ap, ar = coco_ap50(images)
    rec, prec, gt, _ = recall_precision(images)
    q = Quality(group, "all", len(images), gt, sum(len(e.pred_boxes) for e in evs), ap["all"], ar, rec, prec)
    q.corloc = corloc(evs)[0]
    q.edits_per_image = correction_cost(evs, iou=MATCH_IOU).edits_per_image if evs else None
    masked = [im for im in images if with_masks(im)]
    if masked:
        q.segm_ap50 = coco_metrics([im.eval for im in masked], rank_by="score", iou_type="segm")["ap50"]
        q.mask_iou_median, q.inverted_share = mask_quality(masked)
    q.score_auc = score_auc(images)
    return q


def measure(pairs: Sequence[tuple[GroundTruthImage, ImageAnnotations]], name: str = "", split: str = "all",
            settings: dict[str, Any] | None = None, at_recall: Sequence[float] = (),
            at_precision: Sequence[float] = (), prepared: Sequence[Prepared] | None = None) -> QualityReport:
    """The metrics (module doc) of records against their ground truth: one row for every image,
    one per top-level folder, one per size bucket.

    Args:
        pairs: ``(ground truth in the record's pixels, record)`` per image
            (:func:`autolabel.tools.devset.labelled.pair_records`).
        name: what produced the records (a preset and method).
        split: which half of the set.
        settings: the thresholds that produced them, for the report.
        at_recall: recalls whose operating points (``min_score``, precision) to add.
        at_precision: precisions whose operating points (``min_score``, recall) to add.
        prepared: ``prepare(pairs)`` when the caller already has it (the greedy matching then
            runs once for this report and the caller's own use of the matches).
    """
    images = prepare(pairs) if prepared is None else list(prepared)
    report = QualityReport(name, split, len(images), sum(im.eval.num_gt for im in images), dict(settings or {}))
    report.rows.append(_slice("all", images))
    ranked = ([im.eval.pred_scores for im in images], [im.match for im in images], report.rows[0].gt)
    if at_recall:
        report.operating = operating_points(*ranked, at_recall)
    if at_precision:
        report.keeping = precision_points(*ranked, at_precision)
    ap, _ = coco_ap50(images)
    for bucket, lo, hi in BUCKETS:
        rec, prec, gt, boxes = recall_precision(images, lo, hi)
        report.rows.append(Quality("all", bucket, len(images), gt, boxes, ap[bucket], None, rec, prec))
    for group in sorted({im.group for im in images}):
        report.rows.append(_slice(group, [im for im in images if im.group == group]))
    return report
