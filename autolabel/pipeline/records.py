"""Pipeline stage: record building. One :class:`~autolabel.types.ImageAnnotations` per image from
its named objects: stable ids (``<image stem>-<n>``), boxes in displayed-image pixels
(x2 exclusive), and each object's instance mask as COCO RLE over the displayed image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autolabel.masks import RLE, from_frame
from autolabel.pipeline.label import Named
from autolabel.pipeline.work import Found, Item
from autolabel.types import Box, Detection, ImageAnnotations


def build_record(cfg: Any, clock: Any, it: Item, named: list[Named]) -> ImageAnnotations:
    """The record of ``it`` (decoded) with ``named`` (by descending score) as its detections."""
    assert it.decoded is not None
    dets: list[Detection] = []
    stem = Path(it.path).stem
    for found, res, score in named:
        box, mask = object_mask(cfg.masks, clock, found, it.decoded.width, it.decoded.height)
        dets.append(Detection(
            id=f"{stem}-{len(dets)}", box=box, label=res.label, score=score,
            objectness=min(max(found.objectness, 0.0), 1.0), label_id=res.label_id, topk=res.topk,
            class_score=res.score, mask=mask,
        ))
    return ImageAnnotations(it.path, it.decoded.width, it.decoded.height, tuple(dets))


def object_mask(masks: bool, clock: Any, found: Found, width: int, height: int) -> tuple[Box, RLE | None]:
    """A written object's box and mask. With ``masks`` on: its pixels (``found.mask``: refined,
    or the patch mask with ``refine`` off) sampled onto the ``width x height`` displayed image
    and cut to its box, as COCO RLE, and the box made the mask's bounds in whole pixels
    (:func:`autolabel.masks.from_frame`). With ``masks`` off, or if no displayed pixel's
    centre falls on the object: the box as found and no mask. Timed as stage ``masks``."""
    if not masks:
        return found.box, None
    pm = found.mask
    if found.encoded_for is not None and found.encoded_for == found.box:
        encoded = found.encoded  # encoded by a refinement worker, with these arguments
    else:
        with clock("masks"):
            encoded = from_frame(pm.mask, pm.origin, pm.scale, width, height, box=found.box)
    if encoded is None:
        return found.box, None
    rle, bounds = encoded
    return bounds, rle
