"""Pre-annotations against a hand-labelled sample: how good are the boxes, how much work is left.

Only run images that have ground truth take part (the labelled sample). Boxes are pixel
``(x1, y1, x2, y2)`` with ``x2`` exclusive (:mod:`autolabel.types`); IoU is computed on these
continuous coordinates, as pycocotools does (no ``+1``).

Metrics:

* **AP50, AR@100** (class-agnostic; every box one class "object"): pycocotools' COCOeval on
  in-memory COCO objects, boxes ranked by ``objectness`` (the discovery score). AP50 is
  ``stats[1]`` (AP at IoU 0.50, all areas, 100 detections per image); AR@100 is ``stats[8]``
  (recall averaged over IoU 0.50:0.05:0.95, 100 detections per image), the numbers CutLER and
  MOST report. Crowd regions (COCO ``iscrowd``) are ignored as COCOeval ignores them.
* **CorLoc** (LOST's protocol): the share of images with at least one ground-truth box whose
  highest-objectness prediction has IoU >= 0.5 with some ground-truth box.
* **Class-aware AP50** and per-class precision/recall, over the ground-truth classes that
  some run label maps to (same name, or a class map); predictions whose label maps to no
  ground-truth class are left out of these. Boxes ranked by ``score``.
* **Correction cost** at a threshold (keep predictions with ``score >= t`` and
  ``objectness >= o``). Matching rule: predictions are taken in descending ``score`` (ties
  in input order); each takes the not yet matched ground-truth box with the highest IoU,
  if that IoU >= ``iou`` (0.5), regardless of class. A prediction left over that covers a crowd
  region (intersection / its area >= ``iou``) is neutral. Then:

  - *delete*: predictions with no match (false positives);
  - *draw*: ground-truth boxes with no match (missed);
  - *relabel*: matched, but the prediction's label (through the class mapping) differs from
    the ground-truth class;
  - *adjust*: matched with IoU < 0.75 (``ADJUST_IOU``): the box needs dragging;
  - edits = delete + draw + relabel + adjust (a box can need a relabel and an adjust);
    edits per image = edits / images.

  Precision = matched / kept predictions, recall = matched / ground-truth boxes (class-agnostic).
* **Threshold sweep**: the correction cost at many score thresholds (objectness fixed) and
  many objectness thresholds (score >= 0); the recommended threshold is the one with the
  fewest edits (ties: the lowest), written as the shortest decimal that keeps the same boxes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch

from autolabel import geometry
from autolabel.errors import ConfigError
from autolabel.formats import GroundTruth, GroundTruthImage, pair_paths
from autolabel.formats.matching import RULES
from autolabel.store import LATEST, RunStore, atomic_write, write_json_atomic
from autolabel.types import ImageAnnotations

log = logging.getLogger(__name__)

SCHEMA = "autolabel.evaluation/1"
EVALUATION_JSON = "evaluation.json"
EVALUATION_PNG = "evaluation.png"
ADJUST_IOU = 0.75
"""A matched box with IoU below this needs adjusting."""
CORLOC_IOU = 0.5
MAX_SWEEP_POINTS = 200
"""At most this many distinct thresholds per sweep (spread over the observed values)."""
SWEEP_GRID = tuple(round(0.05 * i, 2) for i in range(21))
"""Thresholds always in the sweep (0, 0.05, ..., 1), so curves of two runs line up."""
ASPECT_TOLERANCE = 0.01


# --------------------------------------------------------------------------------------------
# records


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
    ) -> "EvalImage":
        """Make an image from lists; ``to_gt`` maps run labels to GT classes (default: same name)."""
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
        classes = tuple((to_gt.get(lab) if to_gt is not None else lab) for lab in labels)
        return cls(path, gb, tuple(gt_labels), gi, pb, labels, classes, ps, po)

    @property
    def num_gt(self) -> int:
        """Ground-truth boxes to be found (crowd regions excluded)."""
        return int((~self.gt_ignore).sum())


# --------------------------------------------------------------------------------------------
# geometry and matching


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
    def for_image(cls, img: "EvalImage", iou_threshold: float = 0.5) -> "GreedyMatcher":
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

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(*(getattr(self, f) + getattr(other, f) for f in
                        ("images", "gt", "predictions", "matched", "delete", "draw", "relabel", "adjust")))

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images, "gt_boxes": self.gt, "predictions": self.predictions, "matched": self.matched,
            "delete": self.delete, "draw": self.draw, "relabel": self.relabel, "adjust": self.adjust,
            "edits": self.edits, "edits_per_image": _r(self.edits_per_image),
            "precision": _r(self.precision), "recall": _r(self.recall), "f1": _r(self.f1),
        }




def _matchers(images: Sequence[EvalImage], iou: float, matchers: Sequence[GreedyMatcher] | None) -> Sequence[GreedyMatcher]:
    return matchers if matchers is not None else [GreedyMatcher.for_image(i, iou) for i in images]


def _counts(images: int, gt: int, row: Sequence[int]) -> Counts:
    predictions, matched, delete, relabel, adjust = (int(v) for v in row)
    return Counts(images, gt, predictions, matched, delete, gt - matched, relabel, adjust)


def correction_cost(images: Sequence[EvalImage], score_threshold: float = 0.0, objectness_threshold: float = 0.0,
                    iou: float = 0.5, matchers: Sequence[GreedyMatcher] | None = None) -> Counts:
    """Edits needed to turn the kept predictions into the ground truth (module doc), summed."""
    matchers = _matchers(images, iou, matchers)
    total = np.zeros(5, dtype=np.int64)
    for img, m in zip(images, matchers):
        keep = (img.pred_scores >= score_threshold) & (img.pred_objectness >= objectness_threshold)
        total += m.count(keep.tolist())
    return _counts(len(images), sum(m.num_gt_found for m in matchers), total)


# --------------------------------------------------------------------------------------------
# sweep


def sweep_thresholds(values: np.ndarray, max_points: int = MAX_SWEEP_POINTS) -> list[float]:
    """Thresholds worth trying for ``values``: each distinct value (at most ``max_points``,
    spread evenly over them) and the fixed grid :data:`SWEEP_GRID` (0 keeps everything; 1 keeps
    nothing unless a value is exactly 1)."""
    uniq = np.unique(np.asarray(values, dtype=np.float64))
    if len(uniq) > max_points:
        uniq = uniq[np.unique(np.linspace(0, len(uniq) - 1, max_points).round().astype(int))]
    return sorted({*(float(v) for v in uniq), *SWEEP_GRID})


def simplest_threshold(lo: float, hi: float) -> float:
    """A decimal ``t`` with ``lo < t <= hi`` and as few digits as possible (at most 6, else
    ``hi``); among those, the one nearest the middle of the interval.

    Any threshold in ``(lo, hi]`` keeps the same boxes when no value lies in between.
    """
    mid = (lo + hi) / 2
    for d in range(7):
        scale = 10**d
        first, last = math.floor(lo * scale) + 1, math.floor(hi * scale)
        for k in sorted(range(first, last + 1), key=lambda k: (abs(k - mid * scale), k))[:3] if first <= last else ():
            v = round(k / scale, d)
            if lo < v <= hi:
                return float(v)
    return float(hi)


def sweep(images: Sequence[EvalImage], key: str, thresholds: Iterable[float], *, fixed: Mapping[str, float] | None = None,
          iou: float = 0.5, matchers: Sequence[GreedyMatcher] | None = None) -> list[tuple[float, Counts]]:
    """Correction cost at each threshold on ``key`` (``score`` or ``objectness``), the other
    key held at ``fixed`` (default 0).

    An image's kept boxes change only at its own values of ``key``, so each image is matched
    once per distinct value (not once per threshold) and the thresholds look their row up.
    """
    if key not in ("score", "objectness"):
        raise ValueError(f"sweep key must be 'score' or 'objectness', got {key!r}")
    matchers = _matchers(images, iou, matchers)
    other = "objectness" if key == "score" else "score"
    floor = float((fixed or {}).get(other, 0.0))
    ts = np.asarray([float(t) for t in thresholds], dtype=np.float64)
    totals = np.zeros((len(ts), 5), dtype=np.int64)
    for img, m in zip(images, matchers):
        vals = img.pred_scores if key == "score" else img.pred_objectness
        base = (img.pred_objectness if key == "score" else img.pred_scores) >= floor
        levels = np.unique(vals[base])
        table = np.zeros((len(levels) + 1, 5), dtype=np.int64)  # last row: nothing kept
        for j, v in enumerate(levels):
            table[j] = m.count((base & (vals >= v)).tolist())
        totals += table[np.searchsorted(levels, ts, side="left")]
    gt = sum(m.num_gt_found for m in matchers)
    return [(float(t), _counts(len(images), gt, row)) for t, row in zip(ts, totals)]


def recommend(points: Sequence[tuple[float, Counts]], values: np.ndarray) -> float:
    """The threshold with the fewest edits (ties: the lowest), as the simplest equivalent decimal."""
    if not points:
        return 0.0
    best_t, _ = min(points, key=lambda p: (p[1].edits, p[0]))
    v = np.unique(np.asarray(values, dtype=np.float64))
    below = v[v < best_t]
    above = v[v >= best_t]
    if len(above) == 0:  # keeps nothing: anything above the largest value will do
        return simplest_threshold(float(v[-1]), best_t) if len(v) else 0.0
    lo = float(below[-1]) if len(below) else -1.0
    t = simplest_threshold(lo, float(above[0]))
    return max(t, 0.0)


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


def coco_metrics(images: Sequence[EvalImage], *, class_aware: bool = False, rank_by: str = "objectness",
                 classes: Sequence[str] | None = None) -> dict[str, Any]:
    """AP50, AR@100 and per-class AP50 by pycocotools' COCOeval (bbox).

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
    names = list(classes) if class_aware else ["object"]
    if class_aware and classes is None:
        raise ValueError("class-aware COCO metrics need the list of classes")
    cat_id = {n: i + 1 for i, n in enumerate(names)}
    gt_json: dict[str, Any] = {"images": [], "annotations": [], "categories": [{"id": i, "name": n} for n, i in cat_id.items()]}
    results: list[dict[str, Any]] = []
    num_gt = {n: 0 for n in names}
    for image_id, img in enumerate(images, 1):
        gt_json["images"].append({"id": image_id, "file_name": img.path})
        for b, lab, ig in zip(img.gt_boxes, img.gt_labels, img.gt_ignore):
            name = lab if class_aware else "object"
            if name not in cat_id:
                continue
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            gt_json["annotations"].append({"id": len(gt_json["annotations"]) + 1, "image_id": image_id,
                                           "category_id": cat_id[name], "bbox": [float(b[0]), float(b[1]), w, h],
                                           "area": w * h, "iscrowd": int(ig)})
            if not ig:
                num_gt[name] += 1
        ranks = img.pred_scores if rank_by == "score" else img.pred_objectness
        for b, cls, s in zip(img.pred_boxes, img.pred_classes, ranks):
            name = cls if class_aware else "object"
            if name not in cat_id:
                continue
            results.append({"image_id": image_id, "category_id": cat_id[name],
                            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])], "score": float(s)})
    has_gt = sum(num_gt.values()) > 0
    if not results or not has_gt:
        per = {n: (0.0 if num_gt[n] else None) for n in names}
        return {"ap50": 0.0 if has_gt else None, "ar100": 0.0 if has_gt else None, "per_class": per}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_json
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iouType="bbox")
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


