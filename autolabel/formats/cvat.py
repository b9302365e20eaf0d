"""CVAT for images 1.1 XML: the format's facts and its ground-truth reader.

Facts (FORMATS.md section 4): one ``annotations.xml``; ``<meta>`` declares every label, each with
read-only number attributes ``score`` and ``objectness`` (CVAT drops undeclared attributes
silently); one ``<image id name width height>`` per image, ids 0.. in the task's (sorted) order,
names exactly as uploaded; ``<box>`` holds absolute corners ``xtl ytl xbr ybr`` with 2 decimals
(the run's convention, x2 exclusive), attribute values with 3.

Masks: a detection with a mask becomes one ``<polygon label points="x1,y1;x2,y2;..." source
occluded z_order>`` per part of the mask (2 decimals, holes filled: a CVAT polygon cannot hold
one), with the same score attributes as a box, the parts of one object sharing a ``group_id``.
The polygon replaces the box (CVAT would show both as two objects; the box is the polygon's
bounds). Labels are then declared with type ``any`` so one label takes boxes and polygons.

Reader: each ``<image name=... width=... height=...>`` is one labelled image; its ``<box label
xtl ytl xbr ybr>`` children are the boxes, and each ``<polygon>`` counts as its bounding box
(the parts sharing a non-zero ``group_id`` and label as one box, as the exporter writes an
object in several parts). Other shapes (polylines, points, masks, tags) are skipped and
counted in the notes. Classes come from ``<meta>/<task|project>/<labels>/<label>/<name>`` in
order, then any other used label.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Sequence

from autolabel.formats.base import (
    GroundTruth,
    GroundTruthError,
    GroundTruthImage,
    check_unique_paths,
    class_list,
    xml_root,
)
from autolabel.formats.polygons import DEFAULT_TOLERANCE, mask_to_polygons
from autolabel.formats.text import label_color
from autolabel.names import escape_name
from autolabel.types import Detection, ImageAnnotations
from autolabel.yamlio import excerpt

log = logging.getLogger(__name__)

ANNOTATIONS_XML = "annotations.xml"
SHAPES = ("polyline", "points", "ellipse", "mask", "cuboid", "skeleton", "tag")
"""Shapes other than ``box`` and ``polygon``: the reader skips them."""

SHAPE_MODES = ("polygon", "box")
"""How a detection with a mask is written: as ``<polygon>`` elements, or as its ``<box>`` only."""

SCORE_ATTRIBUTES = ("score", "objectness")
"""Number attributes (0..1, step 0.001) declared on every label and set on every box."""


def cvat_attribute_spec(name: str) -> dict[str, Any]:
    """Label-constructor spec of a read-only number attribute in [0, 1] with step 0.001."""
    return {"name": name, "mutable": False, "input_type": "number", "default_value": "0", "values": ["0", "1", "0.001"]}


def cvat_label_specs(classes: Sequence[str], label_type: str = "rectangle") -> list[dict[str, Any]]:
    """CVAT label constructor JSON ("Raw" tab): one label per class, in order, of ``label_type``
    (``rectangle``; ``any`` when polygons are written too, so one label takes both shapes)."""
    return [
        {"name": c, "color": label_color(i), "type": label_type,
         "attributes": [cvat_attribute_spec(a) for a in SCORE_ATTRIBUTES]}
        for i, c in enumerate(classes)
    ]


def cvat_meta(classes: Sequence[str], task_name: str, size: int, label_type: str = "rectangle") -> ET.Element:
    """The ``<meta>`` element: task name, image count, and every label (of ``label_type``) with
    its attributes."""
    meta = ET.Element("meta")
    task = ET.SubElement(meta, "task")
    ET.SubElement(task, "name").text = escape_name(task_name)  # a run folder's name may hold anything
    ET.SubElement(task, "size").text = str(size)
    ET.SubElement(task, "mode").text = "annotation"
    ET.SubElement(task, "overlap").text = "0"
    labels = ET.SubElement(task, "labels")
    for spec in cvat_label_specs(classes, label_type):
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = spec["name"]
        ET.SubElement(label, "color").text = spec["color"]
        ET.SubElement(label, "type").text = spec["type"]
        attrs = ET.SubElement(label, "attributes")
        for a in spec["attributes"]:
            attr = ET.SubElement(attrs, "attribute")
            ET.SubElement(attr, "name").text = a["name"]
            ET.SubElement(attr, "mutable").text = "True" if a["mutable"] else "False"
            ET.SubElement(attr, "input_type").text = a["input_type"]
            ET.SubElement(attr, "default_value").text = a["default_value"]
            ET.SubElement(attr, "values").text = "\n".join(a["values"])
    return meta


def cvat_box(det: Detection) -> ET.Element:
    """``<box>`` for one detection: absolute corners with 2 decimals, score attributes with 3."""
    x1, y1, x2, y2 = det.box
    box = ET.Element("box", {
        "label": det.label,
        "source": "auto" if det.source == "auto" else "manual",
        "occluded": "0",
        "xtl": f"{x1:.2f}", "ytl": f"{y1:.2f}", "xbr": f"{x2:.2f}", "ybr": f"{y2:.2f}",
        "z_order": "0",
    })
    for name in SCORE_ATTRIBUTES:
        ET.SubElement(box, "attribute", {"name": name}).text = f"{getattr(det, name):.3f}"
    return box


def _points(poly: Any) -> str:
    """CVAT ``points``: ``x1,y1;x2,y2;...`` with 2 decimals."""
    return ";".join(f"{x:.2f},{y:.2f}" for x, y in poly)


def cvat_polygons(det: Detection, tolerance: float = DEFAULT_TOLERANCE, group: int = 0) -> list[ET.Element]:
    """One ``<polygon>`` per part of the detection's mask (holes filled), each with the score
    attributes; the parts of one object share ``group_id`` (``group``, when there are several)."""
    parts = mask_to_polygons(det.mask, tolerance) if det.mask is not None else []
    out = []
    for poly in parts:
        attrs = {
            "label": det.label,
            "source": "auto" if det.source == "auto" else "manual",
            "occluded": "0",
            "points": _points(poly),
            "z_order": "0",
        }
        if len(parts) > 1 and group:
            attrs["group_id"] = str(group)
        el = ET.Element("polygon", attrs)
        for name in SCORE_ATTRIBUTES:
            ET.SubElement(el, "attribute", {"name": name}).text = f"{getattr(det, name):.3f}"
        out.append(el)
    return out


def cvat_image(frame: int, image: ImageAnnotations, shapes: str = "box",
               tolerance: float = DEFAULT_TOLERANCE) -> ET.Element:
    """``<image>`` for frame ``frame`` (0-based, in sorted name order) with its shapes.

    ``shapes="box"``: a ``<box>`` per detection. ``shapes="polygon"``: a detection with a mask
    is written as its ``<polygon>`` elements (:func:`cvat_polygons`, simplified with
    ``tolerance`` pixels) instead of a box, one without a mask as a ``<box>``. The name is the
    run path, escaped if it holds what XML cannot (:func:`autolabel.names.escape_name`).
    """
    if shapes not in SHAPE_MODES:
        raise ValueError(f"shapes must be one of {SHAPE_MODES}, got {shapes!r}")
    el = ET.Element("image", {"id": str(frame), "name": escape_name(image.path),
                              "width": str(image.width), "height": str(image.height)})
    group = 0
    for det in image.detections:
        if shapes == "polygon" and det.mask is not None:
            group += 1
            polys = cvat_polygons(det, tolerance, group)
            if polys:
                el.extend(polys)
                continue
        el.append(cvat_box(det))
    return el


# -- reading ground truth --------------------------------------------------------------------


def find_cvat_xml(folder: Path) -> Path:
    """``annotations.xml`` in ``folder``, or its only ``*.xml``."""
    if (folder / ANNOTATIONS_XML).is_file():
        return folder / ANNOTATIONS_XML
    xmls = sorted(folder.glob("*.xml"))
    if len(xmls) != 1:
        raise GroundTruthError(f"{folder}: expected annotations.xml (CVAT for images 1.1), found {', '.join(map(str, xmls)) or 'no XML file'}")
    return xmls[0]


def _float(el: ET.Element, attr: str, where: str) -> float:
    v = el.get(attr)
    try:
        n = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GroundTruthError(f"{where}: attribute {attr} must be a number, got {excerpt(v)}") from None
    if not math.isfinite(n):
        raise GroundTruthError(f"{where}: attribute {attr} must be a finite number, got {excerpt(v)}")
    return n


def _points_box(points: str | None, where: str) -> tuple[float, float, float, float]:
    """Bounds ``(x1, y1, x2, y2)`` of a CVAT ``points`` attribute (``x1,y1;x2,y2;...``)."""
    try:
        xy = [tuple(float(v) for v in p.split(",")) for p in (points or "").split(";") if p.strip()]
        if len(xy) < 3 or any(len(p) != 2 for p in xy):
            raise ValueError
    except ValueError:
        raise GroundTruthError(f"{where}: a <polygon> needs points 'x1,y1;x2,y2;...' (3 or more), got {points!r}") from None
    xs, ys = [p[0] for p in xy], [p[1] for p in xy]
    return (min(xs), min(ys), max(xs), max(ys))


def _int_attr(el: ET.Element, attr: str) -> int | None:
    v = el.get(attr)
    try:
        n = int(v)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
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
    skipped = rotated = polygons = 0
    for im in images:
        name = im.get("name")
        if not name:
            raise GroundTruthError(f"{path}: <image id={im.get('id')!r}> has no name")
        where = f"{path}: image {name!r}"
        boxes, labels = [], []
        grouped: dict[tuple[str, str], int] = {}  # (group_id, label) -> index of its box
        for child in im:
            if child.tag == "polygon":
                label = child.get("label")
                if not label:
                    raise GroundTruthError(f"{where}: a <polygon> has no label")
                box = _points_box(child.get("points"), where)
                group = child.get("group_id", "0") or "0"
                k = grouped.get((group, label)) if group != "0" else None
                if k is None:
                    if group != "0":
                        grouped[(group, label)] = len(boxes)
                    boxes.append(box)
                    labels.append(label)
                else:
                    b = boxes[k]
                    boxes[k] = (min(b[0], box[0]), min(b[1], box[1]), max(b[2], box[2]), max(b[3], box[3]))
                polygons += 1
                continue
            if child.tag == "box":
                label = child.get("label")
                if not label:
                    raise GroundTruthError(f"{where}: a <box> has no label")
                boxes.append(tuple(_float(child, a, where) for a in ("xtl", "ytl", "xbr", "ybr")))
                labels.append(label)
                if child.get("rotation") and _float(child, "rotation", where) != 0:
                    rotated += 1
            elif child.tag in SHAPES:
                skipped += 1
        records.append(GroundTruthImage(name.replace("\\", "/").lstrip("/"), _int_attr(im, "width"), _int_attr(im, "height"),
                                        tuple(boxes), tuple(labels)))
    if not records:
        raise GroundTruthError(f"{path}: no <image> elements")
    notes = []
    if polygons:
        notes.append(f"{path}: read {polygons} polygon(s) as their bounding boxes")
    if skipped:
        notes.append(f"{path}: skipped {skipped} shape(s) that are not boxes or polygons")
    if rotated:
        notes.append(f"{path}: {rotated} rotated box(es) read without their rotation")
    records.sort(key=lambda r: r.path)
    check_unique_paths(records, path)
    return GroundTruth("cvat", path, class_list(declared, records), tuple(records), tuple(notes))
