"""Operating points: the ``min_score`` that reaches a recall or keeps a precision, and what
that cut gives.

Raising ``min_score`` keeps fewer, surer boxes. Two questions, each answered with the recall,
precision and box count of exactly the cut it names, so a user reads off which
``--min-score`` suits their photos and what it costs:

* ``--at-recall 0.15,0.1`` (:func:`operating_points`): for a target recall ``L``, the highest
  threshold whose cut of the records still finds ``L`` of the objects at IoU 0.5;
* ``--at-precision 0.5,0.35`` (:func:`precision_points`): for a target precision ``P``, the
  lowest threshold whose cut keeps ``P`` of its boxes right: the most objects found at that
  precision. Precision is not monotonic in the threshold; every threshold a box's score gives
  is tried, so a cut above ``P`` is never missed behind a dip.

Greedy matching takes boxes by descending score, so a cut at a threshold is a prefix of each
image's matching: the cut's matches are those of the whole records' boxes scoring at least
the threshold, and every threshold is read from one matching. Thresholds are rounded down to
4 decimals, and the numbers are those of that rounded cut. Records keep nothing under their own
``min_score``: a recall they do not reach has no point, and a precision point is never below
their ``min_score`` (make them with ``--set min_score=0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autolabel.tools.devset.rounding import rounded

DECIMALS = 4
"""Thresholds are rounded down to this many decimals (what a user types)."""


@dataclass(frozen=True)
class OperatingPoint:
    """The cut of some records at ``min_score`` that reaches ``target`` recall (or keeps
    ``target`` precision)."""

    target: float
    """The recall (or precision) asked for, in ``(0, 1]``."""
    min_score: float | None
    """The threshold (rounded down to :data:`DECIMALS`): the highest reaching the recall, or the
    lowest keeping the precision; None: not reached."""
    recall: float | None
    precision: float | None
    boxes: int
    """Boxes the cut keeps (those on crowd regions not counted, as for precision)."""

    def to_dict(self) -> dict[str, Any]:
        return rounded(self.__dict__)


def _ranked(scores: Sequence[np.ndarray], matches: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(score, found)``: every counted box's score, descending, and the objects matched by the
    boxes up to each one (boxes on crowd regions dropped: they count nowhere)."""
    s = [np.asarray(a, dtype=np.float64)[np.asarray(m) != -2] for a, m in zip(scores, matches)]
    h = [np.asarray(m)[np.asarray(m) != -2] >= 0 for m in matches]
    score = np.concatenate(s) if s else np.zeros(0)
    hit = np.concatenate(h) if h else np.zeros(0, bool)
    order = np.argsort(-score, kind="stable")
    return score[order], np.cumsum(hit[order])


def _typed(score: float | np.ndarray) -> float | np.ndarray:
    """Thresholds rounded down to :data:`DECIMALS` (0.37 stays 0.37): each keeps its box."""
    return np.floor(np.asarray(score) * 10 ** DECIMALS + 1e-6) / 10 ** DECIMALS


def _point(target: float, t: float, score: np.ndarray, found: np.ndarray, num_gt: int) -> OperatingPoint:
    """The cut of the ranked boxes at threshold ``t`` (it keeps at least one box)."""
    kept = int((score >= t).sum())
    tp = int(found[kept - 1])
    return OperatingPoint(float(target), float(t), tp / num_gt if num_gt else None, tp / kept, kept)


def operating_points(scores: Sequence[np.ndarray], matches: Sequence[np.ndarray], num_gt: int,
                     targets: Sequence[float]) -> list[OperatingPoint]:
    """The highest threshold reaching each of the recalls ``targets``, and its cut.

    Args:
        scores: per image, its boxes' scores ``(P,)``.
        matches: per image, its boxes' greedy matches at IoU 0.5 ``(P,)``: a ground-truth
            index, -1 unmatched, -2 on a crowd region (counted nowhere).
        num_gt: the objects to find (crowd regions not counted).
        targets: recalls in ``(0, 1]``.
    """
    score, found = _ranked(scores, matches)
    out = []
    for target in targets:
        reach = np.flatnonzero(found >= target * num_gt - 1e-9) if num_gt else np.zeros(0, int)
        if not len(reach):
            out.append(OperatingPoint(float(target), None, None, None, 0))
            continue
        out.append(_point(target, float(_typed(score[reach[0]])), score, found, num_gt))
    return out


def precision_points(scores: Sequence[np.ndarray], matches: Sequence[np.ndarray], num_gt: int,
                     targets: Sequence[float]) -> list[OperatingPoint]:
    """The lowest threshold whose cut keeps each of the precisions ``targets`` (the most objects
    found at that precision), and its cut; arguments as for :func:`operating_points`, with
    ``targets`` precisions in ``(0, 1]``. Every distinct rounded score is tried as a threshold."""
    score, found = _ranked(scores, matches)
    thresholds = np.unique(_typed(score))  # ascending
    kept = np.searchsorted(-score, -thresholds, side="right")  # boxes scoring at least each
    precision = found[kept - 1] / kept  # every threshold keeps its own box: kept >= 1
    out = []
    for target in targets:
        ok = np.flatnonzero(precision >= target - 1e-12)
        if not len(ok):
            out.append(OperatingPoint(float(target), None, None, None, 0))
            continue
        out.append(_point(target, float(thresholds[ok[0]]), score, found, num_gt))
    return out
