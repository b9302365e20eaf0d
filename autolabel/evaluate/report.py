"""The evaluation report: dataclasses that hold the numbers, ``to_dict()`` for ``evaluation.json``.

The sections mirror the JSON document (schema :data:`SCHEMA`): ``groundtruth``, ``settings``,
``images``, ``class_agnostic``, ``classes``, ``class_aware`` (None without a class in common),
``correction`` and ``sweep``. The dataclasses keep full precision; ``to_dict`` rounds rates
to 6 decimals, as the file always did. Boxes are counted, never stored, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autolabel.evaluate.classmap import ClassMapping
from autolabel.evaluate.metrics import Counts, rounded

SCHEMA = "autolabel.evaluation/1"


@dataclass(frozen=True)
class GroundTruthSource:
    """The ground truth evaluated against: where it came from, its format, classes and notes."""

    path: str
    format: str
    classes: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "classes": list(self.classes), "notes": list(self.notes)}


@dataclass(frozen=True)
class Settings:
    """The thresholds used: match IoU, adjust IoU, score (given or recommended), objectness."""

    iou: float
    adjust_iou: float
    score_threshold: float
    score_threshold_source: str
    """``recommended`` (fewest edits) or ``given``."""
    objectness_threshold: float
    class_map: str | None = None
    """Where the class map came from (a path), or None."""
    iou_type: str = "bbox"
    """What the COCO AP/AR compare: ``bbox`` (boxes) or ``segm`` (instance masks)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "iou": self.iou, "adjust_iou": self.adjust_iou,
            "score_threshold": self.score_threshold, "score_threshold_source": self.score_threshold_source,
            "objectness_threshold": self.objectness_threshold, "class_map": self.class_map, "iou_type": self.iou_type,
        }


@dataclass(frozen=True)
class ImageCoverage:
    """Which images took part: counts, and the paths that could not be paired or were left out.

    Attributes:
        evaluated: images with both ground truth and a run record, boxes in the same pixels.
        gt_boxes: ground-truth boxes to find (crowd regions excluded); predictions: run boxes.
        paired_by: pairing rule -> images paired by it (``path``, ``name``, ...).
        gt_without_run_image: labelled images the run does not have.
        gt_failed_in_run: of those, the ones the run could not read (``failures.jsonl``).
        run_without_gt_paths: run images without ground truth (not evaluated).
        size_mismatch: notes on images labelled at another size.
        left_out: run paths left out because their aspect ratio differs from the labelled one.
    """

    evaluated: int
    gt_boxes: int
    predictions: int
    paired_by: dict[str, int]
    gt_without_run_image: tuple[str, ...] = ()
    gt_failed_in_run: tuple[str, ...] = ()
    run_without_gt_paths: tuple[str, ...] = ()
    size_mismatch: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()

    @property
    def run_without_gt(self) -> int:
        return len(self.run_without_gt_paths)

    def to_dict(self) -> dict[str, Any]:
        return {
            "evaluated": self.evaluated, "gt_boxes": self.gt_boxes, "predictions": self.predictions,
            "paired_by": dict(self.paired_by),
            "gt_without_run_image": list(self.gt_without_run_image),
            "gt_failed_in_run": list(self.gt_failed_in_run),
            "run_without_gt": self.run_without_gt,
            "run_without_gt_paths": list(self.run_without_gt_paths),
            "size_mismatch": list(self.size_mismatch), "left_out": list(self.left_out),
        }


@dataclass(frozen=True)
class BoxQuality:
    """Class-agnostic box quality: COCO AP50 and AR@100 (ranked by objectness) and CorLoc."""

    ap50: float | None
    ar100: float | None
    corloc: float | None
    corloc_hits: int
    corloc_images: int
    ranked_by: str = "objectness"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ap50": rounded(self.ap50), "ar100": rounded(self.ar100), "ranked_by": self.ranked_by,
            "corloc": rounded(self.corloc), "corloc_hits": self.corloc_hits, "corloc_images": self.corloc_images,
        }


