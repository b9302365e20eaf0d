"""What flows between the pipeline's stages: one :class:`Item` per input image, its
:class:`View` s (what the extractor sees) and its :class:`Found` objects.

Torch-free at import (annotations only), so the refinement workers, which import
:mod:`autolabel.pipeline.refine`, load numpy and scipy and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from autolabel.discovery.refine import PixelMask
from autolabel.masks import RLE
from autolabel.types import Box, ImageFailure

if TYPE_CHECKING:
    import torch

    from autolabel.discovery.tiles import Tile
    from autolabel.images import DecodedImage, EncodedJpeg

Encoded = tuple[RLE, Box] | None
"""A mask's :func:`~autolabel.masks.from_frame` result: its RLE over the displayed image and its
pixel bounds, or None when no displayed pixel is on it."""


@dataclass(frozen=True)
class View:
    """What the extractor sees of one image: the whole image, or one tile of it."""

    resized: Any
    """The view as the extractor takes it (a :class:`~autolabel.pipeline.features.Resized`)."""
    tile: Tile
    """The part of the displayed image it shows (the whole image when not tiling)."""


@dataclass(frozen=True)
class Found:
    """One discovered object, placed in the displayed image."""

    box: tuple[float, float, float, float]
    """Displayed-image pixels (x1, y1, x2, y2), exclusive: the bounds of ``mask``."""
    objectness: float
    mask: PixelMask
    """The object's pixels (refined, or its patch mask with ``refine`` off)."""
    view: int = 0
    """Index of the view (tile) it was found in."""
    encoded: Encoded = None
    """``mask`` as :func:`autolabel.pipeline.records.object_mask` writes it, when a refinement
    worker encoded it (:func:`autolabel.pipeline.refine.encode_found`); valid while
    ``box == encoded_for``."""
    encoded_for: Box | None = None
    """The box ``encoded`` was cut to (None: not encoded)."""


@dataclass(frozen=True)
class ClassMaps:
    """The classifier's per-cell class logits of the whole photo, computed in the feature stage
    when the extractor is the classifier (:func:`autolabel.pipeline.features.shares_classifier`)."""

    logits: torch.Tensor
    """``(K, h, w)`` float32 on the CPU (:func:`autolabel.pipeline.evidence.cell_logits`)."""
    width: float
    height: float
    """Original-image pixels the ``h x w`` grid spans from the top-left corner: at least the
    image's size (the last row or column of cells may reach past the image's edge, into the
    network's padding)."""


@dataclass
class Item:
    """One input image on its way through the stages."""

    path: str
    """POSIX path relative to the input root (or the name of an in-memory image)."""
    pixels: int = 0
    """Pixels charged to the in-flight budget (from the file header) until the item is done."""
    decoded: DecodedImage | None = None
    encoded: EncodedJpeg | None = None
    """A JPEG read for decoding on the device (``decoder: device``), until stage 1 decodes it."""
    views: list[View] = field(default_factory=list)
    failure: ImageFailure | None = None
    pending: list[Callable[[], list[Found]]] = field(default_factory=list)
    """Per view, what gives its objects once refined (before tiles are merged and boxes selected)."""
    regions: list[Found] = field(default_factory=list)
    """The objects to classify, by descending objectness."""
    crops: list[torch.Tensor] | torch.Tensor = field(default_factory=list)
    """Classifier inputs of ``regions``: ``(3, S, S)`` CPU tensors (PIL path), or one
    ``(len(regions), 3, S, S)`` tensor on the device (device crops)."""
    class_maps: ClassMaps | None = None
    """The whole photo's class maps from the feature stage (about 1.2 MB for a 640 x 480 photo
    and 1,000 classes), until labelled; None: the label stage runs the classifier on the photo
    itself (``evidence_side``)."""
