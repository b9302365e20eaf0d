"""Per-format facts and ground-truth readers: COCO, Pascal VOC, YOLO, CVAT 1.1, Label Studio.

One module per format holds what the format is (names, ids, origins, URL prefixes, folder
layout, how one box or image is spelled) and, where the format carries ground truth, its
reader. The exporters (:mod:`exporters`), the Label Studio import and ``evaluate`` import these
facts from here; nothing here knows FiftyOne or writes an export.

=====================  ====================================================================
module                 holds
=====================  ====================================================================
:mod:`.base`           :class:`GroundTruth`, :class:`GroundTruthImage`, shared reader helpers
:mod:`.coco`           category/image/annotation entries, COCO JSON reader
:mod:`.voc`            origin rules, bndbox, labelmap, VOC folder reader
:mod:`.yolo`           label lines, ``data.yaml``, YOLO folder reader
:mod:`.cvat`           ``<meta>``/``<image>``/``<box>``, label specs, CVAT XML reader
:mod:`.labelstudio`    URLs, region ids, percent boxes, tasks and config (no ground truth)
:mod:`.names`          flat unique image names and ``image_names.csv``
:mod:`.text`           float spelling, label colours
:mod:`.matching`       pairing ground-truth paths with run paths
=====================  ====================================================================

Each reader returns a :class:`GroundTruth`: one :class:`GroundTruthImage` per labelled image
with pixel ``(x1, y1, x2, y2)`` boxes (``x2`` exclusive), class names and the image's relative
path. :func:`read_groundtruth` picks the reader from the path (:func:`detect_format`) unless a
format is given, and also opens ``.zip`` archives (what CVAT exports), bounded
(:func:`unpack_zip`: at most :data:`MAX_UNPACKED_BYTES` of annotations, :data:`MAX_ZIP_MEMBERS`
members).
"""

from __future__ import annotations

import dataclasses
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from autolabel.formats import coco, cvat, voc
from autolabel.formats.base import GroundTruth, GroundTruthError, GroundTruthImage
from autolabel.formats.coco import read_coco
from autolabel.formats.cvat import read_cvat
from autolabel.formats.matching import PathPairing, pair_paths
from autolabel.formats.voc import ORIGINS as VOC_ORIGINS
from autolabel.formats.voc import read_voc
from autolabel.formats.yolo import find_data_yaml, read_yolo

__all__ = [
    "GT_FORMATS",
    "VOC_ORIGINS",
    "GroundTruth",
    "GroundTruthError",
    "GroundTruthImage",
    "PathPairing",
    "detect_format",
    "pair_paths",
    "read_groundtruth",
]

GT_FORMATS: dict[str, Callable[..., GroundTruth]] = {
    "coco": read_coco,
    "voc": read_voc,
    "yolo": read_yolo,
    "cvat": read_cvat,
}
"""Format name -> reader ``(path, **options) -> GroundTruth``."""


def detect_format(path: str | Path) -> str:
    """The ground-truth format of ``path``, judged by its name and contents.

    A ``.json`` file is COCO, a ``.xml`` file CVAT, a ``.yaml`` file YOLO; a folder with
    ``data.yaml`` is YOLO, with ``Annotations/`` VOC, with ``annotations.xml`` CVAT, with
    ``annotations/*.json`` COCO.
    """
    path = Path(path)
    if not path.exists():
        raise GroundTruthError(f"ground truth {path} does not exist")
    if path.is_file():
        by_suffix = {".json": "coco", ".xml": "cvat", ".yaml": "yolo", ".yml": "yolo"}
        fmt = by_suffix.get(path.suffix.lower())
        if fmt is None:
            raise GroundTruthError(
                f"cannot tell the ground-truth format of {path}: expected a COCO .json, a CVAT .xml, "
                "a .zip of either, or a VOC/YOLO folder; name it with --gt-format"
            )
        return fmt
    if find_data_yaml(path) is not None:
        return "yolo"
    if (path / voc.ANNOTATIONS_DIR).is_dir():
        return "voc"
    if (path / cvat.ANNOTATIONS_XML).is_file():
        return "cvat"
    if (path / coco.ANNOTATIONS_DIR).is_dir() and any((path / coco.ANNOTATIONS_DIR).glob("*.json")):
        return "coco"
    raise GroundTruthError(
        f"cannot tell the ground-truth format of folder {path}: expected data.yaml (YOLO), Annotations/ (VOC), "
        "annotations.xml (CVAT) or annotations/*.json (COCO); name it with --gt-format"
    )


