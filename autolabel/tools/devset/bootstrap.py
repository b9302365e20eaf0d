"""How far the metrics of some labelled photos can move when the photos change: a photo
bootstrap, for one set of records (``autolabel devset --intervals``) or for the difference
between two on the same photos (``--baseline A.jsonl``).

On 50 to 150 photos a metric moves by several points with the photos drawn, and one setting
often beats another by a point or two of precision through a handful of boxes crossing IoU
0.5. :func:`intervals` says how precise each number is; :func:`compare` says whether a gap
between two settings is more than that.

**Intervals** (:func:`intervals`): the photos are resampled with replacement ``resamples``
times (a fixed seed, so the numbers repeat) and each metric is summarised by its value on the
photos themselves and the 5th and 95th percentiles of its resampled values (a 90 % interval).

**Differences** (:func:`compare`, a paired photo bootstrap): the photos measured by both are
resampled the same way, the same resample for both sides; each metric is computed on both
sides of every resample, and the difference
(this minus baseline) is summarised by its value on the photos themselves, the 5th and 95th
percentiles of the resampled differences (a 90 % interval) and the share of resamples in
which this side is ahead (ties count half). Each metric is computed from each photo's greedy
matches at IoU 0.5 (boxes by descending ``score``; boxes on crowd regions count nowhere):

* **AP50**: COCO's 101-point interpolated average precision of the boxes ranked by score
  (what pycocotools gives without crowd regions, at most 100 boxes a photo);
* **recall@0.5**, **precision@0.5**, **CorLoc** (the photo's top-score box matches an object;
  photos without objects not counted), as in :mod:`autolabel.tools.devset.quality`;
* **mask IoU (median)** of the box-matched pairs on photos whose every object has a mask;
* **precision at recall R** for each ``--at-recall`` target: the precision of the highest
  cut reaching ``R`` (:func:`~autolabel.tools.devset.operating.operating_points`).

A metric a resample leaves undefined (on either side: no matched masks, a recall not reached)
is left out of that resample; ``defined`` says in how many it was defined. With photos in two
or more top-level folders, AP50, recall, precision and CorLoc are also compared per folder of
at least :data:`FOLDER_PHOTOS` photos (each folder's photos resampled on their own): a setting
can gain on one source of photos and lose on another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from autolabel.errors import InputError
from autolabel.formats.base import GroundTruthImage
from autolabel.tools.devset.labelled import group_of
from autolabel.tools.devset.operating import operating_points
from autolabel.tools.devset.rounding import rounded
from autolabel.types import ImageAnnotations

if TYPE_CHECKING:
    from autolabel.tools.devset.quality import Prepared

RESAMPLES = 1000
"""Photo resamples of intervals and comparisons (``--resamples``)."""
SEED = 0
"""The resamples' seed: the same records give the same intervals."""
INTERVAL = (5.0, 95.0)
"""Percentiles of the resampled values (or differences) reported: a 90 % interval."""
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
"""COCO's recall thresholds for interpolated AP."""
MAX_BOXES = 100
"""COCO's AP50 counts at most this many boxes a photo (the highest-scoring)."""
HEADLINE = 4
"""The first metrics of :func:`metrics` (AP50, recall, precision, CorLoc) are also compared per folder."""
FOLDER_PHOTOS = 5
"""A folder is compared on its own from this many photos (fewer resample to nothing)."""


@dataclass(frozen=True)
class PhotoResult:
    """One photo's matches, all a metric of the comparison needs.

    ``scores`` and ``hits`` are ``(P,)``: the counted boxes' scores and whether each matched
    an object (boxes on crowd regions dropped).
    """

    path: str
    scores: np.ndarray
    hits: np.ndarray
    gt: int
    """Objects to find (crowd regions not counted)."""
    corloc: bool | None
    """Whether the top-score box matches some object; None without objects."""
    mask_ious: np.ndarray
    """``(M,)`` mask IoU of each box-matched pair; empty unless every object has a mask."""


