"""Find images and decode them into RGB arrays in their displayed orientation.

Discovery is deterministic: every image below the input folder (recursively; hidden files and
folders skipped; symlinked files followed) as a sorted list of POSIX paths relative to the
input root. A single image file is an input too (its folder becomes the root). Folders the walk
cannot read are listed in :attr:`ImageSource.unreadable`; folders passed as ``exclude`` (the
run directory, when it lies inside the input) are never input.

File names that are not UTF-8 (``bad\\xff.jpg`` from an old zip or a Windows share) are kept
as Python keeps them, PEP 383 ``surrogateescape``: each byte 0xXY that is not UTF-8 becomes the
lone surrogate U+DCXY, so ``os.fsencode(path)`` gives back the exact bytes and the file opens.
:func:`autolabel.names.display_name` shows such a name readably (``bad\\xff.jpg``).

Only regular files are ever opened (after following links): a FIFO, socket or device named
like an image is a failure, never a hang.

With ``decoder: device`` the decode threads call :func:`read_encoded` instead: a plain JPEG's
bytes are read and its header checked, and its pixels are decoded later, in a batch, on the
model's device (:mod:`autolabel.device_decode`); every other file is decoded here as usual.

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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from autolabel.errors import ImageError, InputError
from autolabel.names import display_name

log = logging.getLogger(__name__)

_ORIENTATION = 0x0112
"""The EXIF tag of the displayed orientation (1 = as stored)."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
"""File extensions treated as images (compared case-insensitively)."""


@dataclass(frozen=True)
class ImageSource:
    """The images of one input: a root folder and sorted POSIX paths relative to it."""

    root: Path
    paths: tuple[str, ...]
    unreadable: tuple[tuple[str, str], ...] = ()
    """Folders the walk could not list, as ``(POSIX path relative to root, reason)``: their
    images are not in ``paths``."""


class DecodedImage:
    """One decoded image: PIL pixels, or device pixels with the PIL image built when asked.

    Args:
        path: POSIX path relative to the input root.
        image: RGB ``PIL.Image`` in the displayed orientation (EXIF applied); or None with
        pixels: ``(3, H, W)`` uint8 RGB tensor in the displayed orientation, on the device that
            decoded it (``decoder: device``, :mod:`autolabel.device_decode`).

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
    """A JPEG file read, not decoded, for :func:`autolabel.device_decode.decode_jpegs`.

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


def is_image_name(name: str) -> bool:
    """True if ``name`` has one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def find_images(input_path: str | os.PathLike[str], *, exclude: Iterable[str | os.PathLike[str]] = ()) -> ImageSource:
    """List the images under ``input_path`` (a folder, or one image file).

    Args:
        input_path: a folder (searched recursively) or one image file (a symlink to an image
            keeps its own name).
        exclude: folders never searched, e.g. the run directory when it lies inside the input
            (its previews are not input).

    Raises:
        InputError: the path does not exist, or holds no image.
    """
    p = Path(input_path).expanduser()
    if not p.exists():
        raise InputError(f"input path {display_name(str(p))} does not exist")
    if not p.is_dir():
        if not is_image_name(p.name):
            raise InputError(f"input file {display_name(str(p))} is not an image (expected one of {', '.join(IMAGE_EXTENSIONS)})")
        # The folder holding the name given (a symlink is followed when the file is opened).
        return ImageSource(p.absolute().parent.resolve(), (p.name,))
    root = p.resolve()
    skip = {Path(e).expanduser().resolve() for e in exclude}
    unreadable: list[tuple[str, str]] = []

    def on_error(e: OSError) -> None:
        where = Path(e.filename) if e.filename else root
        rel = where.relative_to(root).as_posix() if where.is_relative_to(root) else str(where)
        unreadable.append((rel, e.strerror or type(e).__name__))
        log.info("cannot read folder %s: %s", where, e.strerror or e)

    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and (here / d) not in skip]
        rel_dir = here.relative_to(root)
        for name in filenames:
            # Every non-folder entry with an image name is input: one that is not a regular
            # file (a FIFO, a device, a dangling link) becomes a failure when it is opened.
            if not name.startswith(".") and is_image_name(name):
                found.append((rel_dir / name).as_posix())
    if not found:
        if unreadable and unreadable[0][0] == ".":
            raise InputError(f"cannot read the input folder {display_name(str(p))} ({unreadable[0][1]})")
        raise InputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {display_name(str(p))}")
    found.sort()
    return ImageSource(root, tuple(found), tuple(sorted(unreadable)))


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


def header_pixels(root: str | os.PathLike[str], rel_path: str) -> int:
    """``width * height`` read from the file's header, without decoding its pixels.

    What decoding the image will hold in memory (3 bytes per pixel as RGB); 0 for a file that
    cannot be opened as an image (decoding it fails without holding anything).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with _open_regular(Path(root) / rel_path, rel_path) as f, Image.open(f) as im:
                w, h = im.size
    except (ImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return 0
    return int(w) * int(h)


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
    """:func:`decode_image` on an open regular file."""
    if os.fstat(f.fileno()).st_size == 0:
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