@dataclass(frozen=True)
class ClassResult:
    """One ground-truth class at the chosen threshold: counts, precision, recall, AP50."""

    run_labels: tuple[str, ...]
    gt_boxes: int
    predictions: int
    matched: int
    precision: float | None
    recall: float | None
    ap50: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_labels": list(self.run_labels), "gt_boxes": self.gt_boxes, "predictions": self.predictions,
            "matched": self.matched, "precision": rounded(self.precision), "recall": rounded(self.recall),
            "ap50": rounded(self.ap50),
        }


@dataclass(frozen=True)
class LabelQuality:
    """Class-aware quality over the ground-truth classes some run label maps to.

    Attributes:
        ap50: class-aware COCO AP50 (boxes ranked by score).
        classes: ground-truth class -> its :class:`ClassResult`, in ground-truth order.
        unmapped_predictions: kept predictions whose label maps to no ground-truth class.
    """

    ap50: float | None
    classes: dict[str, ClassResult]
    unmapped_predictions: int
    ranked_by: str = "score"

    def to_dict(self) -> dict[str, Any]:
        return {"ap50": rounded(self.ap50), "ranked_by": self.ranked_by,
                "classes": {c: r.to_dict() for c, r in self.classes.items()},
                "unmapped_predictions": self.unmapped_predictions}


@dataclass(frozen=True)
class CostAt:
    """The correction cost at one score threshold."""

    score_threshold: float
    counts: Counts

    def to_dict(self) -> dict[str, Any]:
        return {"score_threshold": self.score_threshold, **self.counts.to_dict()}


@dataclass(frozen=True)
class Correction:
    """The correction cost at the chosen threshold and with every box kept (score >= 0)."""

    at_threshold: CostAt
    at_zero: CostAt

    def to_dict(self) -> dict[str, Any]:
        return {"at_threshold": self.at_threshold.to_dict(), "at_zero": self.at_zero.to_dict()}


@dataclass(frozen=True)
class SweepCurve:
    """The correction cost at each threshold on ``key`` (``score`` or ``objectness``), the other
    key held at ``fixed``; ``recommended`` is the threshold with the fewest edits."""

    key: str
    recommended: float
    fixed: float
    points: tuple[tuple[float, Counts], ...]

    def best(self) -> tuple[float, Counts]:
        """The point with the fewest edits (ties: the lowest threshold)."""
        return min(self.points, key=lambda p: (p[1].edits, p[0]))

    def to_dict(self) -> dict[str, Any]:
        other = "objectness" if self.key == "score" else "score"
        return {"recommended": self.recommended, f"fixed_{other}": self.fixed,
                "points": [{"threshold": t, **c.to_dict()} for t, c in self.points]}


@dataclass(frozen=True)
class Sweep:
    """Both sweeps: on the score (objectness fixed) and on the objectness (score >= 0)."""

    score: SweepCurve
    objectness: SweepCurve

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score.to_dict(), "objectness": self.objectness.to_dict()}


@dataclass(frozen=True)
class EvaluationReport:
    """Everything :func:`autolabel.evaluate.evaluate_run` found; ``to_dict()`` is ``evaluation.json``.

    Attributes:
        run: the run's name; revision: the revision evaluated (``original`` for the predictions).
        class_aware: None when no ground-truth class matches a run label.
    """

    run: str
    revision: str
    groundtruth: GroundTruthSource
    settings: Settings
    images: ImageCoverage
    class_agnostic: BoxQuality
    classes: ClassMapping
    class_aware: LabelQuality | None
    correction: Correction
    sweep: Sweep
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (keys in the order of ``evaluation.json``)."""
        return {
            "schema": self.schema,
            "run": self.run,
            "revision": self.revision,
            "groundtruth": self.groundtruth.to_dict(),
            "settings": self.settings.to_dict(),
            "images": self.images.to_dict(),
            "class_agnostic": self.class_agnostic.to_dict(),
            "classes": {
                "gt_to_run": {g: list(r) for g, r in self.classes.gt_to_run.items()},
                "gt_without_run_label": list(self.classes.unmatched_gt), "notes": list(self.classes.notes),
            },
            "class_aware": None if self.class_aware is None else self.class_aware.to_dict(),
            "correction": self.correction.to_dict(),
            "sweep": self.sweep.to_dict(),
        }