@dataclass(frozen=True)
class Difference:
    """One metric on both sides and what the resamples say of their difference."""

    metric: str
    baseline: float | None
    value: float | None
    difference: float | None
    low: float | None
    """5th percentile of the resampled differences."""
    high: float | None
    """95th percentile of the resampled differences."""
    ahead: float | None
    """Share of resamples in which this side is ahead (ties half)."""
    defined: int
    """Resamples in which the metric is defined on both sides."""

    @property
    def verdict(self) -> str:
        """``better`` / ``worse`` when the 90 % interval excludes 0, else ``within noise``."""
        if self.low is None or self.high is None:
            return "undefined"
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "within noise"

    def to_dict(self) -> dict[str, Any]:
        out = rounded(self.__dict__)
        out["verdict"] = self.verdict
        return out


@dataclass(frozen=True)
class Interval:
    """One metric on the photos themselves and the 90 % interval of its resampled values."""

    metric: str
    value: float | None
    low: float | None
    """5th percentile of the resampled values."""
    high: float | None
    """95th percentile of the resampled values."""
    defined: int
    """Resamples in which the metric is defined."""

    def to_dict(self) -> dict[str, Any]:
        return rounded(self.__dict__)


@dataclass
class PairedReport:
    """A comparison of one side's records with the baseline's, photo by photo."""

    baseline: str
    photos: int
    resamples: int
    rows: list[Difference] = field(default_factory=list)
    left_out: int = 0
    """Photos measured on one side only (left out of the comparison)."""
    folders: dict[str, tuple[int, list[Difference]]] = field(default_factory=dict)
    """Per top-level folder (when there are two or more; those of :data:`FOLDER_PHOTOS` photos or
    more): its photo count and its headline metrics' rows."""

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "photos": self.photos, "left_out": self.left_out,
                "resamples": self.resamples, "interval": list(INTERVAL), "rows": [r.to_dict() for r in self.rows],
                "folders": {f: {"photos": n, "rows": [r.to_dict() for r in rows]} for f, (n, rows) in self.folders.items()}}


def photo_results(pairs: Sequence[tuple[GroundTruthImage, ImageAnnotations]]) -> list[PhotoResult]:
    """Each photo's greedy matches at IoU 0.5, its CorLoc hit and its matched masks' IoUs."""
    from autolabel.tools.devset.quality import prepare

    return results_of(prepare(pairs))


def results_of(images: Sequence[Prepared]) -> list[PhotoResult]:
    """:func:`photo_results` of images already matched by
    :func:`autolabel.tools.devset.quality.prepare` (what :func:`~autolabel.tools.devset.quality.measure`
    measured, so the greedy matching runs once)."""
    from autolabel.evaluate.metrics import corloc
    from autolabel.tools.devset.quality import matched_mask_ious, with_masks

    out = []
    for im in images:
        ev, counted = im.eval, im.match != -2
        hit = corloc([ev])
        out.append(PhotoResult(ev.path, np.asarray(ev.pred_scores, dtype=np.float64)[counted], im.match[counted] >= 0,
                               int((~ev.gt_ignore).sum()) if len(ev.gt_ignore) else 0,
                               None if hit[2] == 0 else bool(hit[1]),
                               np.asarray(matched_mask_ious(im) if with_masks(im) else [], dtype=np.float64)))
    return out


