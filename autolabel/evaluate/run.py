"""Evaluate a stored run against ground truth: pair images, fit boxes, compute the report."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from autolabel.errors import ConfigError
from autolabel.evaluate.classmap import build_class_mapping
from autolabel.evaluate.matching import ADJUST_IOU, EvalImage, GreedyMatcher
from autolabel.evaluate.metrics import IOU_TYPES, coco_metrics, corloc, correction_cost
from autolabel.evaluate.plot import plot_evaluation
from autolabel.evaluate.report import (
    BoxQuality,
    ClassResult,
    Correction,
    CostAt,
    EvaluationReport,
    GroundTruthSource,
    ImageCoverage,
    LabelQuality,
    Settings,
    Sweep,
    SweepCurve,
)
from autolabel.evaluate.sweep import recommend, sweep, sweep_thresholds
from autolabel.formats import GroundTruth, GroundTruthImage, pair_paths
from autolabel.formats.matching import RULES
from autolabel.store import LATEST, RunStore, write_json_atomic
from autolabel.types import ImageAnnotations

log = logging.getLogger(__name__)

EVALUATION_JSON = "evaluation.json"
EVALUATION_PNG = "evaluation.png"
ASPECT_TOLERANCE = 0.01


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
    iou_type: str = "bbox",
) -> EvaluationReport:
    """Evaluate a run against ground truth; returns the report (``to_dict()`` is ``evaluation.json``).

    Args:
        run_dir: the run (or its :class:`RunStore`).
        gt: ground truth from :func:`autolabel.formats.read_groundtruth`.
        revision: ``"latest"`` (corrected revision if any), ``"original"`` or a revision name.
        iou: IoU for a match in the correction cost, sweep and per-class precision/recall.
        score_threshold: threshold for the correction cost; None = the recommended one.
        objectness_threshold: objectness threshold applied with it (and during the score sweep).
        class_map: ground-truth class -> run labels (see :func:`build_class_mapping`).
        class_map_source: where the class map came from (recorded in the report).
        iou_type: ``bbox`` or ``segm``: what the COCO AP/AR (class-agnostic and class-aware)
            compare. ``segm`` compares masks (pycocotools ``iouType="segm"``): ``gt`` must carry
            masks (:func:`~autolabel.formats.read_groundtruth` with ``with_masks``); a box on
            either side without a mask counts as the filled box. CorLoc, the correction cost and
            the sweep stay on boxes.
    """
    if iou_type not in IOU_TYPES:
        raise ConfigError(f"--iou-type must be one of {', '.join(IOU_TYPES)}, got {iou_type!r}")
    if iou_type == "segm" and not any(g.has_masks for g in gt.images):
        raise ConfigError(f"--iou-type segm needs ground truth with instance masks; {gt.source} has none "
                          "(COCO annotations with a non-empty segmentation)")
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
        segm = iou_type == "segm"
        images.append(EvalImage.build(
            run.path, fitted.boxes, fitted.labels,
            [d.box for d in dets], [d.label for d in dets], [d.score for d in dets], [d.objectness for d in dets],
            gt_ignore=fitted.ignore, to_gt=mapping.to_gt,
            gt_masks=(fitted.masks or (None,) * len(fitted.boxes)) if segm else (),
            pred_masks=tuple(d.mask for d in dets) if segm else (), size=(run.height, run.width),
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

    agnostic = coco_metrics(images, rank_by="objectness", iou_type=iou_type)
    cl, cl_hits, cl_n = corloc(images)

    class_aware: LabelQuality | None = None
    if mapping.gt_to_run:
        evaluated = list(mapping.gt_to_run)
        aware = coco_metrics(images, class_aware=True, rank_by="score", classes=evaluated, iou_type=iou_type)
        per_class = {}
        for c in evaluated:
            cnt = correction_cost([_class_subset(i, c) for i in images], chosen, objectness_threshold, iou)
            per_class[c] = ClassResult(mapping.gt_to_run[c], cnt.gt, cnt.predictions, cnt.matched,
                                       cnt.precision, cnt.recall, aware["per_class"][c])
        unmapped = sum(1 for i in images for c, s, o in zip(i.pred_classes, i.pred_scores, i.pred_objectness)
                       if c is None and s >= chosen and o >= objectness_threshold)
        class_aware = LabelQuality(aware["ap50"], per_class, unmapped)

    return EvaluationReport(
        run=info.name,
        revision=rev or "original",
        groundtruth=GroundTruthSource(str(gt.source), gt.format, tuple(gt.classes), tuple(gt.notes)),
        settings=Settings(iou=iou, adjust_iou=ADJUST_IOU, score_threshold=chosen,
                          score_threshold_source="recommended" if score_threshold is None else "given",
                          objectness_threshold=objectness_threshold, class_map=class_map_source, iou_type=iou_type),
        images=ImageCoverage(
            evaluated=len(images), gt_boxes=int(sum(i.num_gt for i in images)),
            predictions=int(sum(len(i.pred_boxes) for i in images)), paired_by=dict(pairing.by_rule),
            gt_without_run_image=tuple(pairing.gt_only), gt_failed_in_run=tuple(failed),
            run_without_gt_paths=tuple(pairing.run_only), size_mismatch=tuple(size_notes), left_out=tuple(left_out),
        ),
        class_agnostic=BoxQuality(agnostic["ap50"], agnostic["ar100"], cl, cl_hits, cl_n),
        classes=mapping,
        class_aware=class_aware,
        correction=Correction(CostAt(chosen, at_chosen), CostAt(0.0, at_zero)),
        sweep=Sweep(SweepCurve("score", rec_score, objectness_threshold, tuple(score_points)),
                    SweepCurve("objectness", rec_obj, 0.0, tuple(obj_points))),
    )


def _class_subset(img: EvalImage, cls: str) -> EvalImage:
    gm = np.array([lab == cls for lab in img.gt_labels], dtype=bool).reshape(-1)
    pm = np.array([c == cls for c in img.pred_classes], dtype=bool).reshape(-1)
    return EvalImage(
        img.path, img.gt_boxes[gm], tuple(lab for lab, k in zip(img.gt_labels, gm) if k), img.gt_ignore[gm],
        img.pred_boxes[pm], tuple(lab for lab, k in zip(img.pred_labels, pm) if k),
        tuple(c for c, k in zip(img.pred_classes, pm) if k), img.pred_scores[pm], img.pred_objectness[pm],
        tuple(m for m, k in zip(img.gt_masks, gm) if k), tuple(m for m, k in zip(img.pred_masks, pm) if k), img.size,
    )


def write_evaluation(run_dir: str | os.PathLike[str], report: EvaluationReport, *, plot: bool = True) -> list[Path]:
    """Write ``evaluation.json`` (atomically) and, with ``plot``, ``evaluation.png`` into the run."""
    run_dir = Path(run_dir)
    out = [run_dir / EVALUATION_JSON]
    write_json_atomic(out[0], report.to_dict())
    if plot:
        out.append(run_dir / EVALUATION_PNG)
        plot_evaluation(report, out[1])
    return out
