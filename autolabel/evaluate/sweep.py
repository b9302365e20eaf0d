"""The threshold sweep: correction cost at many thresholds, and the recommended one."""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from autolabel.evaluate.matching import EvalImage, GreedyMatcher
from autolabel.evaluate.metrics import Counts, counts_from_row, matchers_for

MAX_SWEEP_POINTS = 200
"""At most this many distinct thresholds per sweep (spread over the observed values)."""
SWEEP_GRID = tuple(round(0.05 * i, 2) for i in range(21))
"""Thresholds always in the sweep (0, 0.05, ..., 1), so curves of two runs line up."""


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
    matchers = matchers_for(images, iou, matchers)
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
    return [(float(t), counts_from_row(len(images), gt, row)) for t, row in zip(ts, totals)]


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
