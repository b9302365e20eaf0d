"""Writer plumbing shared by the built-in exporters (format facts live in :mod:`autolabel.formats`)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path


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