def _detectable(path: Path) -> bool:
    try:
        detect_format(path)
    except GroundTruthError:
        return False
    return True


MAX_UNPACKED_BYTES = 1 << 30
"""Most bytes a ground-truth zip may unpack to (image members not counted: see :func:`unpack_zip`)."""
MAX_ZIP_MEMBERS = 200_000
"""Most members a ground-truth zip may hold."""
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")


def unpack_zip(path: Path, dest: Path, max_bytes: int | None = None, max_members: int | None = None) -> None:
    """Unpack the ground-truth zip ``path`` into ``dest``, bounded.

    Annotation members are written with at most ``max_bytes`` (default
    :data:`MAX_UNPACKED_BYTES`) in all, counted while they are
    inflated (a member's declared size may lie); image members become empty files, since the
    readers only look at their names. Names that would leave ``dest`` are refused.

    Raises:
        GroundTruthError: not a zip, more than ``max_members`` members, more than ``max_bytes``
            unpacked (a zip bomb?), or a member outside the archive's folder.
    """
    import zlib

    max_bytes = MAX_UNPACKED_BYTES if max_bytes is None else max_bytes
    max_members = MAX_ZIP_MEMBERS if max_members is None else max_members
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            if len(members) > max_members:
                raise GroundTruthError(f"{path}: holds {len(members):,} members, more than {max_members:,}; "
                                       "unpack it yourself and give the folder")
            root = dest.resolve()
            for info in members:
                target = (dest / info.filename).resolve()
                if target != root and root not in target.parents:
                    raise GroundTruthError(f"{path}: member {info.filename!r} would be written outside the archive's folder; refused")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.suffix.lower() in _IMAGE_SUFFIXES:
                    target.touch()
                    continue
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 20):
                        total += len(chunk)
                        if total > max_bytes:
                            raise GroundTruthError(
                                f"{path}: unpacks to more than {max_bytes:,} bytes of annotations (a zip bomb?); "
                                "refused: unpack it yourself and give the folder")
                        out.write(chunk)
    except (OSError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, zlib.error) as e:
        raise GroundTruthError(f"{path}: cannot unpack ({e})") from None


def read_groundtruth(path: str | Path, format: str | None = None, *, voc_origin: str = "one",
                     with_masks: bool = False) -> GroundTruth:
    """Read ground truth from ``path`` (file, folder or ``.zip``) in ``format`` (detected if None).

    Args:
        path: a COCO ``.json``, a CVAT ``.xml``, a VOC or YOLO folder, or a ``.zip`` of any.
        format: ``coco``, ``voc``, ``yolo`` or ``cvat``; None to detect it.
        voc_origin: ``"one"`` (VOC devkit, 1-based pixel indices) or ``"zero"``; VOC only.
        with_masks: also read instance masks (COCO ``segmentation`` only; other formats raise).
    """
    path = Path(path)
    if format is not None and format not in GT_FORMATS:
        raise GroundTruthError(f"unknown ground-truth format {format!r}; known: {', '.join(GT_FORMATS)}")
    if not path.exists():
        raise GroundTruthError(f"ground truth {path} does not exist")
    if path.is_file() and path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="autolabel-gt-") as tmp:
            unpack_zip(path, Path(tmp))
            root = Path(tmp)
            entries = [p for p in root.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
            if len(entries) == 1 and entries[0].is_dir() and not _detectable(root):
                root = entries[0]  # the archive holds one folder rather than its contents
            gt = read_groundtruth(root, format, voc_origin=voc_origin, with_masks=with_masks)
            # notes name the file inside the archive as the user knows it, not the unpacked copy
            notes = tuple(n.replace(str(Path(tmp)), str(path)) for n in gt.notes)
            return dataclasses.replace(gt, source=path, notes=notes)
    fmt = format or detect_format(path)
    if with_masks:
        if fmt != "coco":
            raise GroundTruthError(f"{path}: masks (--iou-type segm) are read from COCO ground truth with "
                                   f"segmentations; this is {fmt.upper()}")
        return read_coco(path, with_masks=True)
    if fmt == "voc":
        return read_voc(path, origin=voc_origin)
    return GT_FORMATS[fmt](path)
