"""Pascal VOC ground truth: a folder with ``Annotations/*.xml`` (one file per image).

Every XML under ``Annotations/`` (sub-folders included) is one labelled image. Its path is the
XML's sub-folder joined with ``<filename>`` (or the XML's stem when ``<filename>`` is missing).
Classes come from ``labelmap.txt`` (``name:color:parts:actions`` lines) when present, else from
the objects.

Origin: the VOC devkit numbers pixels from 1 and ``xmax``/``ymax`` name the last pixel inside
the box, so the box ``(x1, y1, x2, y2)`` with exclusive ``x2`` is ``(xmin - 1, ymin - 1, xmax,
ymax)`` (``origin="one"``, the default). Files written by tools that store 0-based values (CVAT,
fiftyone, datumaro's default) are read with ``origin="zero"``: ``(xmin, ymin, xmax, ymax)``.
``difficult`` objects are kept as ordinary boxes (LOST's CorLoc protocol keeps them too).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

from autolabel.formats.base import (
    GroundTruth, GroundTruthError, GroundTruthImage, check_unique_paths, class_list, xml_root,
)

log = logging.getLogger(__name__)

ORIGINS = ("one", "zero")


def _text(el: ET.Element | None, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _number(el: ET.Element, tag: str, where: str) -> float:
    v = _text(el, tag)
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GroundTruthError(f"{where}: <{tag}> must be a number, got {v!r}") from None


def _size(root: ET.Element, where: str) -> tuple[int | None, int | None]:
    size = root.find("size")
    if size is None:
        return None, None
    out = []
    for tag in ("width", "height"):
        v = _text(size, tag)
        try:
            n = int(float(v)) if v is not None else None
        except ValueError:
            raise GroundTruthError(f"{where}: <size><{tag}> must be an integer, got {v!r}") from None
        out.append(n if n and n > 0 else None)
    if None in out:
        return None, None
    return out[0], out[1]


def read_labelmap(path: Path) -> list[str]:
    """Class names from a datumaro/CVAT ``labelmap.txt`` (first ``:``-separated field per line)."""
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = line.split(":", 1)[0].strip()
        if name and name != "background":
            names.append(name)
    return names


def read_voc_xml(xml_path: Path, rel_dir: str = "", origin: str = "one") -> GroundTruthImage:
    """One VOC annotation file as a :class:`GroundTruthImage` (see the module doc for origins)."""
    if origin not in ORIGINS:
        raise GroundTruthError(f"VOC origin must be one of {ORIGINS}, got {origin!r}")
    root = xml_root(xml_path, "annotation", "VOC")
    filename = _text(root, "filename") or xml_path.stem
    path = f"{rel_dir}/{filename}" if rel_dir else filename
    width, height = _size(root, str(xml_path))
    shift = 1.0 if origin == "one" else 0.0
    boxes, labels = [], []
    for i, obj in enumerate(root.findall("object")):
        where = f"{xml_path}: object {i}"
        name = _text(obj, "name")
        if not name:
            raise GroundTruthError(f"{where} has no <name>")
        bnd = obj.find("bndbox")
        if bnd is None:
            raise GroundTruthError(f"{where} ({name}) has no <bndbox>")
        xmin, ymin, xmax, ymax = (_number(bnd, t, where) for t in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append((xmin - shift, ymin - shift, xmax, ymax))
        labels.append(name)
    return GroundTruthImage(path, width, height, tuple(boxes), tuple(labels))


def read_voc(path: str | Path, origin: str = "one") -> GroundTruth:
    """Read a VOC folder (``Annotations/`` inside it) as ground truth."""
    path = Path(path)
    ann_dir = path / "Annotations"
    if not ann_dir.is_dir():
        raise GroundTruthError(f"{path}: not a Pascal VOC folder (no Annotations/ inside)")
    records = []
    for xml_path in sorted(ann_dir.rglob("*.xml")):
        rel_dir = xml_path.parent.relative_to(ann_dir).as_posix()
        records.append(read_voc_xml(xml_path, "" if rel_dir == "." else rel_dir, origin))
    if not records:
        raise GroundTruthError(f"{ann_dir}: no .xml annotation files")
    records.sort(key=lambda r: r.path)
    check_unique_paths(records, path)
    labelmap = path / "labelmap.txt"
    declared = read_labelmap(labelmap) if labelmap.is_file() else []
    return GroundTruth("voc", path, class_list(declared, records), tuple(records))
