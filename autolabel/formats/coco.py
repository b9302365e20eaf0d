"""COCO detection JSON: the format's facts and its ground-truth reader.

Facts (what :mod:`exporters.coco` writes; FORMATS.md section 1): ``category_id`` is the 0-based
class id + 1 (id 0 loses its label in datumaro and CVAT); image and annotation ids start at 1;
``bbox`` is ``[x, y, w, h]`` float pixels from the top-left corner; ``area = w * h``;
``iscrowd`` 0 and an empty ``segmentation`` for a box without a mask (a non-empty one makes CVAT
import a polygon); the score rides along as an extra ``score`` key. The files live in
``annotations/instances_<split>.json``.

Masks (:data:`SEGMENTATION_MODES`): a detection with a mask gets ``segmentation`` as polygons
``[[x1, y1, x2, y2, ...], ...]`` (one per part, pixel-edge coordinates, holes filled: COCO
polygons cannot hold holes; :mod:`autolabel.formats.polygons`) or, in ``rle`` mode, the run's
compressed RLE ``{"size": [h, w], "counts": str}`` as it is (exact; pycocotools reads it for
``iscrowd`` 0 too). ``area`` is then the mask's pixel count. A results entry carries the RLE
whenever the detection has a mask, so ``COCOeval(iouType="segm")`` can score it.

Reader: ``images`` (``file_name``, ``width``, ``height``), ``categories`` (``id``, ``name``) and
``annotations`` (``image_id``, ``category_id``, ``bbox``, ``iscrowd``, ``segmentation``). Every
listed image counts as labelled, also the ones without annotations. Crowd regions
(``iscrowd=1``) are kept as *ignore* boxes, as COCOeval treats them. With ``with_masks``, a
non-empty ``segmentation`` (polygons, or RLE compressed or not) becomes the box's mask, as compressed RLE
over the image (rasterised by pycocotools, as COCOeval does); an empty one leaves the mask None.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from autolabel import masks
from autolabel.errors import RecordError
from autolabel.formats.base import GroundTruth, GroundTruthError, GroundTruthImage, check_unique_paths, class_list
from autolabel.formats.polygons import DEFAULT_TOLERANCE, mask_to_polygons
from autolabel.geometry import xywh_to_xyxy, xyxy_to_xywh
from autolabel.names import escape_name
from autolabel.types import Box, Detection
from autolabel.yamlio import excerpt

log = logging.getLogger(__name__)

ANNOTATIONS_DIR = "annotations"
"""Folder of the JSON files (``annotations/instances_<split>.json``; datumaro finds the root by it)."""
SEGMENTATION_MODES = ("polygon", "rle")
"""How a mask is written: ``polygon`` (one per part, holes filled) or ``rle`` (the exact mask)."""


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


def coco_polygons(mask: Any, tolerance: float = DEFAULT_TOLERANCE) -> list[list[float]]:
    """COCO polygon ``segmentation`` of an RLE mask: ``[[x1, y1, x2, y2, ...], ...]``, one flat
    list per part (at least 3 points), pixel-edge coordinates, holes filled."""
    return [[round(float(v), 2) for v in p.ravel()] for p in mask_to_polygons(mask, tolerance)]


def coco_annotation(ann_id: int, image_id: int, category_id: int, det: Detection,
                    segmentation: str = "polygon", tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """Annotation entry: xywh ``bbox``, ``iscrowd`` 0, plus ``score``, ``objectness`` and
    ``autolabel_id`` (our stable detection id: COCO ids are renumbered by every tool; escaped like
    file names, :func:`autolabel.names.escape_name`, since JSON readers such as orjson refuse a
    lone surrogate).

    Without a mask: ``area = w*h`` and an empty ``segmentation`` (a non-empty one turns the box
    into a polygon in CVAT). With a mask: ``segmentation`` as ``segmentation`` says
    (:data:`SEGMENTATION_MODES`; ``tolerance`` in pixels simplifies polygons) and ``area`` = the
    mask's pixel count.
    """
    if segmentation not in SEGMENTATION_MODES:
        raise ValueError(f"segmentation must be one of {SEGMENTATION_MODES}, got {segmentation!r}")
    bbox = coco_bbox(det.box)
    seg: Any = []
    area = round(bbox[2] * bbox[3], 6)
    if det.mask is not None:
        area = masks.area(det.mask)
        seg = dict(det.mask) if segmentation == "rle" else coco_polygons(det.mask, tolerance)
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": bbox,
        "area": area,
        "iscrowd": 0,
        "segmentation": seg,
        "score": det.score,
        "objectness": det.objectness,
        "autolabel_id": escape_name(det.id),
    }


def coco_result(image_id: int, category_id: int, det: Detection) -> dict[str, Any]:
    """Entry of a pycocotools results list (``COCO.loadRes``); with the mask as compressed RLE
    ``segmentation`` when the detection has one (the only form loadRes takes for results)."""
    entry: dict[str, Any] = {"image_id": image_id, "category_id": category_id, "bbox": coco_bbox(det.box), "score": det.score}
    if det.mask is not None:
        entry["segmentation"] = dict(det.mask)
    return entry


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


def _finite(v: int | float) -> float | None:
    """``v`` as a float; None if it is not finite (``inf``, ``nan``, or an int of 400 digits,
    which JSON allows and ``float()`` refuses with OverflowError)."""
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _size_or_none(v: Any, where: str, field: str) -> int | None:
    """A positive integer size, None if absent or not positive; a non-finite or non-number
    value is an error naming ``field``."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or _finite(v) is None:
        raise GroundTruthError(f"{where}: '{field}' must be a positive integer, got {excerpt(v)}")
    i = int(v)
    return i if i > 0 and i == v else None


