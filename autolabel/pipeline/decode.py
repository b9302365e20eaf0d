"""Pipeline stage: decoding. Files (or in-memory images) decoded by PIL in the decode threads
(:class:`Decoding`), or, with ``decoder: device``, JPEG files decoded in batches on the
model's device.

The decode threads only read each JPEG's bytes and check its header
(:func:`autolabel.images.read_encoded`); stage 1 then decodes a chunk's JPEGs with one
``torchvision.io.decode_jpeg`` call on the model's device (nvJPEG on CUDA, libjpeg-turbo on the
CPU) and turns each into its displayed orientation there (:func:`orient`).

The EXIF orientation is read from the header and applied here, on the tensor, rather than by
``decode_jpeg(apply_exif_orientation=True)``: torchvision applies it on the CPU only and
silently ignores it on CUDA, so a rotated photo would come out sideways on a GPU.

``decode_jpeg`` gives no partial results: when the batched call fails, each file is decoded
alone, and one that still fails (or whose size differs from its header's) is left to PIL by the
caller, so a file PIL refuses fails with PIL's reason, as with ``decoder: pil``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from autolabel.errors import ImageError
from autolabel.images import DecodedImage, EncodedJpeg, decode_image, decode_memory, read_encoded
from autolabel.pipeline.features import FeatureExtractor, make_views
from autolabel.pipeline.work import Item
from autolabel.types import ImageFailure

log = logging.getLogger(__name__)


def orient(pixels: torch.Tensor, orientation: int) -> torch.Tensor:
    """``(C, H, W)`` stored pixels -> the displayed image for EXIF ``orientation`` (1-8), as
    ``PIL.ImageOps.exif_transpose`` turns them (5-8 swap height and width). A view, no copy."""
    if orientation == 2:  # mirrored left-right
        return pixels.flip(-1)
    if orientation == 3:  # turned 180 degrees
        return pixels.flip(-1, -2)
    if orientation == 4:  # mirrored top-bottom
        return pixels.flip(-2)
    if orientation == 5:  # transposed (mirrored about the main diagonal)
        return pixels.transpose(-1, -2)
    if orientation == 6:  # shown turned 90 degrees clockwise
        return pixels.transpose(-1, -2).flip(-1)
    if orientation == 7:  # transversed (mirrored about the other diagonal)
        return pixels.transpose(-1, -2).flip(-1, -2)
    if orientation == 8:  # shown turned 90 degrees counter-clockwise
        return pixels.transpose(-1, -2).flip(-2)
    return pixels


def _decode(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision 0.29 warns on every call (moving to TorchCodec)
        out = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    return list(out)


def decode_jpegs(files: Sequence[EncodedJpeg], device: torch.device) -> list[torch.Tensor | None]:
    """Decode ``files`` on ``device`` with one batched ``decode_jpeg`` call.

    Args:
        files: JPEGs read by :func:`autolabel.images.read_encoded`.
        device: where to decode and keep the pixels (the model's device).

    Returns:
        Per file, in order: its ``(3, H, W)`` uint8 RGB pixels on ``device`` in the displayed
        orientation; or None where it could not be decoded alone either, or came out another
        size than its header says (the caller decodes those with PIL).
    """
    if not files:
        return []
    data = [torch.frombuffer(bytearray(f.data), dtype=torch.uint8) for f in files]
    try:
        decoded: list[torch.Tensor | None] = list(_decode(data, device))
    except Exception as e:  # no partial results: find the file(s) it could not decode
        log.debug("batched decode_jpeg of %d files failed (%s); decoding them one at a time", len(files), e)
        decoded = []
        for f, d in zip(files, data):
            try:
                decoded.append(_decode([d], device)[0])
            except Exception as e1:
                log.debug("%s: decode_jpeg failed (%s); decoding it with PIL", f.path, e1)
                decoded.append(None)
    out: list[torch.Tensor | None] = []
    for f, px in zip(files, decoded):
        if px is not None and tuple(px.shape) != (3, f.height, f.width):
            log.debug("%s: decode_jpeg gave %s, the header says 3x%dx%d; decoding it with PIL",
                      f.path, tuple(px.shape), f.height, f.width)
            px = None
        out.append(None if px is None else orient(px, f.orientation))
    return out


class Decoding:
    """The decoding stage.

    :meth:`read` runs in the decode threads: one input to an :class:`Item` with its decoded
    image (or, with ``decoder: device``, a JPEG's bytes) and its extractor views.
    :meth:`on_device` runs in stage 1 on a chunk: the JPEGs read for the device decoded in one
    batch there (:func:`decode_jpegs`), and their views made there.

    Args:
        config: the pipeline settings (``decoder``, ``max_pixels``, ``max_side``, ``tiles``).
        features: the extractor (its patch size and normalisation).
        clock: where ``decode`` and ``batch_decode`` are added.
    """

    def __init__(self, config: Any, features: FeatureExtractor, clock: Any) -> None:
        self.config = config
        self.features = features
        self.clock = clock

    def read(self, root: Path, path: str, pixels: int = 0, source: Any = None) -> Item:
        """Decode ``root / path``, or ``source`` named ``path``: a file's :class:`~pathlib.Path`
        or an in-memory image (:func:`~autolabel.images.decode_memory`). A failure is recorded
        on the item, never raised."""
        cfg = self.config
        feats = self.features
        item = Item(path, pixels)
        t0 = time.perf_counter()
        try:
            if isinstance(source, Path):  # a file outside the root, named ``path``
                item.decoded = decode_image(source.parent, source.name, max_pixels=cfg.max_pixels, min_side=feats.patch)
            elif source is not None:
                item.decoded = decode_memory(source, path, max_pixels=cfg.max_pixels, min_side=feats.patch)
            elif cfg.decoder == "device":
                got = read_encoded(root, path, max_pixels=cfg.max_pixels, min_side=feats.patch)
                if isinstance(got, EncodedJpeg):
                    item.encoded = got  # decoded in stage 1 (on_device)
                else:
                    item.decoded = got
            else:
                item.decoded = decode_image(root, path, max_pixels=cfg.max_pixels, min_side=feats.patch)
            if item.decoded is not None:
                item.views = make_views(item.decoded, cfg, feats)
        except Exception as e:
            item.failure = decode_failure(path, e)
        self.clock.add("decode", time.perf_counter() - t0)
        return item

    @torch.inference_mode()
    def on_device(self, root: Path, items: list[Item], device: torch.device) -> None:
        """Decode the chunk's JPEGs read for the device (``item.encoded``) with one batched call
        on ``device`` and make their views there. One the device cannot decode is decoded with
        PIL (:func:`~autolabel.images.decode_image`), so a bad file fails with PIL's reason."""
        todo = [it for it in items if it.encoded is not None]
        if not todo:
            return
        cfg = self.config
        feats = self.features
        with self.clock("batch_decode", len(todo)):
            pixels = decode_jpegs([it.encoded for it in todo], device)  # type: ignore[misc]
            for it, px in zip(todo, pixels):
                it.encoded = None
                try:
                    if px is None:
                        it.decoded = decode_image(root, it.path, max_pixels=cfg.max_pixels, min_side=feats.patch)
                    else:
                        it.decoded = DecodedImage(it.path, pixels=px)
                    it.views = make_views(it.decoded, cfg, feats)
                except Exception as e:
                    it.decoded, it.failure = None, decode_failure(it.path, e)


def decode_failure(path: str, error: Exception) -> ImageFailure:
    """The failure record of an image that could not be decoded: an :class:`ImageError`'s plain
    reason, or, for a decoder bug on one odd file (which must not end the run), its type and text."""
    if isinstance(error, ImageError):
        return ImageFailure(path, error.reason)
    log.debug("unexpected error decoding %s", path, exc_info=error)
    return ImageFailure(path, f"could not be decoded ({type(error).__name__}: {error})")
