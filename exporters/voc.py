"""Pascal VOC (devkit layout), as the datumaro, CVAT and fiftyone importers read it.

Layout::

    voc/Annotations/<name>.xml
    voc/JPEGImages/<name><ext>               (with --copy-images / --link-images)
    voc/ImageSets/Main/<split>.txt           one <name> per line: the item list
    voc/labelmap.txt                         "<class>:::" per line, every class of the run
    voc/image_names.csv                      <name><ext>, source path (VOC names are flat)

``<name>`` is the image's path made flat (:func:`exporters._common.flat_stem`: folders joined
with ``__``, whitespace replaced by ``_``), with a short hash appended when two images would
get the same name.

Boxes are integers. Default ``voc_origin="one"`` follows the devkit (first pixel is 1):
``xmin = floor(x1) + 1``, ``xmax = min(ceil(x2), W)``. ``voc_origin="zero"`` writes
``xmin = floor(x1)`` (what CVAT and fiftyone assume on import); ``xmax`` is the same in both.
``truncated`` is 1 when the box covers a pixel on the image border. Score and objectness go into
``<attributes>``, which datumaro and fiftyone read.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath
from typing import IO

from autolabel.errors import ExportError
from autolabel.export import Exporter, Option
from autolabel.types import Detection, ImageAnnotations

from exporters._common import FlatNamer, NamesTable, fmt_float


def voc_bndbox(box: tuple[float, float, float, float], width: int, height: int,
               origin: str = "one") -> tuple[int, int, int, int]:
    """Float ``(x1, y1, x2, y2)`` (x2 exclusive) -> integer ``(xmin, ymin, xmax, ymax)``.

    ``origin="one"``: devkit, 1-based inclusive pixels (``xmin >= 1``, ``xmax <= W``).
    ``origin="zero"``: ``xmin = floor(x1)`` (>= 0), ``xmax`` unchanged (exclusive, <= W).
    The result covers every pixel the float box touches, so it is at most 1 px larger per side.
    """
    x1, y1, x2, y2 = box
    off = 1 if origin == "one" else 0
    xmin = min(max(math.floor(x1), 0), width - 1) + off
    ymin = min(max(math.floor(y1), 0), height - 1) + off
    xmax = max(min(math.ceil(x2), width), xmin if origin == "one" else xmin + 1)
    ymax = max(min(math.ceil(y2), height), ymin if origin == "one" else ymin + 1)
    return xmin, ymin, xmax, ymax


def voc_truncated(bndbox: tuple[int, int, int, int], width: int, height: int, origin: str = "one") -> int:
    """1 if the integer box covers a pixel of the image's border rows/columns, else 0."""
    xmin, ymin, xmax, ymax = bndbox
    first = 1 if origin == "one" else 0
    return int(xmin <= first or ymin <= first or xmax >= width or ymax >= height)


def voc_object(det: Detection, width: int, height: int, origin: str = "one") -> ET.Element:
    """The ``<object>`` element for one detection (text escaped by ElementTree)."""
    bb = voc_bndbox(det.box, width, height, origin)
    obj = ET.Element("object")
    for tag, text in (("name", det.label), ("pose", "Unspecified"),
                      ("truncated", str(voc_truncated(bb, width, height, origin))),
                      ("difficult", "0"), ("occluded", "0")):
        ET.SubElement(obj, tag).text = text
    bndbox = ET.SubElement(obj, "bndbox")
    for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), bb):
        ET.SubElement(bndbox, tag).text = str(v)
    attrs = ET.SubElement(obj, "attributes")
    for name, value in (("score", det.score), ("objectness", det.objectness)):
        a = ET.SubElement(attrs, "attribute")
        ET.SubElement(a, "name").text = name
        ET.SubElement(a, "value").text = fmt_float(value)
    return obj


def voc_annotation(image: ImageAnnotations, filename: str, origin: str = "one") -> ET.Element:
    """The ``<annotation>`` root for one image; ``filename`` is the exported image file name."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = filename
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(image.width)
    ET.SubElement(size, "height").text = str(image.height)
    ET.SubElement(size, "depth").text = "3"
    ET.SubElement(root, "segmented").text = "0"
    for det in image.detections:
        root.append(voc_object(det, image.width, image.height, origin))
    return root


def voc_labelmap_line(name: str) -> str:
    """A ``labelmap.txt`` line (``name:color:parts:actions`` with the last three empty)."""
    if ":" in name or "\n" in name or name.startswith("#"):
        raise ExportError(f"VOC cannot declare class {name!r}: labelmap.txt splits on ':' and skips '#' lines; "
                          "leave it out with --classes or use another format")
    return f"{name}:::\n"


class VocExporter(Exporter):
    """Pascal VOC XML per image, devkit layout."""

    name = "voc"
    description = "Pascal VOC XML per image (devkit layout, labelmap.txt, 1-based integer boxes)"
    default_split = "default"
    options = {
        "voc_origin": Option("one", "pixel origin of bndbox: 'one' (devkit) or 'zero' (CVAT/fiftyone read it as is)",
                             choices=("one", "zero"), flag="--voc-origin"),
    }

    def open(self) -> None:
        super().open()
        self._labelmap = "".join(voc_labelmap_line(c) for c in self.run.classes)
        (self.out_dir / "Annotations").mkdir()
        (self.out_dir / "ImageSets" / "Main").mkdir(parents=True)
        self._namer = FlatNamer()
        self._list: IO[str] = self.open_file(self.out_dir / "ImageSets" / "Main" / f"{self.split}.txt")
        self._names = self.track(NamesTable(self.out_dir / NamesTable.FILENAME))

    def write(self, image: ImageAnnotations) -> None:
        stem = self._namer(image.path)
        filename = stem + PurePosixPath(image.path).suffix
        root = voc_annotation(image, filename, self.opts["voc_origin"])
        ET.indent(root)
        xml = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
        (self.out_dir / "Annotations" / f"{stem}.xml").write_text(xml, encoding="utf-8")
        self._list.write(stem + "\n")
        self._names.add(filename, image.path)
        self.place_image(image, self.out_dir / "JPEGImages" / filename)

    def close(self) -> list[Path]:
        self._list.close()
        labelmap = self.out_dir / "labelmap.txt"
        labelmap.write_text(self._labelmap, encoding="utf-8")
        written = [self.out_dir / "Annotations", Path(self._list.name), labelmap, self._names.close()]
        if self.images != "none":
            written.append(self.out_dir / "JPEGImages")
        return written
