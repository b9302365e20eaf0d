"""Crop boxes out of full-resolution images and classify the crops in batches.

A crop is the box plus ``margin`` of its width/height on each side (clipped to the image),
transformed exactly as the classifier's own timm data config prescribes (resize, centre crop,
normalise). Crops of many images share batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import torch
from PIL import Image

from autolabel.batching import ShapeLog, bucket, buckets_for, pad_rows, split_batches
from autolabel.crops import crop_region
from autolabel.errors import ModelError
from autolabel.models import BuiltModel, head_classes
from autolabel.types import Box

if TYPE_CHECKING:
    from autolabel.vocabulary import LabelSpace


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


class Classifier:
    """Batched classification of crops with a timm model.

    Inputs are cast to the model's parameter dtype: a bf16 run converts the weights once
    (see :func:`autolabel.pipeline.load_models`), which on CPUs is much faster than autocast,
    which casts every weight on every call.

    Args:
        built: the classifier.
    """

    def __init__(self, built: BuiltModel) -> None:
        from timm.data import create_transform, resolve_data_config

        self.built = built
        self.module = built.module
        self.device = built.device
        self.data_config = resolve_data_config({}, model=self.module)
        self.transform: Callable[[Image.Image], torch.Tensor] = create_transform(**self.data_config, is_training=False)
        self.num_classes = int(getattr(self.module, "num_classes", 0) or 0)
        self.input_side = int(min(self.data_config["input_size"][1:]))
        """Shorter side of the classifier's input, in pixels."""

    def preprocess(self, img: Image.Image, box: Box, margin: float) -> torch.Tensor:
        """``(3, S, S)`` input tensor for one box (thread-safe; runs in decode workers)."""
        return self.transform(crop_box(img, box, margin, self.input_side))

    @torch.inference_mode()
    def probabilities(self, crops: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` -> ``(B, num_classes)`` float32 softmax probabilities (on CPU)."""
        x = crops.to(self.device, model_dtype(self.module), non_blocking=True)
        logits = self.module(x)
        return logits.float().softmax(dim=1).cpu()

    def classify(self, crops: Sequence[torch.Tensor] | torch.Tensor, batch_size: int, *, pad: bool = False,
                 shapes: ShapeLog | None = None) -> torch.Tensor:
        """Probabilities for all ``crops`` (each ``(3, S, S)``, or one ``(n, 3, S, S)`` tensor,
        possibly on the device), run ``batch_size`` at a time.

        Args:
            pad: pad each batch with zero rows to one of :func:`~autolabel.batching.buckets_for`
                ``(batch_size)`` (padding rows dropped from the result), so the model sees at
                most that many input shapes.
            shapes: where to record each model call's input shape.

        Returns:
            ``(n, num_classes)`` float32 probabilities on CPU.
        """
        n = len(crops)
        if not n:
            return torch.zeros(0, self.num_classes)
        buckets = buckets_for(batch_size) if pad else ()
        out = []
        for a, b in split_batches(n, batch_size):
            x = crops[a:b] if isinstance(crops, torch.Tensor) else torch.stack(list(crops[a:b]))
            if buckets:
                x = pad_rows(x, bucket(b - a, buckets))
            if shapes is not None:
                shapes.see("classifier", x.shape)
            out.append(self.probabilities(x)[: b - a])
        return torch.cat(out)


def model_dtype(module: torch.nn.Module) -> torch.dtype:
    """The dtype of a module's first floating-point parameter (float32 if it has none)."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def label_space_of(classifier: str) -> LabelSpace:
    """The label space of classifier ``classifier`` (timm name), named from its head size as
    timm configures it (21841: ImageNet-21k, 11821: 12k, 1000: 1k; other sizes ``class_<i>``),
    without building the model.

    Raises:
        ModelError: unknown name, or a model with no classification head.
    """
    from timm.data import infer_imagenet_subset

    from autolabel.vocabulary import get_label_space

    n = head_classes(classifier)
    if n <= 0:
        raise ModelError(f"classifier {classifier!r} has no classification head (num_classes=0); pick a classifier model")
    return get_label_space(infer_imagenet_subset({"num_classes": n}), n)
