"""Find the images of an input: a folder (recursively) or one image file.

Listing is deterministic: every image below the input folder (recursively; hidden files and
folders skipped; symlinked files followed) as a sorted list of POSIX paths relative to the
input root. A single image file is an input too (its folder becomes the root). Folders the walk
cannot read are listed in :attr:`ImageSource.unreadable`; folders passed as ``exclude`` (the
run directory, when it lies inside the input) are never input.

File names that are not UTF-8 (``bad\\xff.jpg`` from an old zip or a Windows share) are kept
as Python keeps them, PEP 383 ``surrogateescape``: each byte 0xXY that is not UTF-8 becomes the
lone surrogate U+DCXY, so ``os.fsencode(path)`` gives back the exact bytes and the file opens.
:func:`autolabel.names.display_name` shows such a name readably (``bad\\xff.jpg``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from autolabel.errors import InputError
from autolabel.names import display_name

log = logging.getLogger(__name__)

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
