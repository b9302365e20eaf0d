"""COCO detection JSON (``annotations/instances_<split>.json``), the layout CVAT exports and
datumaro imports; optionally a pycocotools results list.

Layout::

    coco/annotations/instances_<split>.json
    coco/images/<split>/<relative path>        (with --copy-images / --link-images)
    coco/results-<split>.json                  (with coco_results: a list for COCO.loadRes)

Image ``file_name`` keeps the path relative to the run's image root (``cam1/0001.jpg``), so
nested folders with repeated basenames stay distinct. A path with a control character or a
byte that is not UTF-8 is written escaped (:func:`autolabel.names.escape_name`: ``bad%FF.jpg``),
and a copied or linked image gets that name too. The entries (categories ``class_id + 1``
for every class of the run, ``bbox`` ``[x, y, w, h]`` float pixels, ...) come from
:mod:`autolabel.formats.coco`; this module only streams them to disk. Annotation ids start at 1.

Masks: ``segmentation`` holds polygons by default (``-O segmentation=rle``: the exact compressed
RLE; ``-O polygon_tolerance=PX`` simplifies polygons), ``area`` the mask's pixel count; a box
without a mask keeps ``segmentation: []`` and ``area = w*h``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO, Any

from autolabel.export import Exporter, Option
from autolabel.formats.coco import (
    ANNOTATIONS_DIR,
    SEGMENTATION_MODES,
    category_id,
    coco_annotation,
    coco_category,
    coco_image,
    coco_result,
    instances_filename,
)
from autolabel.names import escape_name, json_line
from autolabel.types import ImageAnnotations
from exporters._common import POLYGON_TOLERANCE

log = logging.getLogger(__name__)


def _dumps(obj: Any) -> str:
    return json_line(obj, separators=(", ", ": "))


class _JsonList:
    """Writes the elements of a JSON list one per line to a part file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.f: IO[str] = open(path, "w", encoding="utf-8")
        self.n = 0

    def add(self, obj: Any) -> None:
        self.f.write((",\n" if self.n else "") + _dumps(obj))
        self.n += 1

    def close(self) -> None:
        self.f.close()


class CocoExporter(Exporter):
    """COCO instances JSON with scores (+ optional results list)."""

    name = "coco"
    description = "COCO detection JSON (annotations/instances_<split>.json) with score and objectness"
    default_split = "default"
    options = {
        "coco_results": Option(False, "also write results-<split>.json, a list for pycocotools COCO.loadRes",
                               flag="--coco-results"),
        "segmentation": Option("polygon", "how instance masks are written: 'polygon' (one per part, holes filled) "
                               "or 'rle' (the exact mask, compressed RLE)", choices=SEGMENTATION_MODES),
        "polygon_tolerance": POLYGON_TOLERANCE,
    }

    def open(self) -> None:
        super().open()
        (self.out_dir / ANNOTATIONS_DIR).mkdir()
        self._images = self.track(_JsonList(self.out_dir / ".images.part"))
        self._anns = self.track(_JsonList(self.out_dir / ".annotations.part"))
        self._results = self.track(_JsonList(self.out_dir / ".results.part")) if self.opts["coco_results"] else None
        self._image_id = 0

    def write(self, image: ImageAnnotations) -> None:
        self._image_id += 1
        name = escape_name(image.path)
        self._images.add(coco_image(self._image_id, name, image.width, image.height))
        for det in image.detections:
            cat = category_id(self.run.class_id(det.label))
            self._anns.add(coco_annotation(self._anns.n + 1, self._image_id, cat, det,
                                           self.opts["segmentation"], self.opts["polygon_tolerance"]))
            if self._results is not None:
                self._results.add(coco_result(self._image_id, cat, det))
        self.place_image(image, self.out_dir / "images" / self.split / name)

    def close(self) -> list[Path]:
        parts = [self._images, self._anns] + ([self._results] if self._results else [])
        for p in parts:
            p.close()
        target = self.out_dir / ANNOTATIONS_DIR / instances_filename(self.split)
        info = {
            "description": f"autolabel run {escape_name(self.run.name)}",
            "version": self.run.model_version,
            "contributor": "autolabel",
            "revision": self.run.revision or "original",
        }
        with open(target, "w", encoding="utf-8") as f:
            f.write('{\n"info": ' + _dumps(info) + ',\n"licenses": [],\n"categories": [\n')
            f.write(",\n".join(_dumps(coco_category(i, c)) for i, c in enumerate(self.run.classes)))
            for key, part in (("images", self._images), ("annotations", self._anns)):
                f.write(f'\n],\n"{key}": [\n')
                _copy_part(part.path, f)
            f.write("\n]\n}\n")
        written = [target]
        if self._results is not None:
            if self._results.n == 0:
                log.warning("%s: the results list is empty; pycocotools' loadRes cannot read an empty list", self.out_dir)
            res = self.out_dir / f"results-{self.split}.json"
            with open(res, "w", encoding="utf-8") as f:
                f.write("[\n")
                _copy_part(self._results.path, f)
                f.write("\n]\n")
            written.append(res)
        for p in parts:
            p.path.unlink()
        if self.images != "none":
            written.append(self.out_dir / "images" / self.split)
        return written


def _copy_part(path: Path, out: IO[str]) -> None:
    with open(path, encoding="utf-8") as f:
        while chunk := f.read(1 << 20):
            out.write(chunk)
