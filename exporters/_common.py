"""Helpers shared by the built-in exporters: flat unique names, label colours, float text,
a names table, and a deterministic zip. Pure functions except :class:`NamesTable`."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

_SPACE_RE = re.compile(r"\s+")

# 20 well-separated colours (hex RGB), cycled by class index: same class list, same colours.
_PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
    "#808000", "#ffd8b1", "#000075", "#808080",
)


def label_color(class_id: int) -> str:
    """A fixed ``#rrggbb`` colour for 0-based ``class_id`` (cycles after 20 classes)."""
    return _PALETTE[class_id % len(_PALETTE)]


def flat_stem(relpath: str) -> str:
    """One-level name for a nested image path, without extension.

    ``cam1/0001.jpg`` -> ``cam1__0001``; ``img 003.jpg`` -> ``img_003`` (folders joined with
    ``__``, runs of whitespace replaced by ``_``, the last extension dropped).
    """
    p = PurePosixPath(relpath)
    parts = [*p.parent.parts, p.stem] if str(p.parent) != "." else [p.stem]
    return _SPACE_RE.sub("_", "__".join(parts))


def _digest(relpath: str, n: int) -> str:
    return hashlib.sha1(relpath.encode("utf-8")).hexdigest()[:n]


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
            candidate = f"{stem}-{_digest(relpath, n)}"
            n += 4
            if n > 40:  # identical relative paths are impossible in one run
                raise ValueError(f"cannot derive a unique name for {relpath!r}")
        self._taken.add(candidate.casefold())
        return candidate


def fmt_float(value: float, digits: int = 6) -> str:
    """``value`` with ``digits`` decimals, never ``-0.000000`` and never exponent notation."""
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text


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


def write_zip(zip_path: Path, members: list[tuple[str, Path]]) -> Path:
    """Write a zip of ``(name in archive, file)`` pairs with fixed timestamps and permissions,
    so the same inputs give the same bytes."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, src in members:
            info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with open(src, "rb") as fin, zf.open(info, "w") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
    return zip_path
