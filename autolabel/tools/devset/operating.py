"""Operating points: the ``min_score`` that reaches a recall, and the precision it gives.

Raising ``min_score`` keeps fewer, surer boxes. For a target recall ``L`` the operating point
is the highest threshold whose cut of the records still finds ``L`` of the objects at IoU 0.5,
with the recall, precision and box count of exactly that cut, so a user reads off which
``--min-score`` suits their photos and what it costs (``autolabel devset ... --at-recall
0.15,0.1``).

Greedy matching takes boxes by descending score, so a cut at a threshold is a prefix of each
image's matching: the cut's matches are those of the whole records' boxes scoring at least
the threshold, and every threshold is read from one matching. Thresholds are rounded down to
4 decimals, and the numbers are those of that rounded cut. Records keep nothing under their own
``min_score``: a recall they do not reach has no point (make them with ``--set min_score=0``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DECIMALS = 4
"""Thresholds are rounded down to this many decimals (what a user types)."""


@dataclass(frozen=True)
class OperatingPoint:
    """The cut of some records at ``min_score`` that reaches ``target`` recall."""

    target: float
    """The recall asked for, in ``(0, 1]``."""
    min_score: float | None
    """The highest threshold (rounded down to :data:`DECIMALS`) reaching it; None: not reached."""
    recall: float | None
    precision: float | None
    boxes: int
    """Boxes the cut keeps (those on crowd regions not counted, as for precision)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def operating_points(scores: Sequence[np.ndarray], matches: Sequence[np.ndarray], num_gt: int,
                     targets: Sequence[float]) -> list[OperatingPoint]:
    """The operating point of each of ``targets``.

    Args:
        scores: per image, its boxes' scores ``(P,)``.
        matches: per image, its boxes' greedy matches at IoU 0.5 ``(P,)``: a ground-truth
            index, -1 unmatched, -2 on a crowd region (counted nowhere).
        num_gt: the objects to find (crowd regions not counted).
        targets: recalls in ``(0, 1]``.
    """
    s = [np.asarray(a, dtype=np.float64)[np.asarray(m) != -2] for a, m in zip(scores, matches)]
    h = [np.asarray(m)[np.asarray(m) != -2] >= 0 for m in matches]
    score = np.concatenate(s) if s else np.zeros(0)
    hit = np.concatenate(h) if h else np.zeros(0, bool)
    order = np.argsort(-score, kind="stable")
    score, hit = score[order], hit[order]
    found = np.cumsum(hit)
    out = []
    for target in targets:
        reach = np.flatnonzero(found >= target * num_gt - 1e-9) if num_gt else np.zeros(0, int)
        if not len(reach):
            out.append(OperatingPoint(float(target), None, None, None, 0))
            continue
        t = math.floor(float(score[reach[0]]) * 10 ** DECIMALS + 1e-6) / 10 ** DECIMALS  # 0.37 stays 0.37
        kept = int((score >= t).sum())
        tp = int(found[kept - 1])
        out.append(OperatingPoint(float(target), t, tp / num_gt, tp / kept, kept))
    return out
