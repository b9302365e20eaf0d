"""Find images and decode them into RGB arrays in their displayed orientation.

Discovery is deterministic: every image below the input folder (recursively; hidden files and
folders skipped; symlinked files followed) as a sorted list of POSIX paths relative to the
input root. A single image file is an input too (its folder becomes the root).

Decoding never crashes a run: a bad file raises :class:`~autolabel.errors.ImageError` with a
plain reason, which the pipeline records in ``failures.jsonl`` before going on.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from autolabel.errors import ImageError, InputError

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


@dataclass(frozen=True)
class DecodedImage:
    """One decoded image.

    Attributes:
        path: POSIX path relative to the input root.
        image: RGB ``PIL.Image`` in the displayed orientation (EXIF applied).
        width, height: displayed size in pixels (``image.size``).
    """

    path: str
    image: Image.Image

    @property
    def width(self) -> int:
        return self.image.size[0]

    @property
    def height(self) -> int:
        return self.image.size[1]


def is_image_name(name: str) -> bool:
    """True if ``name`` has one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def find_images(input_path: str | os.PathLike[str]) -> ImageSource:
    """List the images under ``input_path`` (a folder, or one image file).

    Raises:
        InputError: the path does not exist, or holds no image.
    """
    p = Path(input_path).expanduser()
    if not p.exists():
        raise InputError(f"input path {p} does not exist")
    if p.is_file():
        if not is_image_name(p.name):
            raise InputError(f"input file {p} is not an image (expected one of {', '.join(IMAGE_EXTENSIONS)})")
        return ImageSource(p.resolve().parent, (p.name,))
    root = p.resolve()
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = Path(dirpath).relative_to(root)
        for name in filenames:
            if name.startswith(".") or not is_image_name(name):
                continue
            full = Path(dirpath) / name
            if not (full.is_file() or full.is_symlink()):
                continue
            found.append((rel_dir / name).as_posix())
    if not found:
        raise InputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {p}")
    found.sort()
    return ImageSource(root, tuple(found))


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
            with Image.open(Path(root) / rel_path) as im:
                w, h = im.size
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
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
    try:
        size = full.stat().st_size
    except OSError as e:
        raise ImageError(rel_path, f"cannot read the file ({e.strerror or e})") from None
    if size == 0:
        raise ImageError(rel_path, "empty file (0 bytes)")
    # We apply our own limit below; lift PIL's (process-wide, never lowered, so decoding
    # threads cannot race) so that it cannot refuse first with its own wording.
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = int(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(full) as im:
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
        raise ImageError(rel_path, f"too many pixels ({e}); raise --max-pixels to accept it") from None
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
