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

Masks (``-O labelstudio.shapes=box|polygon``): by default (``box``) a detection with a mask is
predicted as its box, a ``rectanglelabels`` region, and the config declares ``RectangleLabels``
only: what Label Studio's usual object-detection project shows (a project shows only the region
types its config declares). With ``polygon`` it is a ``polygonlabels`` region per part of the
mask (points in percent, ``-O polygon_tolerance=PX``) instead, and the config then declares
``<PolygonLabels name="polygon">`` with the same labels beside the rectangles (for detections
without a mask).

Image URLs: ``image_url_prefix`` + the percent-encoded path relative to the run's image root.
With ``--copy-images`` / ``--link-images`` the URLs name the images placed in the export instead:
the default prefix becomes ``/data/local-files/?d=images/`` (document root: the export folder;
Local Storage path: its ``images/``), and a path with a control character or a byte that is not
UTF-8 is placed and named escaped (:func:`autolabel.names.escape_name`). ``data.path`` is always
the run's exact path (a byte that is not UTF-8 as the JSON escape ``\\udcXY``).
The default is Label Studio's local-files form naming the image folder,
``/data/local-files/?d=<image folder name>/``: Label Studio serves local files only from inside
a Local Storage, and refuses a storage whose path is its document root (checked against
Label Studio 1.23). So start it with ``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<parent of the image folder>`` and add a Local Storage
whose path is the image folder (see the README).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from autolabel.export import Exporter, Option
from autolabel.formats.labelstudio import SHAPE_MODES, SHAPES_HELP, default_url_prefix, image_url, ls_config, ls_task
from autolabel.names import escape_name, has_undecodable, json_line
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
        "shapes": Option(SHAPE_MODES[0], SHAPES_HELP, choices=SHAPE_MODES),
        "polygon_tolerance": POLYGON_TOLERANCE,
    }

    def open(self) -> None:
        super().open()
        self._tasks_path = self.out_dir / "tasks.json"
        self._f: IO[str] = self.open_file(self._tasks_path)
        self._f.write("[")
        self._n = 0
        self._undecodable = 0
        self._polygons = False
        self._masked = 0
        self._placed = self.images != "none"
        default = default_url_prefix(self.final_dir / "images" if self._placed else self.run.image_root)
        self._prefix = self.opts["image_url_prefix"] or default

    def write(self, image: ImageAnnotations) -> None:
        name = escape_name(image.path)
        polygons = self.opts["shapes"] == "polygon"
        masked = sum(d.mask is not None for d in image.detections)
        self._masked += masked
        self._polygons = self._polygons or (polygons and masked > 0)
        # Placed images are named escaped; URLs then name the copy, else the original's bytes.
        task = ls_task(image, image_url(name if self._placed else image.path, self._prefix), self.run.model_version,
                       polygons=polygons, tolerance=self.opts["polygon_tolerance"])
        self._f.write(("," if self._n else "") + "\n" + json_line(task))
        self._n += 1
        self._undecodable += has_undecodable(image.path)
        self.place_image(image, self.out_dir / "images" / name)

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
        """With the default URL prefix: how to start Label Studio so that the task URLs resolve;
        a warning for names Label Studio cannot serve from the original folder."""
        out: list[str] = []
        if not self.opts["image_url_prefix"]:
            if self._placed:
                doc_root, storage = self.final_dir, self.final_dir / "images"
                where = "the task URLs point at the images in this export's images/ folder; "
            else:
                doc_root, storage = self.run.image_root.parent, self.run.image_root
                where = ""
            out.append(f"{where}start Label Studio with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true "
                       f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={doc_root} and add a Local Storage with path "
                       f"{storage} (treat every file as a source: off; do not sync), then import tasks.json.")
        if self._masked and self.opts["shapes"] == "box":
            out.append(f"{self._masked} detection(s) with a mask are predicted as their boxes (rectanglelabels), for "
                       "an object-detection project; for a segmentation project (PolygonLabels) export with "
                       "-O labelstudio.shapes=polygon")
        if self._undecodable and not self._placed:
            out.append(f"{self._undecodable} image name(s) are not UTF-8: their URLs percent-encode the exact bytes, "
                       "which Label Studio decodes as UTF-8 and cannot find; export with --copy-images "
                       "(copies get escaped UTF-8 names, and the URLs name them)")
        return out
