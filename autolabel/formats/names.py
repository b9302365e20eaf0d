"""Flat image names for formats with one namespace of file names (VOC, YOLO).

Real image folders nest, and ``cam1/0001.jpg`` and ``cam2/0001.jpg`` are two images. VOC keys
items by stem and Ultralytics finds a label file by replacing the last ``/images/`` of the image
path, so those formats get one flat, unique, deterministic name per image
(:class:`FlatNamer`), and ``image_names.csv`` (:class:`NamesTable`) says which name stands for
which image.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import IO

_SPACE_RE = re.compile(r"\s+")


def digest(text: str, n: int = 8) -> str:
    """The first ``n`` hex digits of the SHA-1 of ``text`` (UTF-8): a short, stable tag."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:n]


def flat_stem(relpath: str) -> str:
    """One-level name for a nested image path, without extension.

    ``cam1/0001.jpg`` -> ``cam1__0001``; ``img 003.jpg`` -> ``img_003`` (folders joined with
    ``__``, runs of whitespace replaced by ``_``, the last extension dropped).
    """
    p = PurePosixPath(relpath)
    parts = [*p.parent.parts, p.stem] if str(p.parent) != "." else [p.stem]
    return _SPACE_RE.sub("_", "__".join(parts))


class FlatNamer:
    """Unique flat stems for formats with a single namespace of names (VOC, YOLO).

    Call it with each image's relative path, in the run's (sorted) order. The stem is
    :func:`flat_stem`; if that stem was already handed out (compared case-insensitively, so
    exports also work on case-insensitive file systems), ``-<first 8 hex digits of the SHA-1
    of the relative path>`` is appended. The same run therefore always gets the same names.
    """

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def __call__(self, relpath: str) -> str:
        stem = flat_stem(relpath)
        n = 8
        candidate = stem
        while candidate.casefold() in self._taken:
            candidate = f"{stem}-{digest(relpath, n)}"
            n += 4
            if n > 40:  # identical relative paths are impossible in one run
                raise ValueError(f"cannot derive a unique name for {relpath!r}")
        self._taken.add(candidate.casefold())
        return candidate


class NamesTable:
    """``image_names.csv``: which exported name stands for which image of the run.

    Columns ``name`` (the file name inside the export) and ``source`` (the path relative to the
    run's image root). Written one row per image as the export goes.
    """

    FILENAME = "image_names.csv"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: IO[str] = open(path, "w", encoding="utf-8", newline="")
        self._w = csv.writer(self._f, lineterminator="\n")
        self._w.writerow(["name", "source"])

    def add(self, name: str, source: str) -> None:
        self._w.writerow([name, source])

    def close(self) -> Path:
        self._f.close()
        return self.path
