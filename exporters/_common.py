"""Writer plumbing shared by the built-in exporters (format facts live in :mod:`autolabel.formats`)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import click

from autolabel.export import Option
from autolabel.formats.polygons import DEFAULT_TOLERANCE


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


class _Pixels(click.FloatRange):
    """A number of pixels >= 0 (listed as ``PIXELS``)."""

    name = "pixels"

    def __init__(self) -> None:
        super().__init__(min=0.0)


POLYGON_TOLERANCE = Option(DEFAULT_TOLERANCE, "polygon simplification tolerance in pixels (0: every contour vertex)",
                           type=_Pixels())
"""The ``polygon_tolerance`` option of every format that writes masks as polygons."""
