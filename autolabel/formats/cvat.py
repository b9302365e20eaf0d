"""CVAT for images 1.1 XML ground truth (``annotations.xml``).

Each ``<image name=... width=... height=...>`` is one labelled image; its ``<box label xtl ytl
xbr ybr>`` children are the boxes (corners in pixels, the run's convention). Other shapes
(polygons, points, tags) are skipped and counted in the notes. Classes come from
``<meta>/<task|project>/<labels>/<label>/<name>`` in order, then any other used label.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

from autolabel.formats.base import (
    GroundTruth, GroundTruthError, GroundTruthImage, check_unique_paths, class_list, xml_root,
)

log = logging.getLogger(__name__)

SHAPES = ("polygon", "polyline", "points", "ellipse", "mask", "cuboid", "skeleton", "tag")


def find_cvat_xml(folder: Path) -> Path:
    """``annotations.xml`` in ``folder``, or its only ``*.xml``."""
    if (folder / "annotations.xml").is_file():
        return folder / "annotations.xml"
    xmls = sorted(folder.glob("*.xml"))
    if len(xmls) != 1:
        raise GroundTruthError(f"{folder}: expected annotations.xml (CVAT for images 1.1), found {', '.join(map(str, xmls)) or 'no XML file'}")
    return xmls[0]


def _float(el: ET.Element, attr: str, where: str) -> float:
    v = el.get(attr)
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GroundTruthError(f"{where}: attribute {attr} must be a number, got {v!r}") from None


def _int_attr(el: ET.Element, attr: str) -> int | None:
    v = el.get(attr)
    try:
        n = int(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def read_cvat(path: str | Path) -> GroundTruth:
    """Read a CVAT for images 1.1 XML file (or a folder holding ``annotations.xml``)."""
    path = Path(path)
    if path.is_dir():
        path = find_cvat_xml(path)
    root = xml_root(path, "annotations", "CVAT for images 1.1")
    images = root.findall("image")
    if not images and root.findall("track"):
        raise GroundTruthError(f"{path}: this is CVAT for video (tracks); export the task as 'CVAT for images 1.1'")
    declared = [n.text.strip() for n in root.iterfind("meta/*/labels/label/name") if n.text and n.text.strip()]
    records = []
    skipped = rotated = 0
    for im in images:
        name = im.get("name")
        if not name:
            raise GroundTruthError(f"{path}: <image id={im.get('id')!r}> has no name")
        where = f"{path}: image {name!r}"
        boxes, labels = [], []
        for child in im:
            if child.tag == "box":
                label = child.get("label")
                if not label:
                    raise GroundTruthError(f"{where}: a <box> has no label")
                boxes.append(tuple(_float(child, a, where) for a in ("xtl", "ytl", "xbr", "ybr")))
                labels.append(label)
                if float(child.get("rotation", "0") or 0) != 0:
                    rotated += 1
            elif child.tag in SHAPES:
                skipped += 1
        records.append(GroundTruthImage(name.replace("\\", "/").lstrip("/"), _int_attr(im, "width"), _int_attr(im, "height"),
                                        tuple(boxes), tuple(labels)))
    if not records:
        raise GroundTruthError(f"{path}: no <image> elements")
    notes = []
    if skipped:
        notes.append(f"{path}: skipped {skipped} shape(s) that are not boxes")
    if rotated:
        notes.append(f"{path}: {rotated} rotated box(es) read without their rotation")
    for n in notes:
        log.warning(n)
    records.sort(key=lambda r: r.path)
    check_unique_paths(records, path)
    return GroundTruth("cvat", path, class_list(declared, records), tuple(records), tuple(notes))
