"""Pipeline stage: classify the crops of many images in batches.

A crop is the box plus ``margin`` of its width/height on each side (clipped to the image),
transformed exactly as the classifier's own timm data config prescribes (resize, centre crop,
normalise). Crops of many images share batches.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from PIL import Image

from autolabel.models import BuiltModel, model_dtype
from autolabel.pipeline.batching import ShapeLog, bucket, buckets_for, pad_rows, split_batches
from autolabel.pipeline.crops import crop_box
from autolabel.pipeline.evidence import class_maps, evidence_input
from autolabel.types import Box


class Classifier:
    """Batched classification of crops with a timm model.

    Inputs are cast to the model's parameter dtype: a bf16 run converts the weights once
    (see :func:`autolabel.pipeline.loading.load_models`), which on CPUs is much faster than autocast,
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

    def class_maps(self, image: Image.Image, side: int) -> torch.Tensor:
        """Per-cell class logits of the whole RGB ``image``, its longer side resized to ``side``
        pixels: ``(num_classes, h, w)`` float32 on CPU (:func:`autolabel.pipeline.evidence.class_maps`).

        Raises:
            ModelError: the classifier has no CNN feature map.
        """
        x = evidence_input(image, side, self.data_config["mean"], self.data_config["std"])
        return class_maps(self.module, x[None].to(self.device, model_dtype(self.module)))

    def classify(self, crops: Sequence[torch.Tensor] | torch.Tensor, batch_size: int, *, pad: bool = False,
                 shapes: ShapeLog | None = None) -> torch.Tensor:
        """Probabilities for all ``crops`` (each ``(3, S, S)``, or one ``(n, 3, S, S)`` tensor,
        possibly on the device), run ``batch_size`` at a time.

        Args:
            pad: pad each batch with zero rows to one of :func:`~autolabel.pipeline.batching.buckets_for`
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
