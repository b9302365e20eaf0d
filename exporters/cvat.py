"""CVAT for images 1.1 XML, plus the zip CVAT's "Upload annotations" takes and the label
constructor JSON to create the task with.

Layout::

    cvat/annotations.xml      <meta> declares every class with number attributes score and
                              objectness; one <image> per image, ids 0.. in sorted name order
    cvat/annotations.zip      exactly one annotations.xml at its root ("Upload annotations")
    cvat/labels.json          paste into the task's Labels > Raw editor before uploading
    cvat/images/<path>        (with --copy-images / --link-images; datumaro looks here)

Image names keep the path relative to the run's image root (``cam1/0001.jpg``): upload the
image folder to CVAT as it is (e.g. zipped) so task file names are the same. Boxes are
``xtl/ytl/xbr/ybr`` corners with 2 decimals; ``source`` is ``auto`` (``manual`` for boxes a
person drew or edited in review); ``score``/``objectness`` have 3 decimals (attribute step 0.001).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO, Any, Sequence

from autolabel.export import Exporter
from autolabel.types import Detection, ImageAnnotations

from exporters._common import label_color, write_zip

SCORE_ATTRIBUTES = ("score", "objectness")
"""Number attributes (0..1, step 0.001) declared on every label and set on every box."""


def cvat_attribute_spec(name: str) -> dict[str, Any]:
    """Label-constructor spec of a read-only number attribute in [0, 1] with step 0.001."""
    return {"name": name, "mutable": False, "input_type": "number", "default_value": "0", "values": ["0", "1", "0.001"]}


def cvat_label_specs(classes: Sequence[str]) -> list[dict[str, Any]]:
    """CVAT label constructor JSON ("Raw" tab): one rectangle label per class, in order."""
    return [
        {"name": c, "color": label_color(i), "type": "rectangle",
         "attributes": [cvat_attribute_spec(a) for a in SCORE_ATTRIBUTES]}
        for i, c in enumerate(classes)
    ]


def cvat_meta(classes: Sequence[str], task_name: str, size: int) -> ET.Element:
    """The ``<meta>`` element: task name, image count, and every label with its attributes."""
    meta = ET.Element("meta")
    task = ET.SubElement(meta, "task")
    ET.SubElement(task, "name").text = task_name
    ET.SubElement(task, "size").text = str(size)
    ET.SubElement(task, "mode").text = "annotation"
    ET.SubElement(task, "overlap").text = "0"
    labels = ET.SubElement(task, "labels")
    for spec in cvat_label_specs(classes):
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


def cvat_image(frame: int, image: ImageAnnotations) -> ET.Element:
    """``<image>`` for frame ``frame`` (0-based, in sorted name order) with its boxes."""
    el = ET.Element("image", {"id": str(frame), "name": image.path,
                              "width": str(image.width), "height": str(image.height)})
    for det in image.detections:
        el.append(cvat_box(det))
    return el


def _serialise(el: ET.Element, level: int) -> str:
    ET.indent(el, space="  ", level=level)
    return "  " * level + ET.tostring(el, encoding="unicode") + "\n"


class CvatExporter(Exporter):
    """CVAT for images 1.1 (annotations.xml + upload zip + label constructor JSON)."""

    name = "cvat"
    description = "CVAT for images 1.1 (annotations.xml, annotations.zip for Upload annotations, labels.json)"
    default_split = "default"

    def open(self) -> None:
        super().open()
        self._body_path = self.out_dir / ".images.part"
        self._body: IO[str] = self.open_file(self._body_path)
        self._frame = 0

    def write(self, image: ImageAnnotations) -> None:
        self._body.write(_serialise(cvat_image(self._frame, image), 1))
        self._frame += 1
        self.place_image(image, self.out_dir / "images" / image.path)

    def close(self) -> list[Path]:
        self._body.close()
        xml_path = self.out_dir / "annotations.xml"
        with open(xml_path, "w", encoding="utf-8") as f:
            f.write('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n')
            f.write(_serialise(cvat_meta(self.run.classes, self.run.name, self._frame), 1))
            with open(self._body_path, encoding="utf-8") as body:
                while chunk := body.read(1 << 20):
                    f.write(chunk)
            f.write("</annotations>\n")
        self._body_path.unlink()
        zip_path = write_zip(self.out_dir / "annotations.zip", [("annotations.xml", xml_path)])
        labels = self.out_dir / "labels.json"
        labels.write_text(json.dumps(cvat_label_specs(self.run.classes), ensure_ascii=False, indent=2) + "\n",
                          encoding="utf-8")
        written = [xml_path, zip_path, labels]
        if self.images != "none":
            written.append(self.out_dir / "images")
        return written
