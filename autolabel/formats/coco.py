"""COCO detection JSON: the format's facts and its ground-truth reader.

Facts (what :mod:`exporters.coco` writes; FORMATS.md section 1): ``category_id`` is the 0-based
class id + 1 (id 0 loses its label in datumaro and CVAT); image and annotation ids start at 1;
``bbox`` is ``[x, y, w, h]`` float pixels from the top-left corner; ``area = w * h``;
``iscrowd`` 0 and an empty ``segmentation`` (a non-empty one makes CVAT import a polygon); the
score rides along as an extra ``score`` key. The files live in ``annotations/instances_<split>.json``.

Reader: ``images`` (``file_name``, ``width``, ``height``), ``categories`` (``id``, ``name``) and
``annotations`` (``image_id``, ``category_id``, ``bbox``, ``iscrowd``). Every listed image counts
as labelled, also the ones without annotations. Crowd regions (``iscrowd=1``) are kept as
*ignore* boxes, as COCOeval treats them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from autolabel.formats.base import GroundTruth, GroundTruthError, GroundTruthImage, check_unique_paths, class_list
from autolabel.geometry import xywh_to_xyxy, xyxy_to_xywh
from autolabel.types import Box, Detection

log = logging.getLogger(__name__)

ANNOTATIONS_DIR = "annotations"
"""Folder of the JSON files (``annotations/instances_<split>.json``; datumaro finds the root by it)."""


def instances_filename(split: str) -> str:
    """``instances_<split>.json``, the name CVAT exports and datumaro imports."""
    return f"instances_{split}.json"


# -- writing: one entry at a time ------------------------------------------------------------


def category_id(class_id: int) -> int:
    """COCO ``category_id`` of 0-based ``class_id``: ``class_id + 1`` (id 0 loses its label in
    datumaro and CVAT)."""
    return class_id + 1


def coco_category(class_id: int, name: str) -> dict[str, Any]:
    """Category entry for 0-based ``class_id`` (id :func:`category_id`)."""
    return {"id": category_id(class_id), "name": name, "supercategory": ""}


def coco_image(image_id: int, file_name: str, width: int, height: int) -> dict[str, Any]:
    """Image entry; ``width``/``height`` ints (the displayed size)."""
    return {"id": image_id, "file_name": file_name, "width": int(width), "height": int(height)}


def coco_bbox(box: Box) -> list[float]:
    """``(x1, y1, x2, y2)`` px -> COCO ``[x, y, w, h]`` px (top-left corner, floats rounded to
    1e-6 px so that float noise such as ``30.599999999999998`` does not show)."""
    return [round(v, 6) for v in xyxy_to_xywh(box)]


def coco_annotation(ann_id: int, image_id: int, category_id: int, det: Detection) -> dict[str, Any]:
    """Annotation entry: xywh ``bbox``, ``area = w*h``, ``iscrowd`` 0, empty ``segmentation``
    (a non-empty one turns the box into a polygon in CVAT), plus ``score``, ``objectness`` and
    ``autolabel_id`` (our stable detection id: COCO ids are renumbered by every tool)."""
    bbox = coco_bbox(det.box)
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": bbox,
        "area": round(bbox[2] * bbox[3], 6),
        "iscrowd": 0,
        "segmentation": [],
        "score": det.score,
        "objectness": det.objectness,
        "autolabel_id": det.id,
    }


def coco_result(image_id: int, category_id: int, det: Detection) -> dict[str, Any]:
    """Entry of a pycocotools results list (``COCO.loadRes``)."""
    return {"image_id": image_id, "category_id": category_id, "bbox": coco_bbox(det.box), "score": det.score}


# -- reading ground truth --------------------------------------------------------------------


def find_coco_json(folder: Path) -> Path:
    """The one COCO JSON of an exported folder (``annotations/instances_*.json`` or ``*.json``)."""
    ann_dir = folder / ANNOTATIONS_DIR
    candidates = sorted(ann_dir.glob("*.json")) if ann_dir.is_dir() else []
    if not candidates:
        candidates = sorted(folder.glob("*.json"))
    if len(candidates) != 1:
        found = ", ".join(str(c) for c in candidates) or "none"
        raise GroundTruthError(f"{folder}: expected exactly one COCO JSON file (in annotations/ or the folder), found {found}")
    return candidates[0]


def _int_or_none(v: Any) -> int | None:
    if v is None:
        return None
    try:
        i = int(v)
    except (TypeError, ValueError):
        return None
    return i if i > 0 and i == v else None


def read_coco(path: str | Path) -> GroundTruth:
    """Read a COCO detection JSON file (or a folder holding exactly one) as ground truth."""
    path = Path(path)
    if path.is_dir():
        path = find_coco_json(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GroundTruthError(f"{path}: cannot read COCO JSON ({e})") from None
    if isinstance(data, list):
        raise GroundTruthError(f"{path}: this is a COCO results list (detections), not a ground-truth file with images/annotations/categories")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise GroundTruthError(f"{path}: not COCO ground truth: expected an object with an 'images' list")
    cats: dict[Any, str] = {}
    for c in data.get("categories") or []:
        try:
            cats[c["id"]] = str(c["name"])
        except (KeyError, TypeError):
            raise GroundTruthError(f"{path}: a category lacks 'id' or 'name': {c!r}") from None
    images: dict[Any, dict[str, Any]] = {}
    for im in data["images"]:
        try:
            images[im["id"]] = {"path": str(im["file_name"]).replace("\\", "/").lstrip("/"),
                                "width": _int_or_none(im.get("width")), "height": _int_or_none(im.get("height")),
                                "boxes": [], "labels": [], "ignore": []}
        except (KeyError, TypeError):
            raise GroundTruthError(f"{path}: an image lacks 'id' or 'file_name': {im!r}") from None
    skipped = 0
    for a in data.get("annotations") or []:
        if not isinstance(a, dict):
            raise GroundTruthError(f"{path}: an annotation is not an object: {a!r}")
        aid = a.get("id")
        rec = images.get(a.get("image_id"))
        if rec is None:
            raise GroundTruthError(f"{path}: annotation {aid} refers to image_id {a.get('image_id')!r}, which is not in 'images'")
        if a.get("category_id") not in cats:
            raise GroundTruthError(f"{path}: annotation {aid} has category_id {a.get('category_id')!r}, which is not in 'categories'")
        bbox = a.get("bbox")
        if not bbox:
            skipped += 1
            continue
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            raise GroundTruthError(f"{path}: annotation {aid} bbox must be [x, y, w, h], got {bbox!r}") from None
        if w <= 0 or h <= 0:
            skipped += 1
            continue
        rec["boxes"].append(xywh_to_xyxy((x, y, w, h)))
        rec["labels"].append(cats[a["category_id"]])
        rec["ignore"].append(bool(a.get("iscrowd", 0)))
    notes = []
    if skipped:
        notes.append(f"{path}: skipped {skipped} annotation(s) without a usable bbox")
        log.warning(notes[-1])
    records = sorted(
        (GroundTruthImage(r["path"], r["width"], r["height"], tuple(r["boxes"]), tuple(r["labels"]), tuple(r["ignore"]))
         for r in images.values()),
        key=lambda r: r.path,
    )
    check_unique_paths(records, path)
    return GroundTruth("coco", path, class_list(list(cats.values()), records), tuple(records), tuple(notes))
