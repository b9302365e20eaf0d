"""Label Studio tasks with predictions (pre-annotations) and the matching labeling config.

Layout::

    labelstudio/tasks.json             a list, one task per image: {"data": {"image": URL, "path": ...},
                                       "predictions": [{"model_version", "score", "result": [...]}]}
    labelstudio/labeling_config.xml    <View><Image name="image"/><RectangleLabels name="label"> ...

Region values are percentages of the displayed image: ``x``/``y`` the top-left corner,
``width``/``height`` the size, ``rotation`` 0. Each region carries its ``score`` and
``meta.objectness``; the prediction's ``score`` is the lowest region score (so sorting the Data
Manager by prediction score shows the doubtful images first). Region ids come from the run's
detection ids (:func:`region_id`), unique within a task.

Image URLs: ``image_url_prefix`` + the percent-encoded path relative to the run's image root.
The default is Label Studio's local-files form naming the image folder,
``/data/local-files/?d=<image folder name>/``: Label Studio serves local files only from inside
a Local Storage, and refuses a storage whose path is its document root (checked against
Label Studio 1.23). So start it with ``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<parent of the image folder>`` and add a Local Storage
whose path is the image folder (see the README).
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO, Any, Sequence
from urllib.parse import quote

from autolabel.export import Exporter, Option
from autolabel.types import Detection, ImageAnnotations

from exporters._common import label_color

LOCAL_FILES_PREFIX = "/data/local-files/?d="
FROM_NAME = "label"
TO_NAME = "image"
DATA_KEY = "image"

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def image_url(relpath: str, prefix: str = LOCAL_FILES_PREFIX) -> str:
    """``prefix`` + ``relpath`` percent-encoded (UTF-8; ``/`` kept; space -> ``%20``,
    ``+`` -> ``%2B``, so Label Studio's ``d=`` parameter decodes back to the exact path)."""
    return prefix + quote(relpath, safe="/")


def default_url_prefix(image_root: Path) -> str:
    """``/data/local-files/?d=<image folder name>/``: URLs relative to the folder's parent, which
    is the document root Label Studio needs (it refuses a storage at the document root itself)."""
    name = Path(image_root).name
    return LOCAL_FILES_PREFIX + (quote(name, safe="") + "/" if name else "")


def region_id(detection_id: str) -> str:
    """Label Studio region id for a detection id: the id itself if it is made of letters,
    digits, ``_`` and ``-``, else those characters kept (others become ``_``) plus ``-`` and
    8 hex digits of its SHA-1, so different detection ids never share a region id."""
    if _SAFE_ID.match(detection_id):
        return detection_id
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", detection_id)
    return f"{clean}-{hashlib.sha1(detection_id.encode('utf-8')).hexdigest()[:8]}"


def percent_box(box: tuple[float, float, float, float], width: int, height: int) -> dict[str, float]:
    """``(x1, y1, x2, y2)`` px -> ``{"x", "y", "width", "height"}`` in percent of the image
    (top-left corner), each in [0, 100] with ``x + width <= 100`` up to rounding."""
    x1, y1, x2, y2 = box
    x = min(max(100.0 * x1 / width, 0.0), 100.0)
    y = min(max(100.0 * y1 / height, 0.0), 100.0)
    w = min(max(100.0 * (x2 - x1) / width, 0.0), 100.0 - x)
    h = min(max(100.0 * (y2 - y1) / height, 0.0), 100.0 - y)
    return {"x": x, "y": y, "width": w, "height": h}


def ls_region(det: Detection, width: int, height: int) -> dict[str, Any]:
    """One ``rectanglelabels`` result for a detection (label unescaped: escaping is the
    config XML's business)."""
    value: dict[str, Any] = percent_box(det.box, width, height)
    value["rotation"] = 0
    value["rectanglelabels"] = [det.label]
    return {
        "id": region_id(det.id),
        "type": "rectanglelabels",
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "value": value,
        "score": det.score,
        "meta": {"objectness": det.objectness},
    }


def ls_task(image: ImageAnnotations, url: str, model_version: str) -> dict[str, Any]:
    """One task: the image URL (plus its run path) and one prediction with every box."""
    result = []
    used: set[str] = set()
    for det in image.detections:
        region = ls_region(det, image.width, image.height)
        rid, n = region["id"], 1
        while rid in used:  # only if two sanitised ids collide; stays deterministic
            rid, n = f"{region['id']}_{n}", n + 1
        region["id"] = rid
        used.add(rid)
        result.append(region)
    prediction: dict[str, Any] = {"model_version": model_version}
    if result:
        prediction["score"] = min(d.score for d in image.detections)
    prediction["result"] = result
    return {"data": {DATA_KEY: url, "path": image.path}, "predictions": [prediction]}


def ls_config(classes: Sequence[str]) -> str:
    """The labeling config XML: an Image ``$image`` and RectangleLabels with every class."""
    view = ET.Element("View")
    ET.SubElement(view, "Image", {"name": TO_NAME, "value": f"${DATA_KEY}"})
    rl = ET.SubElement(view, "RectangleLabels", {"name": FROM_NAME, "toName": TO_NAME})
    for i, c in enumerate(classes):
        ET.SubElement(rl, "Label", {"value": c, "background": label_color(i)})
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


class LabelStudioExporter(Exporter):
    """Label Studio tasks JSON with predictions, plus the labeling config."""

    name = "labelstudio"
    description = "Label Studio tasks.json with predictions (percent boxes, scores) and labeling_config.xml"
    default_split = "default"
    options = {
        "image_url_prefix": Option("", "prefix of image URLs; the percent-encoded path relative to the image "
                                   "root is appended (default: Label Studio's local-files form "
                                   "/data/local-files/?d=<image folder name>/)", flag="--image-url-prefix"),
    }

    def open(self) -> None:
        super().open()
        self._tasks_path = self.out_dir / "tasks.json"
        self._f: IO[str] = self.open_file(self._tasks_path)
        self._f.write("[")
        self._n = 0

    def write(self, image: ImageAnnotations) -> None:
        prefix = self.opts["image_url_prefix"] or default_url_prefix(self.run.image_root)
        task = ls_task(image, image_url(image.path, prefix), self.run.model_version)
        self._f.write(("," if self._n else "") + "\n" + json.dumps(task, ensure_ascii=False))
        self._n += 1
        self.place_image(image, self.out_dir / "images" / image.path)

    def close(self) -> list[Path]:
        self._f.write("\n]\n")
        self._f.close()
        config = self.out_dir / "labeling_config.xml"
        config.write_text(ls_config(self.run.classes), encoding="utf-8")
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
