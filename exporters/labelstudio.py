"""Label Studio tasks with predictions (pre-annotations) and the matching labeling config.

Layout::

    labelstudio/tasks.json             a list, one task per image: {"data": {"image": URL, "path": ...},
                                       "predictions": [{"model_version", "score", "result": [...]}]}
    labelstudio/labeling_config.xml    <View><Image name="image"/><RectangleLabels name="label"> ...

Region values are percentages of the displayed image: ``x``/``y`` the top-left corner,
``width``/``height`` the size, ``rotation`` 0. Each region carries its ``score`` and
``meta.objectness``; the prediction's ``score`` is the lowest region score (so sorting the Data
Manager by prediction score shows the doubtful images first). Region ids come from the run's
detection ids (:func:`autolabel.formats.labelstudio.region_id`), unique within a task. Tasks,
regions, URLs and the config are built by :mod:`autolabel.formats.labelstudio`.

Masks: a detection with a mask is a ``polygonlabels`` region per part of the mask (points in
percent, ``-O polygon_tolerance=PX``) instead of a rectangle, and the config then declares
``<PolygonLabels name="polygon">`` with the same labels beside the rectangles.

Image URLs: ``image_url_prefix`` + the percent-encoded path relative to the run's image root.
The default is Label Studio's local-files form naming the image folder,
``/data/local-files/?d=<image folder name>/``: Label Studio serves local files only from inside
a Local Storage, and refuses a storage whose path is its document root (checked against
Label Studio 1.23). So start it with ``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<parent of the image folder>`` and add a Local Storage
whose path is the image folder (see the README).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from autolabel.export import Exporter, Option
from autolabel.formats.labelstudio import default_url_prefix, image_url, ls_config, ls_task
from autolabel.types import ImageAnnotations
from exporters._common import POLYGON_TOLERANCE


class LabelStudioExporter(Exporter):
    """Label Studio tasks JSON with predictions, plus the labeling config."""

    name = "labelstudio"
    description = "Label Studio tasks.json with predictions (percent boxes, scores) and labeling_config.xml"
    default_split = "default"
    options = {
        "image_url_prefix": Option("", "prefix of image URLs; the percent-encoded path relative to the image "
                                   "root is appended (default: Label Studio's local-files form "
                                   "/data/local-files/?d=<image folder name>/)", flag="--image-url-prefix"),
        "polygon_tolerance": POLYGON_TOLERANCE,
    }

    def open(self) -> None:
        super().open()
        self._tasks_path = self.out_dir / "tasks.json"
        self._f: IO[str] = self.open_file(self._tasks_path)
        self._f.write("[")
        self._n = 0
        self._polygons = False

    def write(self, image: ImageAnnotations) -> None:
        prefix = self.opts["image_url_prefix"] or default_url_prefix(self.run.image_root)
        self._polygons = self._polygons or any(d.mask is not None for d in image.detections)
        task = ls_task(image, image_url(image.path, prefix), self.run.model_version, polygons=True,
                       tolerance=self.opts["polygon_tolerance"])
        self._f.write(("," if self._n else "") + "\n" + json.dumps(task, ensure_ascii=False))
        self._n += 1
        self.place_image(image, self.out_dir / "images" / image.path)

    def close(self) -> list[Path]:
        self._f.write("\n]\n")
        self._f.close()
        config = self.out_dir / "labeling_config.xml"
        config.write_text(ls_config(self.run.classes, polygons=self._polygons), encoding="utf-8")
        written = [self._tasks_path, config]
        if self.images != "none":
            written.append(self.out_dir / "images")
        return written

    def notes(self) -> list[str]:
        """With the default URL prefix: how to start Label Studio so that the task URLs resolve."""
        if self.opts["image_url_prefix"]:
            return []
        root = self.run.image_root
        return ["start Label Studio with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true "
                f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root.parent} and add a Local Storage with path {root} "
                "(treat every file as a source: off; do not sync), then import tasks.json."]