def ap50(photos: Sequence[PhotoResult]) -> float | None:
    """COCO's 101-point interpolated AP of the photos' boxes ranked by score; None without objects."""
    gt = sum(p.gt for p in photos)
    if not gt:
        return None
    tops = [np.argsort(-p.scores, kind="stable")[:MAX_BOXES] for p in photos]
    scores = np.concatenate([p.scores[t] for p, t in zip(photos, tops)]) if photos else np.zeros(0)
    hits = np.concatenate([p.hits[t] for p, t in zip(photos, tops)]) if photos else np.zeros(0, bool)
    if not len(scores):
        return 0.0
    order = np.argsort(-scores, kind="mergesort")
    tp = np.cumsum(hits[order])
    recall = tp / gt
    precision = np.maximum.accumulate((tp / np.arange(1, len(tp) + 1))[::-1])[::-1]
    at = np.searchsorted(recall, RECALL_POINTS, side="left")
    return float(np.where(at < len(precision), precision[np.minimum(at, len(precision) - 1)], 0.0).mean())


def _recall(photos: Sequence[PhotoResult]) -> float | None:
    gt = sum(p.gt for p in photos)
    return sum(int(p.hits.sum()) for p in photos) / gt if gt else None


def _precision(photos: Sequence[PhotoResult]) -> float | None:
    boxes = sum(len(p.hits) for p in photos)
    return sum(int(p.hits.sum()) for p in photos) / boxes if boxes else None


def _corloc(photos: Sequence[PhotoResult]) -> float | None:
    hits = [p.corloc for p in photos if p.corloc is not None]
    return sum(hits) / len(hits) if hits else None


def _mask_median(photos: Sequence[PhotoResult]) -> float | None:
    ious = [p.mask_ious for p in photos if len(p.mask_ious)]
    return float(np.median(np.concatenate(ious))) if ious else None


def _precision_at(target: float) -> Callable[[Sequence[PhotoResult]], float | None]:
    def metric(photos: Sequence[PhotoResult]) -> float | None:
        point = operating_points([p.scores for p in photos], [np.where(p.hits, 0, -1) for p in photos],
                                 sum(p.gt for p in photos), [target])[0]
        return point.precision

    return metric


def metrics(at_recall: Sequence[float] = ()) -> list[tuple[str, Callable[[Sequence[PhotoResult]], float | None]]]:
    """The compared metrics, by name, in table order."""
    return [("AP50", ap50), ("recall@0.5", _recall), ("precision@0.5", _precision), ("CorLoc", _corloc),
            ("mask IoU (median)", _mask_median),
            *((f"precision at recall {t:g}", _precision_at(t)) for t in at_recall)]


def intervals(photos: Sequence[PhotoResult], at_recall: Sequence[float] = (), resamples: int = RESAMPLES,
              seed: int = SEED) -> list[Interval]:
    """Each metric of :func:`metrics` on ``photos`` and its 90 % interval over ``resamples``
    photo resamples (module doc). Raises :class:`~autolabel.errors.InputError` without photos."""
    if not photos:
        raise InputError("no photo to resample")
    draws = np.random.default_rng(seed).integers(0, len(photos), size=(resamples, len(photos)))
    out = []
    for name, metric in metrics(at_recall):
        vals = np.asarray([v for v in (metric([photos[i] for i in idx]) for idx in draws) if v is not None])
        out.append(Interval(name, metric(photos), float(np.percentile(vals, INTERVAL[0])) if len(vals) else None,
                            float(np.percentile(vals, INTERVAL[1])) if len(vals) else None, len(vals)))
    return out


def format_intervals(rows: Sequence[Interval], photos: int, resamples: int) -> str:
    """:func:`intervals` as a text table."""
    lines = [f"{INTERVAL[1] - INTERVAL[0]:g}% intervals over {resamples} resamples of the {photos} photos",
             f"{'metric':<28} {'value':>9}  interval"]
    for r in rows:
        interval = "-" if r.low is None or r.high is None else f"[{r.low:.4f}, {r.high:.4f}]"
        lines.append(f"{r.metric:<28} {'-' if r.value is None else f'{r.value:.4f}':>9}  {interval}")
    return "\n".join(lines)


