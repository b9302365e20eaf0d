"""Decode image files into RGB pixels in their displayed orientation.

Only regular files are ever opened (after following links): a FIFO, socket or device named
like an image is a failure, never a hang.

With ``decoder: device`` the decode threads call :func:`read_encoded` instead: a plain JPEG's
bytes are read and its header checked, and its pixels are decoded later, in a batch, on the
model's device (:mod:`autolabel.pipeline.decode`); every other file is decoded here as usual.

Decoding never crashes a run: a bad file raises :class:`~autolabel.errors.ImageError` with a
plain reason, which the pipeline records in ``failures.jsonl`` before going on.
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from autolabel.errors import ImageError

log = logging.getLogger(__name__)

_ORIENTATION = 0x0112
"""The EXIF tag of the displayed orientation (1 = as stored)."""



class DecodedImage:
    """One decoded image: PIL pixels, or device pixels with the PIL image built when asked.

    Args:
        path: POSIX path relative to the input root.
        image: RGB ``PIL.Image`` in the displayed orientation (EXIF applied); or None with
        pixels: ``(3, H, W)`` uint8 RGB tensor in the displayed orientation, on the device that
            decoded it (``decoder: device``, :mod:`autolabel.pipeline.decode`).

    Attributes:
        width, height: displayed size in pixels.
    """

    __slots__ = ("path", "_image", "pixels")

    def __init__(self, path: str, image: Image.Image | None = None, *, pixels: Any = None) -> None:
        if (image is None) == (pixels is None):
            raise ValueError("DecodedImage takes a PIL image or a pixel tensor, exactly one")
        self.path = path
        self._image = image
        self.pixels = pixels
        """``(3, H, W)`` uint8 tensor on the decoding device, or None (decoded by PIL)."""

    @property
    def image(self) -> Image.Image:
        """The RGB ``PIL.Image``. Built from :attr:`pixels` on first use (copied to the host
        once, then kept): previews, PIL crops and tiles of a device-decoded image ask for it."""
        if self._image is None:
            arr = self.pixels.permute(1, 2, 0).contiguous().cpu().numpy()
            self._image = Image.fromarray(arr, "RGB")
        return self._image

    @property
    def width(self) -> int:
        return int(self.pixels.shape[2]) if self.pixels is not None else self._image.size[0]  # type: ignore[union-attr]

    @property
    def height(self) -> int:
        return int(self.pixels.shape[1]) if self.pixels is not None else self._image.size[1]  # type: ignore[union-attr]

    def __repr__(self) -> str:
        kind = "pixels" if self.pixels is not None else "PIL"
        return f"DecodedImage({self.path!r}, {self.width}x{self.height}, {kind})"


JPEG_MAGIC = b"\xff\xd8\xff"
"""The first bytes of every JPEG file (SOI marker, then the first segment's marker)."""

_JPEG_END = b"\xff\xd9"
"""The EOI marker a complete JPEG file ends with."""

DEVICE_MODES = ("RGB", "L")
"""JPEG colour modes decoded on the device; others (CMYK, YCCK) go through PIL, whose
conversion to RGB is today's."""


@dataclass(frozen=True, eq=False)
class EncodedJpeg:
    """A JPEG file read, not decoded, for :func:`autolabel.pipeline.decode.decode_jpegs`.

    Attributes:
        path: POSIX path relative to the input root.
        data: the file's bytes.
        width, height: stored size from the header (before EXIF orientation).
        orientation: EXIF orientation, 1 (as stored) to 8.
    """

    path: str
    data: bytes
    width: int
    height: int
    orientation: int = 1


def _open_regular(full: Path, rel_path: str) -> BinaryIO:
    """Open ``full`` for reading, following links, only if it is a regular file.

    Opened non-blocking and checked on the open descriptor, so a FIFO (which would block an
    ordinary open until a writer comes) or a device is refused without waiting and without a
    race between the check and the open.

    Raises:
        ImageError: not a regular file, or it cannot be opened.
    """
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise ImageError(rel_path, f"cannot read the file ({e.strerror or e})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a folder" if stat.S_ISDIR(mode)
                    else "not a regular file")
            raise ImageError(rel_path, f"not a regular file: it is {kind}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; transparent pixels become white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            arr = arr / 257.0
        else:
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def header_size(root: str | os.PathLike[str], rel_path: str) -> tuple[int, int] | None:
    """``(width, height)`` as stored, read from the file's header without decoding its pixels;
    None for a file that cannot be opened as an image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with _open_regular(Path(root) / rel_path, rel_path) as f, Image.open(f) as im:
                w, h = im.size
    except (ImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return None
    return int(w), int(h)


def header_pixels(root: str | os.PathLike[str], rel_path: str) -> int:
    """``width * height`` read from the file's header, without decoding its pixels.

    What decoding the image will hold in memory (3 bytes per pixel as RGB); 0 for a file that
    cannot be opened as an image (decoding it fails without holding anything).
    """
    size = header_size(root, rel_path)
    return 0 if size is None else size[0] * size[1]


def decode_image(
    root: str | os.PathLike[str],
    rel_path: str,
    *,
    max_pixels: int = 200_000_000,
    min_side: int = 1,
) -> DecodedImage:
    """Decode ``root / rel_path`` to RGB in its displayed orientation.

    Args:
        root: the input root.
        rel_path: POSIX path relative to ``root``.
        max_pixels: images with more pixels are refused (decompression-bomb guard).
        min_side: images whose shorter displayed side is smaller are refused (less than one
            patch of the feature extractor).

    Raises:
        ImageError: with a plain reason: empty, not an image, truncated/corrupt, too large,
            too small, unreadable.
    """
    full = Path(root) / rel_path
    with _open_regular(full, rel_path) as f:
        return _decode_file(f, rel_path, max_pixels, min_side)


def read_encoded(
    root: str | os.PathLike[str],
    rel_path: str,
    *,
    max_pixels: int = 200_000_000,
    min_side: int = 1,
) -> EncodedJpeg | DecodedImage:
    """Read a JPEG's bytes for decoding on the device, or decode any other file with PIL.

    A file comes back as :class:`EncodedJpeg` (its pixels not decoded) only when it starts
    with :data:`JPEG_MAGIC`, ends with the EOI marker, and its header (read by PIL, no pixel
    decode) shows a JPEG in one of :data:`DEVICE_MODES` within ``max_pixels``, an EXIF
    orientation from 1 to 8 and a displayed shorter side of at least ``min_side``. Everything
    else, including every file that :func:`decode_image` would refuse, is decoded by
    :func:`decode_image` right here, so failures keep exactly their reasons.

    Raises:
        ImageError: as :func:`decode_image`.
    """
    full = Path(root) / rel_path
    with _open_regular(full, rel_path) as f:
        if f.read(len(JPEG_MAGIC)) == JPEG_MAGIC:
            data = JPEG_MAGIC + f.read()
            encoded = _jpeg_header(data, rel_path, max_pixels, min_side)
            if encoded is not None:
                return encoded
        f.seek(0)
        return _decode_file(f, rel_path, max_pixels, min_side)


def _jpeg_header(data: bytes, rel_path: str, max_pixels: int, min_side: int) -> EncodedJpeg | None:
    """``data`` as an :class:`EncodedJpeg` if its header says it decodes on the device
    (see :func:`read_encoded`), else None (PIL decides)."""
    if not data.endswith(_JPEG_END):  # truncated, or bytes after the image: PIL's call
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.format != "JPEG" or im.mode not in DEVICE_MODES:
                    return None
                w, h = (int(v) for v in im.size)
                orientation = im.getexif().get(_ORIENTATION, 1)
    except Exception:  # anything odd in the header: PIL decodes it and words any failure
        return None
    if orientation is None:
        orientation = 1
    if not isinstance(orientation, int) or not 1 <= orientation <= 8 or w * h > max_pixels:
        return None
    shown_w, shown_h = (h, w) if orientation >= 5 else (w, h)  # 5-8 swap the axes
    if min(shown_w, shown_h) < min_side:
        return None
    return EncodedJpeg(rel_path, data, w, h, orientation)


def _decode_file(f: BinaryIO, rel_path: str, max_pixels: int, min_side: int) -> DecodedImage:
    """:func:`decode_image` on an open regular file (or an in-memory one)."""
    if not isinstance(f, io.BytesIO) and os.fstat(f.fileno()).st_size == 0:
        raise ImageError(rel_path, "empty file (0 bytes)")
    # We apply our own limit below; lift PIL's (process-wide, never lowered, so decoding
    # threads cannot race) so that it cannot refuse first with its own wording.
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = int(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(f) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageError(
                        rel_path,
                        f"{w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
                        "(decompression-bomb guard; raise --max-pixels to accept it)",
                    )
                im.load()
                img = im
                try:
                    # Only an image that needs turning is copied: a huge photo is held once.
                    if im.getexif().get(_ORIENTATION, 1) not in (None, 1):
                        img = ImageOps.exif_transpose(im) or im
                except Exception as e:  # malformed EXIF must not lose the image
                    log.warning("%s: ignoring unreadable EXIF orientation (%s)", rel_path, e)
                # Leaving the with-block closes the file, not the loaded pixels.
                rgb = _to_rgb(img)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(rel_path, "not an image, or an image format that cannot be read") from None
    except Image.DecompressionBombError as e:
        # PIL refuses at twice its own limit, before our check can run: quote ours.
        m = re.search(r"\((\d+) pixels\)", str(e))
        n = f"{int(m.group(1)):,} pixels is" if m else "the image has"
        raise ImageError(
            rel_path,
            f"{n} over the limit of {max_pixels:,} (decompression-bomb guard; raise --max-pixels to accept it)",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e) or type(e).__name__
        if "truncated" in msg.lower():
            raise ImageError(rel_path, "truncated image (the file ends before the image data)") from None
        raise ImageError(rel_path, f"corrupt or unreadable image data ({msg})") from None
    if min(rgb.size) < min_side:
        raise ImageError(
            rel_path,
            f"image is {rgb.size[0]}x{rgb.size[1]}, smaller than one {min_side}-pixel patch of the feature extractor",
        )
    return DecodedImage(rel_path, rgb)


def decode_memory(image: Any, name: str, *, max_pixels: int = 200_000_000, min_side: int = 1) -> DecodedImage:
    """An image already in memory, checked and converted as :func:`decode_image` does a file.

    Args:
        image: encoded file bytes (decoded with PIL, EXIF orientation applied, as a file
            would be), a ``PIL.Image`` (used as it is shown: no EXIF orientation applied), or
            an ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` uint8 array (RGB order).
        name: what records and messages call the image.
        max_pixels, min_side: as :func:`decode_image`.

    Raises:
        ImageError: empty, not an image, too large, too small.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if not data:
            raise ImageError(name, "empty file (0 bytes)")
        return _decode_file(io.BytesIO(data), name, max_pixels, min_side)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise ImageError(name, f"an array image must be (H, W), (H, W, 3) or (H, W, 4) uint8; got {image.shape} {image.dtype}")
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise ImageError(name, f"not an image: {type(image).__name__} (expected file bytes, a PIL image or a uint8 array)")
    w, h = image.size
    if w * h > max_pixels:
        raise ImageError(name, f"{w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
                               "(decompression-bomb guard; raise --max-pixels to accept it)")
    rgb = _to_rgb(image)
    if min(rgb.size) < min_side:
        raise ImageError(name, f"image is {rgb.size[0]}x{rgb.size[1]}, smaller than one {min_side}-pixel patch of the feature extractor")
    return DecodedImage(name, rgb)