def _list(data: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise GroundTruthError(f"{path}: '{key}' must be a list, got {excerpt(value)}")
    return value


def _id(value: Any, where: str, field: str) -> int | str:
    """An id: an integer (not a bool) or a string; lists, objects and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise GroundTruthError(f"{where}: '{field}' must be an integer or a string, got {excerpt(value)}")
    return value


def _bbox(value: Any, where: str) -> tuple[float, float, float, float] | None:
    """``[x, y, w, h]`` as finite floats; None for an empty bbox. A string (``"1234"``), a
    wrong length, a non-number or a non-finite value is an error."""
    if value is None or value == []:
        return None
    if not isinstance(value, list) or len(value) != 4 or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise GroundTruthError(f"{where}: 'bbox' must be a list [x, y, w, h] of 4 numbers, got {excerpt(value)}")
    x, y, w, h = (_finite(v) for v in value)
    if x is None or y is None or w is None or h is None:
        raise GroundTruthError(f"{where}: 'bbox' has a non-finite value: {excerpt(value)}")
    return x, y, w, h


MAX_MASK_PIXELS = 2**31 - 1
"""Most pixels an image with a ground-truth segmentation may have (pycocotools' counts are
32-bit)."""
POLYGON_REACH = 1.0
"""How far outside the image a ground-truth polygon vertex may lie, as a share of the image's
width (for ``x``) or height (for ``y``): ``[-W, 2W] x [-H, 2H]`` by default. Beyond that a
vertex is an error, not a pixel: pycocotools works in C ints at 5x the pixel scale and walks
every edge point by point, so a vertex at 1e9 crashes it and one at 1e8 costs gigabytes."""
POLYGON_PERIMETER = 100
"""Most edge length (in pixels) a ground-truth annotation's polygons may have together, per pixel
of the image's ``width + height``: pycocotools' memory grows with it (about 40 bytes a pixel)."""


def _polygons(seg: list[Any], width: int, height: int, where: str) -> list[list[float]]:
    """COCO polygons ``[[x1, y1, x2, y2, ...], ...]`` checked before pycocotools sees them:
    numbers, finite, within :data:`POLYGON_REACH` of the ``width`` x ``height`` image, with a
    total perimeter under :data:`POLYGON_PERIMETER`. Polygons of fewer than 3 points are left
    out (pycocotools cannot fill them). Pixels, ``(x, y)`` pairs."""
    polys: list[list[float]] = []
    perimeter = 0.0
    for k, p in enumerate(seg):
        if not isinstance(p, list) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in p):
            raise GroundTruthError(f"{where}: segmentation polygon {k} must be a list of numbers [x1, y1, x2, y2, ...], "
                                   f"got {excerpt(p)}")
        if len(p) < 6:
            continue
        coords = [_finite(v) for v in p[:len(p) // 2 * 2]]
        if None in coords:
            raise GroundTruthError(f"{where}: segmentation polygon {k} has a non-finite coordinate")
        xy = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        lo = -POLYGON_REACH * np.array([width, height])
        hi = (1 + POLYGON_REACH) * np.array([width, height])
        out = (xy < lo) | (xy > hi)
        if out.any():
            i, j = np.argwhere(out)[0]
            raise GroundTruthError(f"{where}: segmentation polygon {k} has {'xy'[j]} = {xy[i, j]:g}, far outside "
                                   f"the {width}x{height} image (allowed: {lo[j]:g} to {hi[j]:g})")
        perimeter += float(np.hypot(*(xy - np.roll(xy, 1, axis=0)).T).sum())
        polys.append([float(v) for v in xy.ravel()])
    if perimeter > POLYGON_PERIMETER * (width + height):
        raise GroundTruthError(f"{where}: segmentation polygons are {perimeter:.0f} pixels around, more than "
                               f"{POLYGON_PERIMETER} x (width + height) of the {width}x{height} image")
    return polys


def _segmentation_mask(seg: Any, width: int | None, height: int | None, where: str) -> dict[str, Any] | None:
    """A COCO ``segmentation`` (polygons, or RLE compressed or not) as compressed RLE over the
    ``height`` x ``width`` image; None when empty. Polygons are rasterised by pycocotools, as
    COCOeval does, after :func:`_polygons` checked them; RLE is checked and converted here
    (size against the image first, then counts: whole numbers, none negative, summing to
    ``height * width``), so pycocotools never reads memory the counts do not cover."""
    if not seg:
        return None
    if width is None or height is None:
        raise GroundTruthError(f"{where}: a segmentation needs the image's width and height")
    if width * height > MAX_MASK_PIXELS:
        raise GroundTruthError(f"{where}: a segmentation over a {width}x{height} image is beyond what COCO masks "
                               f"hold ({MAX_MASK_PIXELS:,} pixels: pycocotools counts in 32 bits)")
    try:
        if isinstance(seg, list):  # polygons: [[x1, y1, x2, y2, ...], ...]
            polys = _polygons(seg, width, height, where)
            if not polys:
                return None
            from pycocotools import mask as coco_mask

            rle = coco_mask.merge(coco_mask.frPyObjects(polys, height, width))
            return masks.check_rle({"size": [height, width], "counts": rle["counts"].decode("ascii")}, where)
        if isinstance(seg, dict) and isinstance(seg.get("counts"), list):  # uncompressed RLE
            return masks.from_runs(seg, f"{where}: segmentation RLE", shape=(height, width))
        if isinstance(seg, dict) and isinstance(seg.get("counts"), str):
            return masks.check_rle(seg, f"{where}: segmentation RLE", shape=(height, width))
    except RecordError as e:
        raise GroundTruthError(str(e)) from None
    raise GroundTruthError(f"{where}: segmentation must be polygons [[x1, y1, ...], ...] or RLE "
                           f"{{'size': [h, w], 'counts': ...}}, got {excerpt(seg)}")


def read_coco(path: str | Path, *, with_masks: bool = False) -> GroundTruth:
    """Read a COCO detection JSON file (or a folder holding exactly one) as ground truth;
    ``with_masks`` also reads each annotation's ``segmentation`` as its mask (for
    ``evaluate --iou-type segm``).

    Raises:
        GroundTruthError: naming the file and the field for anything malformed: not JSON,
            nested too deeply, a field of the wrong type (``bbox`` as a string, an id as a
            list, ``annotations`` not a list), a non-finite size or coordinate.
    """
    path = Path(path)
    if path.is_dir():
        path = find_coco_json(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise GroundTruthError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except (OSError, ValueError) as e:  # ValueError: JSONDecodeError, or an int of more than 4300 digits
        raise GroundTruthError(f"{path}: cannot read COCO JSON ({e})") from None
    except RecursionError:
        raise GroundTruthError(f"{path}: nested too deeply to read as COCO JSON") from None
    if isinstance(data, list):
        raise GroundTruthError(f"{path}: this is a COCO results list (detections), not a ground-truth file with images/annotations/categories")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise GroundTruthError(f"{path}: not COCO ground truth: expected an object with an 'images' list")
    cats: dict[Any, str] = {}
    for i, c in enumerate(_list(data, "categories", path)):
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise GroundTruthError(f"{path}: categories[{i}] lacks 'id' or 'name': {excerpt(c)}")
        if not isinstance(c["name"], (str, int)) or isinstance(c["name"], bool):
            raise GroundTruthError(f"{path}: categories[{i}]: 'name' must be a string, got {excerpt(c['name'])}")
        cats[_id(c["id"], f"{path}: categories[{i}]", "id")] = str(c["name"])
    images: dict[Any, dict[str, Any]] = {}
    for i, im in enumerate(data["images"]):
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise GroundTruthError(f"{path}: images[{i}] lacks 'id' or 'file_name': {excerpt(im)}")
        where = f"{path}: images[{i}]"
        if not isinstance(im["file_name"], str) or not im["file_name"]:
            raise GroundTruthError(f"{where}: 'file_name' must be a non-empty string, got {excerpt(im['file_name'])}")
        images[_id(im["id"], where, "id")] = {
            "path": im["file_name"].replace("\\", "/").lstrip("/"),
            "width": _size_or_none(im.get("width"), where, "width"),
            "height": _size_or_none(im.get("height"), where, "height"),
            "boxes": [], "labels": [], "ignore": [], "masks": []}
    skipped = 0
    for i, a in enumerate(_list(data, "annotations", path)):
        if not isinstance(a, dict):
            raise GroundTruthError(f"{path}: annotations[{i}] is not an object: {excerpt(a)}")
        where = f"{path}: annotations[{i}]"
        aid = a.get("id")
        rec = images.get(_id(a.get("image_id"), where, "image_id"))
        if rec is None:
            raise GroundTruthError(f"{path}: annotation {excerpt(aid)} refers to image_id "
                                   f"{excerpt(a.get('image_id'))}, which is not in 'images'")
        cat = _id(a.get("category_id"), where, "category_id")
        if cat not in cats:
            raise GroundTruthError(f"{path}: annotation {excerpt(aid)} has category_id {excerpt(cat)}, which is not in 'categories'")
        bbox = _bbox(a.get("bbox"), where)
        if bbox is None:
            skipped += 1
            continue
        x, y, w, h = bbox
        if w <= 0 or h <= 0:
            skipped += 1
            continue
        rec["boxes"].append(xywh_to_xyxy((x, y, w, h)))
        rec["labels"].append(cats[cat])
        rec["ignore"].append(bool(a.get("iscrowd", 0)))
        if with_masks:
            rec["masks"].append(_segmentation_mask(a.get("segmentation"), rec["width"], rec["height"], f"{path}: annotation {aid}"))
    notes = []
    if skipped:
        notes.append(f"{path}: skipped {skipped} annotation(s) without a usable bbox")
        log.warning(notes[-1])
    records = sorted(
        (GroundTruthImage(r["path"], r["width"], r["height"], tuple(r["boxes"]), tuple(r["labels"]), tuple(r["ignore"]),
                          masks=tuple(r["masks"]) if any(m is not None for m in r["masks"]) else ())
         for r in images.values()),
        key=lambda r: r.path,
    )
    check_unique_paths(records, path)
    return GroundTruth("coco", path, class_list(list(cats.values()), records), tuple(records), tuple(notes))
