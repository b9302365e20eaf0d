"""JPEG files decoded in batches on the model's device (``decoder: device``).

The decode threads only read each JPEG's bytes and check its header
(:func:`autolabel.intake.read_encoded`); stage 1 then decodes a chunk's JPEGs with one
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
import warnings
from collections.abc import Sequence

import torch

from autolabel.intake import EncodedJpeg

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
        files: JPEGs read by :func:`autolabel.intake.read_encoded`.
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
