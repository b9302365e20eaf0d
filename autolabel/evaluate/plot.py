"""``evaluation.png``: precision/recall curves and correction work against the threshold."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from autolabel.store import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from autolabel.evaluate.report import EvaluationReport


def plot_evaluation(report: EvaluationReport, path: str | os.PathLike[str]) -> Path:
    """Draw the PR curves and edits-per-image vs threshold into a PNG (atomically).

    Left: class-agnostic precision vs recall as the score (and objectness) threshold moves,
    with the chosen threshold marked. Right: edits per image (and each kind of edit) vs the
    score threshold, the recommended threshold marked; the objectness sweep's total dashed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    sw = report.sweep
    fig = Figure(figsize=(11, 4.4), dpi=100)
    FigureCanvasAgg(fig)  # draw with Agg whatever pyplot's backend is; pyplot is never imported
    ax1, ax2 = fig.subplots(1, 2)

    for curve, style in ((sw.score, "-"), (sw.objectness, "--")):
        pts = [(c.recall, c.precision) for _, c in curve.points if c.recall is not None and c.precision is not None]
        ax1.plot([r for r, _ in pts], [p for _, p in pts], style, marker=".", ms=3, label=f"threshold on {curve.key}")
    at = report.correction.at_threshold
    if at.counts.recall is not None and at.counts.precision is not None:
        ax1.plot([at.counts.recall], [at.counts.precision], "o", color="C3", label=f"score >= {at.score_threshold:g}")
    ap50 = report.class_agnostic.ap50
    ap = "n/a" if ap50 is None else f"{ap50:.3f}"
    ax1.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="recall (boxes found)", ylabel="precision (boxes right)",
            title=f"Class-agnostic boxes at IoU {report.settings.iou:g} (AP50 {ap})")
    ax1.grid(alpha=0.3)
    ax1.legend(loc="lower left", fontsize=8)

    t = [th for th, _ in sw.score.points]
    counts = [c for _, c in sw.score.points]
    n = max(1, report.images.evaluated)
    ax2.plot(t, [c.edits_per_image for c in counts], "-", color="k", lw=2, drawstyle="steps-pre", label="all edits")
    for kind, color in (("delete", "C3"), ("draw", "C0"), ("relabel", "C2"), ("adjust", "C1")):
        ax2.plot(t, [getattr(c, kind) / n for c in counts], "-", color=color, lw=1, drawstyle="steps-pre", label=kind)
    ax2.plot([th for th, _ in sw.objectness.points], [c.edits_per_image for _, c in sw.objectness.points], "--",
             color="0.5", lw=1, drawstyle="steps-pre", label="all edits, threshold on objectness")
    rec = sw.score.recommended
    ax2.axvline(rec, color="C3", ls=":", label=f"fewest edits: score >= {rec:g}")
    ax2.set(xlim=(0, 1), xlabel="threshold", ylabel="edits per image",
            title=f"Correction work ({report.images.evaluated} labelled images)")
    ax2.grid(alpha=0.3)
    ax2.legend(loc="best", fontsize=8, framealpha=0.8)
    fig.tight_layout()

    with atomic_write(path, binary=True) as f:
        fig.savefig(f, format="png", metadata={"Software": None})
    return path
