"""Pipeline stage: classifier inputs. Crops cut with PIL (:func:`crop_box`) or on the device:
crop, resize and normalise from the image tensor (:func:`device_crops`).

The PIL path (:meth:`autolabel.pipeline.classify.Classifier.preprocess`) crops each box on a CPU thread
(:func:`crop_box`, which first shrinks very large regions by an integer
factor) and runs timm's eval transform on it: resize the shorter side to
``floor(S / crop_pct)`` (aspect kept), centre-crop ``S x S``, scale to [0, 1], normalise.
Here the same steps run on the uploaded image tensor, on the model's device: the same integer
crop region, the same integer reduction (box average), an antialiased bicubic resize to the
same size (``torch.nn.functional.interpolate``), the same centre-crop offsets, pixels rounded
to 8 bits as PIL's are, the same normalisation. Only the image crosses to the device.

They differ only in the resampling kernel's rounding (torch's bicubic uses ``a = -0.75``, PIL
``a = -0.5``): about 0.001 mean absolute difference per normalised input value. A single
``torchvision.ops.roi_align`` call per image (bilinear samples averaged per output pixel) was
measured too and dropped: on random boxes of the sample photos with EfficientNet-Lite0 it kept
the PIL path's top-1 label on 77% of crops, this path on 90% (``autolabel bench
--crop-agreement`` measures the pipeline's boxes).
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from autolabel.models import model_dtype
from autolabel.pipeline.work import Item
from autolabel.types import Box

log = logging.getLogger(__name__)


def crop_region(box: Box, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The integer pixel region ``(left, top, right, bottom)`` (exclusive) cut for ``box``
    widened by ``margin`` x its size per side, clipped to a ``width x height`` image, at least
    1 x 1 (what both :func:`crop_box` and :func:`device_crops` cut)."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    left = int(max(0.0, x1 - mx))
    top = int(max(0.0, y1 - my))
    right = int(min(float(width), x2 + mx) + 0.999999)
    bottom = int(min(float(height), y2 + my) + 0.999999)
    right = max(right, left + 1)
    bottom = max(bottom, top + 1)
    return left, top, min(right, width), min(bottom, height)


REDUCING_GAP = 3
"""A crop whose shorter side is at least twice this many times the classifier's input size is
first shrunk by an integer factor (box-averaged, read straight from the region) to no less than
this many times the input size; the classifier's own resize then does the rest. Pillow's
``reducing_gap`` reasoning: from 3x the target size, the result is practically the same as one
resize, while a crop of a huge photo is never copied at full resolution."""


def crop_box(img: Image.Image, box: Box, margin: float, min_side: int | None = None) -> Image.Image:
    """The region ``box`` (pixels, x2 exclusive) widened by ``margin`` x its size per side.

    The crop is clipped to the image and always at least 1x1 pixel. With ``min_side`` (the
    classifier's input size), a region of more than ``2 * REDUCING_GAP * min_side`` pixels on
    its shorter side is returned shrunk by an integer factor, its shorter side still at least
    ``REDUCING_GAP * min_side``.
    """
    region = crop_region(box, margin, *img.size)
    left, top = region[:2]
    if min_side:
        factor = min(region[2] - left, region[3] - top) // (REDUCING_GAP * min_side)
        if factor >= 2:
            return img.reduce(int(factor), box=region)
    return img.crop(region)


@dataclass(frozen=True)
class CropSpec:
    """The classifier's eval transform, as numbers (from timm's data config).

    Attributes:
        size: ``(H, W)`` of the classifier input.
        crop_pct: centre-crop fraction; the region is first resized to ``floor(size / crop_pct)``.
        crop_mode: ``center`` (shorter side resized, aspect kept) or ``squash`` (both sides
            resized to ``floor(size / crop_pct)``).
        mean, std: per-channel normalisation of [0, 1] pixels.
    """

    size: tuple[int, int]
    crop_pct: float
    crop_mode: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_data_config(cls, cfg: Mapping[str, Any]) -> CropSpec:
        """From ``timm.data.resolve_data_config``'s dict; ValueError for a mode not supported here
        (``border``, or a non-square ``center`` input)."""
        _, h, w = cfg["input_size"]
        mode = cfg.get("crop_mode") or "center"
        if mode not in ("center", "squash") or (mode == "center" and h != w):
            raise ValueError(f"device crops support crop_mode 'center' (square input) and 'squash', got {mode!r} for {h}x{w}")
        return cls((int(h), int(w)), float(cfg.get("crop_pct") or 0.875), mode,
                   tuple(cfg["mean"]), tuple(cfg["std"]))  # type: ignore[arg-type]


def image_tensor(image: Any, device: torch.device) -> torch.Tensor:
    """A PIL RGB image (or an ``(H, W, 3)`` uint8 array) as a ``(1, 3, H, W)`` uint8 tensor on
    ``device`` (pinned and copied asynchronously on CUDA)."""
    arr = np.array(image, dtype=np.uint8)  # a writable copy: torch refuses read-only arrays
    t = torch.from_numpy(arr).permute(2, 0, 1)[None]
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t


def resized_size(region_w: int, region_h: int, spec: CropSpec) -> tuple[int, int]:
    """``(w, h)`` a ``region_w x region_h`` crop is resized to before the centre crop
    (torchvision ``Resize(int)``: shorter side to ``floor(S / crop_pct)``, longer one truncated;
    ``squash``: both sides)."""
    th, tw = spec.size
    if spec.crop_mode == "squash":
        return math.floor(tw / spec.crop_pct), math.floor(th / spec.crop_pct)
    scale = math.floor(th / spec.crop_pct)
    if region_w <= region_h:
        return scale, int(scale * region_h / region_w)
    return int(scale * region_w / region_h), scale


@torch.inference_mode()
def device_crops(img: torch.Tensor, boxes: Sequence[Box], margin: float, spec: CropSpec,
                 dtype: torch.dtype = torch.float32, min_side: int | None = None) -> torch.Tensor:
    """Classifier inputs for ``boxes`` of one image, cut from its tensor.

    Args:
        img: ``(1, 3, H, W)`` uint8 image on the model's device.
        boxes: pixel boxes ``(x1, y1, x2, y2)``, x2 exclusive.
        margin: context per side, as a fraction of the box size (see ``crop_box``).
        spec: the classifier's transform.
        dtype: dtype of the result.
        min_side: the classifier's input side, for ``crop_box``'s integer reduction of large
            regions (None: never reduce).

    Returns:
        ``(len(boxes), 3, H', W')`` normalised inputs, on ``img``'s device.
    """
    th, tw = spec.size
    if not boxes:
        return torch.zeros((0, 3, th, tw), device=img.device, dtype=dtype)
    _, _, H, W = img.shape
    out = torch.empty((len(boxes), 3, th, tw), device=img.device, dtype=torch.float32)
    for i, b in enumerate(boxes):
        left, top, right, bottom = crop_region(b, margin, W, H)
        x = img[:, :, top:bottom, left:right].float()
        if min_side:
            factor = min(right - left, bottom - top) // (REDUCING_GAP * min_side)
            if factor >= 2:  # PIL's Image.reduce: box average, partial blocks at the edges
                x = torch.nn.functional.avg_pool2d(x, int(factor), ceil_mode=True).round_()
        rw, rh = resized_size(x.shape[3], x.shape[2], spec)
        x = torch.nn.functional.interpolate(x, size=(rh, rw), mode="bicubic", antialias=True, align_corners=False)
        oy, ox = int(round((rh - th) / 2.0)), int(round((rw - tw) / 2.0))  # torchvision CenterCrop
        out[i] = x[0, :, oy: oy + th, ox: ox + tw]
    out = out.round_().clamp_(0.0, 255.0).div_(255.0)  # PIL hands the transform 8-bit pixels
    mean = torch.tensor(spec.mean, device=out.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=out.device).view(1, 3, 1, 1)
    return out.sub_(mean).div_(std).to(dtype)


class Cropping:
    """The crop stage: every kept object's classifier input, cut on the device (``device_crops``)
    or with PIL in the decode threads. Fills ``item.crops`` (see :class:`~autolabel.pipeline.work.Item`).

    Args:
        config: the pipeline settings (``crop_margin``, ``device_crops``).
        clock: where ``crop`` is added (per crop).
    """

    def __init__(self, config: Any, clock: Any) -> None:
        self.config = config
        self.clock = clock

    def __call__(self, classifier: Any, device: torch.device, items: list[Item], pool: Executor) -> None:
        """Crop ``items``' regions for ``classifier`` (a :class:`~autolabel.pipeline.classify.Classifier`)."""
        spec = self.spec(classifier, device)
        if spec is not None:
            self._on_device(classifier, device, items, spec)
            return
        margin = self.config.crop_margin
        t0 = time.perf_counter()
        jobs = [(it, pool.submit(classifier.preprocess, it.decoded.image, box, margin)) for it in items for box in (f.box for f in it.regions)]  # type: ignore[union-attr]
        for it in items:
            it.crops = []
        for it, fut in jobs:
            it.crops.append(fut.result())  # type: ignore[union-attr]
        self.clock.add("crop", time.perf_counter() - t0, len(jobs))

    def spec(self, classifier: Any, device: torch.device) -> CropSpec | None:
        """The classifier's transform for device crops, or None to crop with PIL (off, or a
        transform the device path cannot reproduce)."""
        if not self.config.speed_option("device_crops", device.type):
            return None
        try:
            return CropSpec.from_data_config(classifier.data_config)
        except ValueError as e:
            log.info("cropping with PIL: %s", e)
            return None

    def _on_device(self, classifier: Any, device: torch.device, items: list[Item], spec: CropSpec) -> None:
        """Each image's crops cut on the device (:func:`device_crops`) from its device pixels
        (``decoder: device``), or from its PIL image uploaded once (pinned, asynchronous on CUDA)."""
        margin = self.config.crop_margin
        dtype = model_dtype(classifier.module)
        with self.clock("crop", sum(len(it.regions) for it in items)):
            for it in items:
                if not it.regions:
                    it.crops = []
                    continue
                assert it.decoded is not None
                px = it.decoded.pixels
                img = px[None] if px is not None else image_tensor(it.decoded.image, device)
                it.crops = device_crops(img, [f.box for f in it.regions], margin, spec, dtype,
                                        min_side=classifier.input_side)


def gather_crops(items: list[Item]) -> list[torch.Tensor] | torch.Tensor:
    """All items' classifier inputs in order: a list of CPU tensors, or one tensor when the
    crops were cut on the device."""
    parts = [it.crops for it in items if len(it.crops)]
    if parts and all(isinstance(p, torch.Tensor) for p in parts):
        return torch.cat(parts)  # type: ignore[arg-type]
    return [c for p in parts for c in p]
