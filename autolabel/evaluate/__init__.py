"""Pre-annotations against a hand-labelled sample: how good are the boxes, how much work is left.

Modules: :mod:`~autolabel.evaluate.matching` (the greedy match rule),
:mod:`~autolabel.evaluate.metrics` (correction cost, CorLoc, COCO AP/AR),
:mod:`~autolabel.evaluate.sweep` (threshold sweep and recommendation),
:mod:`~autolabel.evaluate.classmap` (run labels -> ground-truth classes),
:mod:`~autolabel.evaluate.report` (the report dataclasses, ``to_dict()`` = ``evaluation.json``),
:mod:`~autolabel.evaluate.plot` (``evaluation.png``) and :mod:`~autolabel.evaluate.run`
(:func:`evaluate_run`, :func:`write_evaluation`).

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

from autolabel.evaluate.classmap import (
    ClassMapping,
    build_class_mapping,
    load_class_map,
)
from autolabel.evaluate.report import SCHEMA, EvaluationReport
from autolabel.evaluate.run import (
    EVALUATION_JSON,
    EVALUATION_PNG,
    evaluate_run,
    write_evaluation,
)

__all__ = [
    "EVALUATION_JSON",
    "EVALUATION_PNG",
    "SCHEMA",
    "ClassMapping",
    "EvaluationReport",
    "build_class_mapping",
    "evaluate_run",
    "load_class_map",
    "write_evaluation",
]
