"""CVAT for images 1.1 XML, plus the zip CVAT's "Upload annotations" takes and the label
constructor JSON to create the task with.

Layout::

    cvat/annotations.xml      <meta> declares every class with number attributes score and
                              objectness; one <image> per image, ids 0.. in sorted name order
    cvat/annotations.zip      exactly one annotations.xml at its root ("Upload annotations")
    cvat/labels.json          paste into the task's Labels > Raw editor before uploading
    cvat/images/<path>        (with --copy-images / --link-images; datumaro looks here)

Image names keep the path relative to the run's image root (``cam1/0001.jpg``): upload the
image folder to CVAT as it is (e.g. zipped) so task file names are the same. A name with a control character or a byte that is not UTF-8
(which XML 1.0 cannot hold) is written escaped (:func:`autolabel.names.escape_name`:
``bad%FF.jpg``); a copied or linked image gets that name too. Boxes are
``xtl/ytl/xbr/ybr`` corners with 2 decimals; ``source`` is ``auto`` (``manual`` for boxes a
person drew or edited in review); ``score``/``objectness`` have 3 decimals (attribute step 0.001).
A detection with a mask is written as ``<polygon>`` elements, one per part, instead of its box
(``-O cvat_shapes=box`` keeps the box only; ``-O polygon_tolerance=PX``); labels are then
declared with type ``any``.
The elements and the label specs come from :mod:`autolabel.formats.cvat`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO

from autolabel.export import Exporter, Option
from autolabel.formats.cvat import ANNOTATIONS_XML, SHAPE_MODES, cvat_image, cvat_label_specs, cvat_meta
from autolabel.names import escape_name
from autolabel.types import ImageAnnotations
from exporters._common import POLYGON_TOLERANCE, write_zip


def _serialise(el: ET.Element, level: int) -> str:
    ET.indent(el, space="  ", level=level)
    return "  " * level + ET.tostring(el, encoding="unicode") + "\n"


class CvatExporter(Exporter):
    """CVAT for images 1.1 (annotations.xml + upload zip + label constructor JSON)."""

    name = "cvat"
    description = "CVAT for images 1.1 (annotations.xml, annotations.zip for Upload annotations, labels.json)"
    default_split = "default"
    options = {
        "cvat_shapes": Option("polygon", "how a detection with a mask is written: 'polygon' (one per part, instead of "
                              "its box) or 'box' (the box only)", choices=SHAPE_MODES),
        "polygon_tolerance": POLYGON_TOLERANCE,
    }

    def open(self) -> None:
        super().open()
        self._body_path = self.out_dir / ".images.part"
        self._body: IO[str] = self.open_file(self._body_path)
        self._frame = 0
        self._polygons = False

    def write(self, image: ImageAnnotations) -> None:
        shapes = self.opts["cvat_shapes"]
        self._polygons = self._polygons or (shapes == "polygon" and any(d.mask is not None for d in image.detections))
        self._body.write(_serialise(cvat_image(self._frame, image, shapes, self.opts["polygon_tolerance"]), 1))
        self._frame += 1
        self.place_image(image, self.out_dir / "images" / escape_name(image.path))

    @property
    def _label_type(self) -> str:
        """``any`` once a polygon was written (a label then takes boxes and polygons), else ``rectangle``."""
        return "any" if self._polygons else "rectangle"

    def close(self) -> list[Path]:
        self._body.close()
        xml_path = self.out_dir / ANNOTATIONS_XML
        with open(xml_path, "w", encoding="utf-8") as f:
            f.write('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n')
            f.write(_serialise(cvat_meta(self.run.classes, self.run.name, self._frame, self._label_type), 1))
            with open(self._body_path, encoding="utf-8") as body:
                while chunk := body.read(1 << 20):
                    f.write(chunk)
            f.write("</annotations>\n")
        self._body_path.unlink()
        zip_path = write_zip(self.out_dir / "annotations.zip", [(ANNOTATIONS_XML, xml_path)])
        labels = self.out_dir / "labels.json"
        labels.write_text(json.dumps(cvat_label_specs(self.run.classes, self._label_type), ensure_ascii=False, indent=2) + "\n",
                          encoding="utf-8")
        written = [xml_path, zip_path, labels]
        if self.images != "none":
            written.append(self.out_dir / "images")
        return written
