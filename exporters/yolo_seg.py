"""YOLO segmentation in the Ultralytics ``segment`` task layout (``yolo-seg``), as Ultralytics
(``check_det_dataset``, ``verify_image_label``, ``YOLODataset(task="segment")``) reads it.

Layout (the same as :mod:`exporters.yolo`, so the same ``data.yaml`` trains a ``-seg`` model)::

    yolo-seg/data.yaml                        train/val: images/<split>; names: {0: ..., 1: ...}
    yolo-seg/images/<split>/<name><ext>       (with --copy-images / --link-images)
    yolo-seg/labels/<split>/<name>.txt        one line per object, empty when it has none
    yolo-seg/image_names.csv                  <name><ext>, source path (names are flat)

A line is ``class x1 y1 x2 y2 ...``: the object's outline (:mod:`autolabel.formats.polygons`,
simplified with ``polygon_tolerance`` pixels) divided by the image size, 6 decimals, at least 3
points. One line per object, as Ultralytics' own COCO converter writes it: an object in several
parts is one polygon that links the parts by zero-width bridges
(:func:`autolabel.formats.polygons.join_parts`); holes are filled (a YOLO polygon cannot hold
one). A detection without a mask is written as its box's four corners, so every line of a file
is a polygon (Ultralytics reads a file as segments only when no line is a 5-column box).
No score column (training labels).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from autolabel.formats.polygons import join_parts, mask_to_polygons
from autolabel.formats.yolo import box_polygon, yolo_segment_line
from autolabel.types import Detection, ImageAnnotations
from exporters._common import POLYGON_TOLERANCE
from exporters.yolo import YoloExporter


class YoloSegExporter(YoloExporter):
    """Ultralytics YOLO segmentation dataset (polygons)."""

    name = "yolo-seg"
    description = "YOLO segmentation, Ultralytics 'segment' layout (data.yaml, labels/<split>/*.txt polygon lines)"
    default_split = "train"
    options = {
        "polygon_tolerance": POLYGON_TOLERANCE,
    }

    def _polygon(self, det: Detection) -> list[tuple[float, float]]:
        if det.mask is None:
            return box_polygon(det.box)
        parts = mask_to_polygons(det.mask, self.opts["polygon_tolerance"])
        if not parts:  # an empty mask: the box is all there is
            return box_polygon(det.box)
        return [(float(x), float(y)) for x, y in join_parts(parts)]

    def write(self, image: ImageAnnotations) -> None:
        stem = self._namer(image.path)
        filename = stem + PurePosixPath(image.path).suffix
        lines = [yolo_segment_line(self.run.class_id(d.label), self._polygon(d), image.width, image.height)
                 for d in image.detections]
        (self._labels / f"{stem}.txt").write_text("".join(lines), encoding="utf-8")
        self._names.add(filename, image.path)
        self.place_image(image, self.out_dir / "images" / self.split / filename)
