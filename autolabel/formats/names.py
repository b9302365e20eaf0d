"""Flat image names for formats with one namespace of file names (VOC, YOLO).

Real image folders nest, and ``cam1/0001.jpg`` and ``cam2/0001.jpg`` are two images. VOC keys
items by stem and Ultralytics finds a label file by replacing the last ``/images/`` of the image
path, so those formats get one flat, unique, deterministic name per image
(:class:`FlatNamer`), and ``image_names.csv`` (:class:`NamesTable`) says which name stands for
which image.

A flat name is at most :data:`MAX_NAME_BYTES` bytes with its extension (and with ``.xml`` /
``.txt``): a longer one keeps its first part and extension and gets ``-`` and a digest of the
image's path. Control characters and bytes that were not UTF-8 are percent-escaped
(:func:`autolabel.names.escape_name`).
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import IO, Any

from autolabel.names import escape_name, needs_escape

MAX_NAME_BYTES = 255
"""Longest file name (bytes) most file systems take (ext4, XFS, APFS, NTFS in UTF-16 units)."""
_SIDE_EXTS = 4
"""Bytes of the longest extension the formats add beside the image's own (``.xml``, ``.txt``)."""

_SPACE_RE = re.compile(r"\s+")


def digest(text: str, n: int = 8) -> str:
    """The first ``n`` hex digits of the SHA-1 of ``text`` (UTF-8; a byte that was not UTF-8
    counts as itself): a short, stable tag."""
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:n]


def _fit(stem: str, limit: int) -> str:
    """``stem`` cut to at most ``limit`` UTF-8 bytes, never inside a character or an escape."""
    data = stem.encode("utf-8", "surrogateescape")
    if len(data) <= limit:
        return stem
    cut = data[:limit].decode("utf-8", "ignore")
    m = re.search(r"%[0-9A-Fa-f]?$", cut)  # do not leave half of a %XY escape
    return cut[: m.start()] if m else cut


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
    :func:`flat_stem`, escaped (:func:`autolabel.names.escape_name`); if that stem was already
    handed out (compared case-insensitively, so exports also work on case-insensitive file
    systems), ``-<first 8 hex digits of the SHA-1 of the relative path>`` is appended. A stem
    that would make a file name longer than :data:`MAX_NAME_BYTES` is cut and gets the digest
    too. The same run therefore always gets the same names.
    """

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def __call__(self, relpath: str) -> str:
        stem = escape_name(flat_stem(relpath))
        limit = MAX_NAME_BYTES - max(len(flat_suffix(relpath).encode("utf-8")), _SIDE_EXTS)
        n = 8
        candidate = stem if len(stem.encode("utf-8")) <= limit else f"{_fit(stem, limit - 9)}-{digest(relpath, 8)}"
        while candidate.casefold() in self._taken:
            candidate = f"{_fit(stem, limit - n - 1)}-{digest(relpath, n)}"
            n += 4
            if n > 40:  # identical relative paths are impossible in one run
                raise ValueError(f"cannot derive a unique name for {relpath!r}")
        self._taken.add(candidate.casefold())
        return candidate


def flat_suffix(relpath: str) -> str:
    """The extension a flat name keeps: the path's last suffix, escaped (images have short ones)."""
    return escape_name(PurePosixPath(relpath).suffix)


class NamesTable:
    """``image_names.csv``: which exported name stands for which image of the run.

    Columns ``name`` (the file name inside the export), ``source`` (the path relative to the
    run's image root) and ``source_bytes``: empty, unless the path holds a control character or
    a byte that is not UTF-8; then ``source`` is its escaped form (:func:`escape_name`) and
    ``source_bytes`` holds the same escaped form, to say so:
    ``urllib.parse.unquote_to_bytes(source_bytes)`` is the path's exact bytes. Every field is
    quoted (``csv.QUOTE_ALL``) so a reader never splits a row on a character in a name. Written
    one row per image as the export goes; :func:`read_names_table` reads it back.
    """

    FILENAME = "image_names.csv"
    HEADER = ("name", "source", "source_bytes")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: IO[str] = open(path, "w", encoding="utf-8", newline="")
        self._w = csv.writer(self._f, lineterminator="\n", quoting=csv.QUOTE_ALL)
        self._w.writerow(self.HEADER)

    def add(self, name: str, source: str) -> None:
        escaped = escape_name(source) if needs_escape(source) else ""
        self._w.writerow([name, escaped or source, escaped])

    def close(self) -> Path:
        self._f.close()
        return self.path


def read_names_table(path: Path) -> dict[str, str]:
    """``image_names.csv`` as exported name -> the run's image path (exactly, undecodable bytes
    as surrogates). Also reads the two-column tables of earlier versions.

    Raises:
        ValueError: the file is not such a table (the caller names the file).
    """
    import os
    from urllib.parse import unquote_to_bytes

    out: dict[str, str] = {}
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header is None or list(header[:2]) != ["name", "source"]:
            raise ValueError(f"expected the columns name, source; got {header!r}")
        for row in rows:
            if len(row) < 2:
                raise ValueError(f"line {rows.line_num}: expected name, source")
            raw = row[2] if len(row) > 2 else ""
            out[row[0]] = os.fsdecode(unquote_to_bytes(raw)) if raw else row[1]
    return out


def map_through_names_table(records: list[Any], folder: Path) -> tuple[list[Any], str | None]:
    """Ground-truth records of an autolabel VOC / YOLO export, renamed back to the run's paths.

    If ``folder`` holds ``image_names.csv``, each record whose path is an exported name (or,
    for a YOLO label without its image, an exported name's stem) gets the source path the
    table gives, exactly (a backslash stays a character of the name, as it is on POSIX).
    Records the table does not name keep their path.

    Returns:
        the records (in their order) and a note saying how many were renamed (None if no table).

    Raises:
        GroundTruthError: the table cannot be read.
    """
    import dataclasses

    from autolabel.formats.base import GroundTruthError

    table_path = folder / NamesTable.FILENAME
    if not table_path.is_file():
        return records, None
    try:
        table = read_names_table(table_path)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as e:
        raise GroundTruthError(f"{table_path}: cannot read it ({e})") from None
    by_stem: dict[str, str] = {}
    for name, source in table.items():
        by_stem.setdefault(str(PurePosixPath(name).with_suffix("")) if PurePosixPath(name).suffix else name, source)
    out = []
    renamed = 0
    for rec in records:
        source = table.get(rec.path) or by_stem.get(rec.path)
        if source is not None and source != rec.path:
            rec = dataclasses.replace(rec, path=source)
            renamed += 1
        out.append(rec)
    return out, f"{table_path}: {renamed} image name(s) mapped back to the run's paths"