# --------------------------------------------------------------------------------------------
# classes


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").casefold().split())


@dataclass(frozen=True)
class ClassMapping:
    """Which run labels count as which ground-truth class.

    Attributes:
        to_gt: run label -> ground-truth class.
        gt_to_run: ground-truth class -> the run labels that count as it (classes with none
            are absent).
        unmatched_gt: ground-truth classes no run label maps to.
        notes: class-map entries that name unknown classes.
    """

    to_gt: dict[str, str]
    gt_to_run: dict[str, tuple[str, ...]]
    unmatched_gt: tuple[str, ...]
    notes: tuple[str, ...] = ()


def load_class_map(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Read a class map: YAML ``gt_name: run_label`` or ``gt_name: [run_label, ...]``."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"class map {p}: cannot read YAML ({e})") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"class map {p}: expected a mapping 'ground-truth class: run label(s)'")
    out: dict[str, list[str]] = {}
    for k, v in data.items():
        vals = v if isinstance(v, list) else [v]
        if not all(isinstance(x, (str, int, float)) and str(x).strip() for x in vals) or not vals:
            raise ConfigError(f"class map {p}: {k!r} must map to a run label or a list of them, got {v!r}")
        out[str(k)] = [str(x) for x in vals]
    return out


def build_class_mapping(gt_classes: Sequence[str], run_classes: Sequence[str],
                        class_map: Mapping[str, str | Sequence[str]] | None = None) -> ClassMapping:
    """Map run labels to ground-truth classes.

    A class-map entry decides for its ground-truth class; other classes match run labels of
    the same name, compared without case and with ``_`` read as a space.
    """
    class_map = dict(class_map or {})
    notes = []
    run_by_norm: dict[str, list[str]] = {}
    for r in run_classes:
        run_by_norm.setdefault(_norm(r), []).append(r)
    gt_norm = {_norm(g): g for g in gt_classes}
    mapped_gt: dict[str, str] = {}  # class-map key -> GT class
    for k in class_map:
        g = k if k in gt_classes else gt_norm.get(_norm(k))
        if g is None:
            notes.append(f"class map names {k!r}, which is not a ground-truth class")
        else:
            mapped_gt[k] = g
    to_gt: dict[str, str] = {}

    def claim(run_label: str, g: str) -> None:
        prev = to_gt.get(run_label)
        if prev is not None and prev != g:
            raise ConfigError(f"run label {run_label!r} would count as both {prev!r} and {g!r}; give it to one class in the class map")
        to_gt[run_label] = g

    for k, g in mapped_gt.items():
        wanted = class_map[k]
        for r in [wanted] if isinstance(wanted, str) else wanted:
            found = r if r in run_classes else (run_by_norm.get(_norm(r)) or [None])[0]
            if found is None:
                notes.append(f"class map: {r!r} (for {g!r}) is not a label of this run")
                found = r
            claim(found, g)
    by_map = set(mapped_gt.values())
    for g in gt_classes:
        if g in by_map:
            continue
        for r in run_by_norm.get(_norm(g), []):
            if r not in to_gt:
                claim(r, g)
    gt_to_run: dict[str, tuple[str, ...]] = {}
    for r, g in sorted(to_gt.items()):
        gt_to_run[g] = gt_to_run.get(g, ()) + (r,)
    gt_to_run = {g: gt_to_run[g] for g in gt_classes if g in gt_to_run}
    unmatched = tuple(g for g in gt_classes if g not in gt_to_run)
    return ClassMapping(to_gt, gt_to_run, unmatched, tuple(notes))


# --------------------------------------------------------------------------------------------
# driver


def _r(v: float | None, nd: int = 6) -> float | None:
    return None if v is None else round(float(v), nd)


def _pair_images(store: RunStore, revision: str | None, gt: GroundTruth) -> tuple[list[tuple[GroundTruthImage, ImageAnnotations]], Any, list[str]]:
    """Pair GT images with run images; keeps in memory only run records that could pair.

    Returns the pairs (sorted by run path), the :class:`PathPairing`, and the unpaired GT
    paths whose image failed in the run (``failures.jsonl``)."""
    wanted = {key(g.path) for g in gt.images for _, key in RULES}
    run_paths: list[str] = []
    kept: dict[str, ImageAnnotations] = {}
    for img in store.iter_images(revision):
        run_paths.append(img.path)
        if any(key(img.path) in wanted for _, key in RULES):
            kept[img.path] = img
    pairing = pair_paths([g.path for g in gt.images], run_paths)
    by_path = {g.path: g for g in gt.images}
    pairs = sorted(((by_path[g], kept[r]) for g, r in pairing.pairs.items()), key=lambda p: p[1].path)
    failed: list[str] = []
    if pairing.gt_only:
        failures = [f.path for f in store.iter_failures()]
        failed = sorted(pair_paths(pairing.gt_only, failures).pairs)
    return pairs, pairing, failed


def _fit(g: GroundTruthImage, run: ImageAnnotations) -> tuple[GroundTruthImage | None, str | None]:
    """GT boxes in the run image's pixels, or None and a reason when the sizes disagree."""
    if g.normalized or g.width is None or g.height is None or (g.width, g.height) == (run.width, run.height):
        return g.fit_to(run.width, run.height), None
    ga, ra = g.width / g.height, run.width / run.height
    if abs(ga - ra) <= ASPECT_TOLERANCE * ra:
        return g.fit_to(run.width, run.height), f"{run.path}: labelled at {g.width}x{g.height}, run image is {run.width}x{run.height}: boxes scaled"
    return None, (f"{run.path}: labelled at {g.width}x{g.height} but the run image is {run.width}x{run.height} "
                  "(another aspect ratio: EXIF rotation?); left out")


def evaluate_run(
    run_dir: str | os.PathLike[str] | RunStore,
    gt: GroundTruth,
    *,
    revision: str | None = LATEST,
    iou: float = 0.5,
    score_threshold: float | None = None,
    objectness_threshold: float = 0.0,
    class_map: Mapping[str, Sequence[str]] | None = None,
    class_map_source: str | None = None,
) -> dict[str, Any]:
    """Evaluate a run against ground truth; returns the report (what ``evaluation.json`` holds).

    Args:
        run_dir: the run (or its :class:`RunStore`).
        gt: ground truth from :func:`autolabel.formats.read_groundtruth`.
        revision: ``"latest"`` (corrected revision if any), ``"original"`` or a revision name.
        iou: IoU for a match in the correction cost, sweep and per-class precision/recall.
        score_threshold: threshold for the correction cost; None = the recommended one.
        objectness_threshold: objectness threshold applied with it (and during the score sweep).
        class_map: ground-truth class -> run labels (see :func:`build_class_mapping`).
        class_map_source: where the class map came from (recorded in the report).
    """
    if not 0.0 < iou <= 1.0:
        raise ConfigError(f"--iou must be in (0, 1], got {iou}")
    for name, v in (("score threshold", score_threshold), ("objectness threshold", objectness_threshold)):
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise ConfigError(f"{name} must be a number >= 0, got {v}")
    store = run_dir if isinstance(run_dir, RunStore) else RunStore(run_dir)
    info = store.info(revision)
    rev = info.revision
    pairs, pairing, failed = _pair_images(store, rev if rev is not None else "original", gt)
    mapping = build_class_mapping(gt.classes, info.classes, class_map)

    images: list[EvalImage] = []
    size_notes: list[str] = []
    left_out: list[str] = []
    for g, run in pairs:
        fitted, note = _fit(g, run)
        if note:
            size_notes.append(note)
        if fitted is None:
            left_out.append(run.path)
            continue
        dets = run.detections
        images.append(EvalImage.build(
            run.path, fitted.boxes, fitted.labels,
            [d.box for d in dets], [d.label for d in dets], [d.score for d in dets], [d.objectness for d in dets],
            gt_ignore=fitted.ignore, to_gt=mapping.to_gt,
        ))
    for n in size_notes:
        log.warning(n)

    all_scores = np.concatenate([i.pred_scores for i in images]) if images else np.zeros(0)
    all_obj = np.concatenate([i.pred_objectness for i in images]) if images else np.zeros(0)
    matchers = [GreedyMatcher.for_image(i, iou) for i in images]

    score_points = sweep(images, "score", sweep_thresholds(all_scores[all_obj >= objectness_threshold]),
                         fixed={"objectness": objectness_threshold}, iou=iou, matchers=matchers)
    obj_points = sweep(images, "objectness", sweep_thresholds(all_obj), iou=iou, matchers=matchers)
    rec_score = recommend(score_points, all_scores[all_obj >= objectness_threshold])
    rec_obj = recommend(obj_points, all_obj)
    chosen = rec_score if score_threshold is None else float(score_threshold)
    at_chosen = correction_cost(images, chosen, objectness_threshold, iou, matchers)
    at_zero = correction_cost(images, 0.0, objectness_threshold, iou, matchers)

    agnostic = coco_metrics(images, rank_by="objectness")
    cl, cl_hits, cl_n = corloc(images)

    class_aware: dict[str, Any] | None = None
    if mapping.gt_to_run:
        evaluated = list(mapping.gt_to_run)
        aware = coco_metrics(images, class_aware=True, rank_by="score", classes=evaluated)
        per_class = {}
        for c in evaluated:
            sub = [_class_subset(i, c) for i in images]
            cnt = correction_cost(sub, chosen, objectness_threshold, iou)
            per_class[c] = {
                "run_labels": list(mapping.gt_to_run[c]), "gt_boxes": cnt.gt, "predictions": cnt.predictions,
                "matched": cnt.matched, "precision": _r(cnt.precision), "recall": _r(cnt.recall),
                "ap50": _r(aware["per_class"][c]),
            }
        unmapped = sum(1 for i in images for c, s, o in zip(i.pred_classes, i.pred_scores, i.pred_objectness)
                       if c is None and s >= chosen and o >= objectness_threshold)
        class_aware = {"ap50": _r(aware["ap50"]), "ranked_by": "score", "classes": per_class,
                       "unmapped_predictions": unmapped}

    n_pred = int(sum(len(i.pred_boxes) for i in images))
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "run": info.name,
        "revision": rev or "original",
        "groundtruth": {"path": str(gt.source), "format": gt.format, "classes": list(gt.classes), "notes": list(gt.notes)},
        "settings": {
            "iou": iou, "adjust_iou": ADJUST_IOU,
            "score_threshold": chosen, "score_threshold_source": "recommended" if score_threshold is None else "given",
            "objectness_threshold": objectness_threshold, "class_map": class_map_source,
        },
        "images": {
            "evaluated": len(images), "gt_boxes": int(sum(i.num_gt for i in images)), "predictions": n_pred,
            "paired_by": pairing.by_rule,
            "gt_without_run_image": list(pairing.gt_only),
            "gt_failed_in_run": failed,
            "run_without_gt": len(pairing.run_only),
            "run_without_gt_paths": list(pairing.run_only),
            "size_mismatch": size_notes, "left_out": left_out,
        },
        "class_agnostic": {
            "ap50": _r(agnostic["ap50"]), "ar100": _r(agnostic["ar100"]), "ranked_by": "objectness",
            "corloc": _r(cl), "corloc_hits": cl_hits, "corloc_images": cl_n,
        },
        "classes": {
            "gt_to_run": {g: list(r) for g, r in mapping.gt_to_run.items()},
            "gt_without_run_label": list(mapping.unmatched_gt), "notes": list(mapping.notes),
        },
        "class_aware": class_aware,
        "correction": {"at_threshold": {"score_threshold": chosen, **at_chosen.to_dict()},
                       "at_zero": {"score_threshold": 0.0, **at_zero.to_dict()}},
        "sweep": {
            "score": {"recommended": rec_score, "fixed_objectness": objectness_threshold,
                      "points": [{"threshold": t, **c.to_dict()} for t, c in score_points]},
            "objectness": {"recommended": rec_obj, "fixed_score": 0.0,
                           "points": [{"threshold": t, **c.to_dict()} for t, c in obj_points]},
        },
    }
    return report


