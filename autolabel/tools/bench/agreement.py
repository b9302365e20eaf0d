"""How far the speed settings move results: bf16 against fp32 (:func:`precision_agreement`),
device crops against PIL crops (:func:`crop_agreement`), box by box on the same images."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autolabel.config import PipelineConfig


@dataclass
class AgreementReport:
    """bf16 against fp32 on the same images, box by box (see :func:`precision_agreement`)."""

    images: int
    boxes_fp32: int
    boxes_bf16: int
    box_agreement: float
    """Share of the fp32 boxes that a bf16 box overlaps with IoU >= ``iou_threshold``."""
    label_agreement: float
    """Share of the fp32 boxes whose agreeing bf16 box has the same top-1 label."""
    max_score_diff: float
    iou_threshold: float
    median_score_diff: float = 0.0
    """Median over the boxes that agree with the same label: most differ by rounding; a few by
    much more where bf16 changed a discrete step (a region of scale agreement's second reading
    found or lost, a box kept or dropped near a threshold)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def precision_agreement(cfg: PipelineConfig, images: Path, iou_threshold: float = 0.9) -> AgreementReport:
    """Run ``images`` in fp32 and in bf16 and compare the results box by box.

    A fp32 box *agrees* if a bf16 box of the same image overlaps it with IoU >= ``iou_threshold``;
    its label agrees if that box also has the same top-1 label.

    Returns:
        Box counts, ``box_agreement`` and ``label_agreement`` (shares of the fp32 boxes), and
        ``max_score_diff`` and ``median_score_diff`` over boxes agreeing with the same label.
    """
    from autolabel.geometry import box_iou
    from autolabel.images import find_images
    from autolabel.pipeline import Annotator

    source = find_images(images)
    runs = {}
    for precision in ("fp32", "bf16"):
        ann = Annotator(cfg.replace(precision=precision))
        runs[precision] = {r.path: r for r in ann.process(source.root, list(source.paths)) if hasattr(r, "detections")}
    n32 = n16 = box_ok = label_ok = 0
    diffs: list[float] = []
    for path, a in runs["fp32"].items():
        b = runs["bf16"].get(path)
        n32 += len(a.detections)
        if b is None:
            continue
        n16 += len(b.detections)
        if not a.detections or not b.detections:
            continue
        iou = box_iou(torch.tensor([d.box for d in a.detections]), torch.tensor([d.box for d in b.detections]))
        for i, d in enumerate(a.detections):
            j = int(iou[i].argmax())
            if float(iou[i, j]) >= iou_threshold:
                box_ok += 1
                if b.detections[j].label == d.label:
                    label_ok += 1
                    diffs.append(abs(b.detections[j].score - d.score))
    return AgreementReport(
        images=len(runs["fp32"]),
        boxes_fp32=n32,
        boxes_bf16=n16,
        box_agreement=box_ok / n32 if n32 else 1.0,
        label_agreement=label_ok / n32 if n32 else 1.0,
        max_score_diff=max(diffs, default=0.0),
        iou_threshold=iou_threshold,
        median_score_diff=float(np.median(diffs)) if diffs else 0.0,
    )


@dataclass
class CropAgreementReport:
    """Device crops against PIL crops on the same images and boxes (see :func:`crop_agreement`)."""

    images: int
    boxes: int
    """Boxes of the PIL run (the boxes do not depend on how crops are cut)."""
    same_boxes: int
    """Of those, boxes the device-crop run has too (same pixels)."""
    label_agreement: float
    """Share of the PIL run's boxes whose device-crop box has the same top-1 label."""
    max_score_diff: float
    """Largest class-score difference over boxes with the same label."""
    device: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def crop_agreement(cfg: PipelineConfig, images: Path) -> CropAgreementReport:
    """Run ``images`` with classifier inputs cut by PIL and cut on the device
    (:mod:`autolabel.pipeline.crops`), everything else equal, and compare the labels box by box.
    Both runs keep every box (``min_score`` 0): the boxes come from discovery and refinement,
    which the crop path does not touch, so a score near ``min_score`` cannot drop a box from
    one run and keep it in the other."""
    from autolabel.images import find_images
    from autolabel.pipeline import Annotator

    source = find_images(images)
    runs = {}
    device = ""
    for mode in ("off", "on"):
        ann = Annotator(cfg.replace(device_crops=mode, min_score=0.0))
        device = str(ann.models.device)
        runs[mode] = {r.path: r for r in ann.process(source.root, list(source.paths)) if hasattr(r, "detections")}
    boxes = same = agree = 0
    max_diff = 0.0
    for path, a in runs["off"].items():
        boxes += len(a.detections)
        b = runs["on"].get(path)
        by_box = {d.box: d for d in b.detections} if b is not None else {}
        for d in a.detections:
            e = by_box.get(d.box)
            if e is None:
                continue
            same += 1
            if e.label == d.label:
                agree += 1
                max_diff = max(max_diff, abs(e.score - d.score))
    return CropAgreementReport(len(runs["off"]), boxes, same, agree / boxes if boxes else 1.0, max_diff, device)