def compare(this: Sequence[PhotoResult], baseline: Sequence[PhotoResult], baseline_name: str = "",
            at_recall: Sequence[float] = (), resamples: int = RESAMPLES, seed: int = SEED) -> PairedReport:
    """The paired photo bootstrap (module doc) of ``this`` against ``baseline``.

    Photos are paired by path; those on one side only are left out (counted in
    ``left_out``). Raises :class:`~autolabel.errors.InputError` when no photo is on both sides.
    """
    base_by = {p.path: p for p in baseline}
    this_by = {p.path: p for p in this}
    common = [path for path in this_by if path in base_by]
    if not common:
        raise InputError(f"no photo is measured both here and in the baseline {baseline_name or ''}".rstrip())
    a = [base_by[p] for p in common]
    b = [this_by[p] for p in common]
    left_out = len(set(base_by) ^ set(this_by))
    rng = np.random.default_rng(seed)
    report = PairedReport(baseline_name, len(common), resamples, _differences(b, a, metrics(at_recall), rng, resamples),
                          left_out)
    folders = sorted({group_of(p) for p in common})
    if len(folders) > 1:
        for folder in folders:
            idx = [k for k, p in enumerate(common) if group_of(p) == folder]
            if len(idx) < FOLDER_PHOTOS:
                continue
            report.folders[folder] = (len(idx), _differences([b[k] for k in idx], [a[k] for k in idx],
                                                            metrics()[:HEADLINE], rng, resamples))
    return report


def _differences(this: Sequence[PhotoResult], baseline: Sequence[PhotoResult],
                 named: Sequence[tuple[str, Callable[[Sequence[PhotoResult]], float | None]]],
                 rng: np.random.Generator, resamples: int) -> list[Difference]:
    """Each metric's :class:`Difference` over ``resamples`` paired draws of the photos."""
    draws = rng.integers(0, len(this), size=(resamples, len(this)))
    out = []
    for name, metric in named:
        va, vb = metric(baseline), metric(this)
        diffs = []
        for idx in draws:
            ra, rb = metric([baseline[i] for i in idx]), metric([this[i] for i in idx])
            if ra is not None and rb is not None:
                diffs.append(rb - ra)
        d = np.asarray(diffs)
        out.append(Difference(
            name, va, vb, None if va is None or vb is None else vb - va,
            float(np.percentile(d, INTERVAL[0])) if len(d) else None,
            float(np.percentile(d, INTERVAL[1])) if len(d) else None,
            float(((d > 0).sum() + 0.5 * (d == 0).sum()) / len(d)) if len(d) else None, len(d)))
    return out


def format_paired(report: PairedReport) -> str:
    """The comparison as a text table (per-folder rows after the whole set's)."""
    def num(v: float | None, signed: bool = False) -> str:
        return "-" if v is None else (f"{v:+.4f}" if signed else f"{v:.4f}")

    def line(label: str, r: Difference) -> str:
        interval = f"[{num(r.low, True)}, {num(r.high, True)}]" if r.low is not None else "-"
        ahead = "-" if r.ahead is None else f"{100 * r.ahead:.0f}%"
        return (f"{label:<28} {num(r.baseline):>9} {num(r.value):>9} {num(r.difference, True):>9}  "
                f"{interval:<19} {ahead:>6}  {r.verdict}")

    head = (f"against {report.baseline}: {report.photos} photos on both sides"
            + (f" ({report.left_out} on one side only, left out)" if report.left_out else "")
            + f", {report.resamples} photo resamples, {INTERVAL[1] - INTERVAL[0]:g}% interval of the difference")
    lines = [head, f"{'metric':<28} {'baseline':>9} {'this':>9} {'diff':>9}  {'interval':<19} {'ahead':>6}  verdict"]
    lines += [line(r.metric, r) for r in report.rows]
    for folder, (n, rows) in report.folders.items():
        lines.append(f"{folder} ({n} photos)")
        lines += [line(f"  {r.metric}", r) for r in rows]
    return "\n".join(lines)