def _class_subset(img: EvalImage, cls: str) -> EvalImage:
    gm = np.array([lab == cls for lab in img.gt_labels], dtype=bool).reshape(-1)
    pm = np.array([c == cls for c in img.pred_classes], dtype=bool).reshape(-1)
    return EvalImage(
        img.path, img.gt_boxes[gm], tuple(l for l, k in zip(img.gt_labels, gm) if k), img.gt_ignore[gm],
        img.pred_boxes[pm], tuple(l for l, k in zip(img.pred_labels, pm) if k),
        tuple(c for c, k in zip(img.pred_classes, pm) if k), img.pred_scores[pm], img.pred_objectness[pm],
    )


def write_evaluation(run_dir: str | os.PathLike[str], report: Mapping[str, Any], *, plot: bool = True) -> list[Path]:
    """Write ``evaluation.json`` (atomically) and, with ``plot``, ``evaluation.png`` into the run."""
    run_dir = Path(run_dir)
    out = [run_dir / EVALUATION_JSON]
    write_json_atomic(out[0], report)
    if plot:
        out.append(run_dir / EVALUATION_PNG)
        plot_evaluation(report, out[1])
    return out


def plot_evaluation(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Draw the PR curves and edits-per-image vs threshold into a PNG (atomically).

    Left: class-agnostic precision vs recall as the score (and objectness) threshold moves,
    with the chosen threshold marked. Right: edits per image (and each kind of edit) vs the
    score threshold, the recommended threshold marked; the objectness sweep's total dashed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    sw = report["sweep"]
    fig = Figure(figsize=(11, 4.4), dpi=100)
    FigureCanvasAgg(fig)  # draw with Agg whatever pyplot's backend is; pyplot is never imported
    ax1, ax2 = fig.subplots(1, 2)

    def xy(points: list[dict[str, Any]], x: str, y: str) -> tuple[list[float], list[float]]:
        pts = [(p[x], p[y]) for p in points if p[x] is not None and p[y] is not None]
        return [a for a, _ in pts], [b for _, b in pts]

    for key, style in (("score", "-"), ("objectness", "--")):
        r, p = xy(sw[key]["points"], "recall", "precision")
        ax1.plot(r, p, style, marker=".", ms=3, label=f"threshold on {key}")
    at = report["correction"]["at_threshold"]
    if at["recall"] is not None and at["precision"] is not None:
        ax1.plot([at["recall"]], [at["precision"]], "o", color="C3", label=f"score >= {at['score_threshold']:g}")
    ca = report["class_agnostic"]
    ap = "n/a" if ca["ap50"] is None else f"{ca['ap50']:.3f}"
    ax1.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="recall (boxes found)", ylabel="precision (boxes right)",
            title=f"Class-agnostic boxes at IoU {report['settings']['iou']:g} (AP50 {ap})")
    ax1.grid(alpha=0.3)
    ax1.legend(loc="lower left", fontsize=8)

    pts = sw["score"]["points"]
    t = [p["threshold"] for p in pts]
    n = max(1, report["images"]["evaluated"])
    ax2.plot(t, [p["edits_per_image"] for p in pts], "-", color="k", lw=2, drawstyle="steps-pre", label="all edits")
    for kind, color in (("delete", "C3"), ("draw", "C0"), ("relabel", "C2"), ("adjust", "C1")):
        ax2.plot(t, [p[kind] / n for p in pts], "-", color=color, lw=1, drawstyle="steps-pre", label=kind)
    to = [p["threshold"] for p in sw["objectness"]["points"]]
    ax2.plot(to, [p["edits_per_image"] for p in sw["objectness"]["points"]], "--", color="0.5", lw=1, drawstyle="steps-pre",
             label="all edits, threshold on objectness")
    rec = sw["score"]["recommended"]
    ax2.axvline(rec, color="C3", ls=":", label=f"fewest edits: score >= {rec:g}")
    ax2.set(xlim=(0, 1), xlabel="threshold", ylabel="edits per image",
            title=f"Correction work ({report['images']['evaluated']} labelled images)")
    ax2.grid(alpha=0.3)
    ax2.legend(loc="best", fontsize=8, framealpha=0.8)
    fig.tight_layout()

    with atomic_write(path, binary=True) as f:
        fig.savefig(f, format="png", metadata={"Software": None})
    return path
