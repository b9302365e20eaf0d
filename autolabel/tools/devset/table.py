"""Markdown tables of :class:`~autolabel.tools.devset.quality.QualityReport` s."""

from __future__ import annotations

from typing import Any

from autolabel.tools.devset.quality import QualityReport

SETTINGS = ("discovery", "min_score", "max_boxes", "objectness_weight", "background_sides", "background_area",
            "background_penalty", "max_scenery_share", "scenery_power", "small_area", "small_penalty")
"""The config settings a quality report records (those that decide what is exported)."""

COLUMNS = (("AP50", "ap50"), ("AR100", "ar100"), ("recall@0.5", "recall50"), ("precision@0.5", "precision50"),
           ("CorLoc", "corloc"), ("edits/image", "edits_per_image"), ("segm AP50", "segm_ap50"),
           ("mask IoU (median)", "mask_iou_median"), ("inverted", "inverted_share"), ("score AUC", "score_auc"))


def settings_of(cfg: Any) -> dict[str, Any]:
    """The settings of ``cfg`` named in :data:`SETTINGS` (those it has)."""
    return {k: getattr(cfg, k) for k in SETTINGS if hasattr(cfg, k)}


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def format_quality(report: QualityReport) -> str:
    """One report as a Markdown table: a row for all images, each size bucket, each folder."""
    speed = "" if report.seconds_per_image is None else f", {report.seconds_per_image:.2f} s/image"
    sets = ", ".join(f"{k}={v}" for k, v in report.settings.items())
    head = (f"{report.name} on {report.split}: {report.images} images, {report.gt} objects{speed}"
            + (f" ({sets})" if sets else "") + (f"; {report.failures} failed" if report.failures else ""))
    lines = [head, "", "| slice | images | objects | boxes | " + " | ".join(c for c, _ in COLUMNS) + " |",
             "|---" * (4 + len(COLUMNS)) + "|"]
    for r in report.rows:
        slice_ = r.group if r.bucket == "all" else f"{r.bucket} objects"
        cells = " | ".join(_f(getattr(r, k)) for _, k in COLUMNS)
        lines.append(f"| {slice_} | {r.images} | {r.gt} | {r.predictions} | {cells} |")
    if report.operating:
        lines += _points("Operating points (the highest min_score reaching each recall; a cut of these records there):",
                         "recall at least", report.operating)
    if report.keeping:
        lines += _points("Operating points (the lowest min_score keeping each precision: the most objects found at it; "
                         "a cut of these records there):", "precision at least", report.keeping)
    return "\n".join(lines)


def _points(title: str, asked: str, points: list[Any]) -> list[str]:
    """A table of operating points (:class:`~autolabel.tools.devset.operating.OperatingPoint`)."""
    lines = ["", title, "", f"| {asked} | min_score | boxes | recall@0.5 | precision@0.5 |", "|---|---|---|---|---|"]
    for p in points:
        t = "not reached" if p.min_score is None else f"{p.min_score:.4f}"
        lines.append(f"| {p.target:g} | {t} | {p.boxes} | {_f(p.recall)} | {_f(p.precision)} |")
    return lines
