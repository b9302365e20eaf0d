"""Label Studio: the format's facts, shared by the exporter (tasks with predictions) and the
import of a reviewed project (:mod:`autolabel.review.labelstudio`).

Tasks (FORMATS.md section 5): one per image, ``{"data": {"image": URL, "path": run path},
"predictions": [{"model_version", "score", "result": [...]}]}``. Each result item is a
``rectanglelabels`` region whose ``value`` holds percentages of the displayed image: ``x``/``y``
the top-left corner, ``width``/``height`` the size, ``rotation`` degrees clockwise about the
top-left corner. The labeling config names the controls: ``<Image name="image"
value="$image">`` and ``<RectangleLabels name="label" toName="image">``.

Image URLs: Label Studio serves Local Storage files under :data:`LOCAL_FILES_ENDPOINT`, the file
named by the ``d`` query parameter relative to ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``; an
image URL is :data:`LOCAL_FILES_URL_PREFIX` + the percent-encoded path (:func:`image_url`).
Label Studio refuses a storage whose path is the document root itself, so the default prefix
names the image folder (:func:`default_url_prefix`).

Region ids: :func:`region_id` turns a detection id into the region id the exporter writes and
the import looks for; Label Studio may append ``#suffix`` to ids it rewrites
(:func:`clean_region_id`).

Masks (:data:`SHAPE_MODES`): a Label Studio project shows only the region types its labeling
config declares, so how a detection with a mask is predicted depends on the project. ``box``:
one ``rectanglelabels`` region, its box, for a ``RectangleLabels`` (object detection) project,
and the config declares only ``RectangleLabels``. ``polygon``: ``polygonlabels`` regions
(control ``<PolygonLabels name="polygon">``, declared beside the rectangles with the same labels),
one per part of the mask (holes filled; :mod:`autolabel.formats.polygons`), ``value.points`` in
percent of the displayed image; the first part's id is the detection's region id, the others
``<id>_p2``, ``<id>_p3``, ... (:func:`part_region_id`), so the import puts the parts back together.
The import reads both.
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qs, quote, quote_from_bytes, unquote, urlsplit

from autolabel.formats.names import digest
from autolabel.formats.polygons import DEFAULT_TOLERANCE, mask_to_polygons
from autolabel.formats.text import label_color
from autolabel.geometry import clip_box, percent_to_xyxy, xyxy_to_percent
from autolabel.types import Box, Detection, ImageAnnotations
from autolabel.yamlio import excerpt

LOCAL_FILES_ENDPOINT = "/data/local-files/"
"""The URL path under which Label Studio serves files of a Local Storage."""
LOCAL_FILES_URL_PREFIX = LOCAL_FILES_ENDPOINT + "?d="
"""Prefix of a local-files image URL; the percent-encoded path below the document root follows."""
FROM_NAME = "label"
"""``name`` of the ``RectangleLabels`` control (``from_name`` of every region)."""
POLYGON_FROM_NAME = "polygon"
"""``name`` of the ``PolygonLabels`` control (``from_name`` of every polygon region)."""
TO_NAME = "image"
"""``name`` of the ``Image`` object (``to_name`` of every region)."""
DATA_KEY = "image"
"""Task ``data`` key of the image URL (``<Image value="$image">``)."""
SHAPE_MODES = ("box", "polygon")
"""How a detection with a mask is predicted: its box as a ``rectanglelabels`` region (for a
``RectangleLabels`` project), or its mask as ``polygonlabels`` regions (for a ``PolygonLabels``
project). The first is the exporter's default: see :data:`SHAPES_HELP`."""
SHAPES_HELP = ("how a detection with a mask is predicted: 'box' (its box as a rectanglelabels region; the default, "
               "because a project shows only the region types its config declares and the usual Label Studio project "
               "is object detection with RectangleLabels, which shows no polygon) or 'polygon' (one polygonlabels "
               "region per part of the mask, for a segmentation project with PolygonLabels); the labeling config "
               "written matches")
"""Help of the exporter's ``shapes`` option."""

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


# -- image URLs ------------------------------------------------------------------------------


def image_url(relpath: str, prefix: str = LOCAL_FILES_URL_PREFIX) -> str:
    """``prefix`` + ``relpath`` percent-encoded (UTF-8; ``/`` kept; space -> ``%20``,
    ``+`` -> ``%2B``, so Label Studio's ``d=`` parameter decodes back to the exact path). A
    byte of the file name that is not UTF-8 (a surrogate, see :mod:`autolabel.names`) is
    percent-encoded as itself (``bad\\xff.jpg`` -> ``bad%FF.jpg``)."""
    return prefix + quote_from_bytes(os.fsencode(relpath), safe="/")


def default_url_prefix(image_root: Path) -> str:
    """``/data/local-files/?d=<image folder name>/``: URLs relative to the folder's parent, which
    is the document root Label Studio needs (it refuses a storage at the document root itself)."""
    name = Path(image_root).name
    return LOCAL_FILES_URL_PREFIX + (quote(name, safe="") + "/" if name else "")


def url_to_relpath(url: str) -> str:
    """The file path a Label Studio image URL points at, ``/``-separated, without a leading ``/``.

    ``/data/local-files/?d=images/a%20b.jpg`` -> ``images/a b.jpg`` (``d`` is decoded like a
    query value, so ``+`` is a space); ``https://host/x/y.jpg?sig=..`` -> ``x/y.jpg``;
    ``s3://bucket/k/y.jpg`` -> ``k/y.jpg``; a bare path is returned unquoted.
    """
    url = url.strip()
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    if "d" in query and query["d"]:
        path = query["d"][0]
    elif parts.scheme or parts.netloc:
        path = unquote(parts.path)
    else:
        path = unquote(parts.path or url)
    return path.replace("\\", "/").lstrip("/")


# -- region ids ------------------------------------------------------------------------------


def region_id(detection_id: str) -> str:
    """The Label Studio region id of a detection id.

    The id itself when it is made of letters, digits, ``_`` and ``-`` (the pipeline's
    ``<stem>-<n>`` ids usually are); else those characters kept (others become ``_``) plus
    ``-`` and the first 8 hex digits of the id's SHA-1, so different detection ids never share
    a region id. Never contains ``#``, which Label Studio rewrites.
    """
    if _SAFE_ID.match(detection_id):
        return detection_id
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", detection_id)
    return f"{clean}-{digest(detection_id, 8)}"


def clean_region_id(region_id: Any) -> str | None:
    """A region id without the ``#suffix`` Label Studio may rewrite; ``None`` if absent."""
    if region_id is None:
        return None
    s = str(region_id).split("#", 1)[0]
    return s or None


# -- boxes -----------------------------------------------------------------------------------


def percent_box(box: Box, width: int, height: int) -> dict[str, float]:
    """``(x1, y1, x2, y2)`` px -> ``{"x", "y", "width", "height"}`` in percent of the image
    (top-left corner). The box is clipped to the image first; each value is in [0, 100] and
    ``x + width <= 100`` also after rounding (Label Studio's SDK rejects a region outside)."""
    px, py, pw, ph = xyxy_to_percent(clip_box(box, width, height), width, height)
    x = min(max(px, 0.0), 100.0)
    y = min(max(py, 0.0), 100.0)
    w = min(max(pw, 0.0), 100.0 - x)
    h = min(max(ph, 0.0), 100.0 - y)
    return {"x": x, "y": y, "width": w, "height": h}


def _number(v: Any) -> float:
    """``v`` as a float: numbers and numeric strings (anything else: TypeError)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise TypeError(f"not a number: {excerpt(v)}")
    return float(v)


def percent_to_box(value: Mapping[str, Any], width: int, height: int) -> tuple[Box, bool]:
    """Pixel box ``(x1, y1, x2, y2)`` of a Label Studio rectangle ``value`` (percent, top-left corner).

    Returns ``(box, rotated)``. A rotated rectangle (``rotation`` degrees clockwise about its
    top-left corner) is replaced by the axis-aligned box around its four corners. The box is
    not clipped here.

    Raises:
        ValueError: ``value`` is not an object, or ``x``, ``y``, ``width``, ``height`` or
            ``rotation`` is missing (rotation may be), not a number or not finite.
    """
    if not isinstance(value, Mapping):
        raise ValueError(f"rectangle value must be an object, got {excerpt(value)}")
    try:
        x, y, w, h = (_number(value.get(k)) for k in ("x", "y", "width", "height"))
        angle = _number(value.get("rotation") or 0.0)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"rectangle needs numeric x, y, width, height (and rotation); got {excerpt(dict(value))}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h, angle)):
        raise ValueError(f"rectangle has a non-finite value: {excerpt(dict(value))}")
    box = percent_to_xyxy((x, y, w, h), width, height)
    angle %= 360.0
    if angle == 0.0:
        return box, False
    x1, y1 = box[0], box[1]
    _, _, pw, ph = percent_to_xyxy((0.0, 0.0, w, h), width, height)  # the size in pixels
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)
    xs, ys = [], []
    for dx, dy in ((0.0, 0.0), (pw, 0.0), (pw, ph), (0.0, ph)):
        # y points down, so a positive angle turns clockwise on screen
        xs.append(x1 + dx * c - dy * s)
        ys.append(y1 + dx * s + dy * c)
    return (min(xs), min(ys), max(xs), max(ys)), True


# -- polygons --------------------------------------------------------------------------------


def part_region_id(region: str, part: int) -> str:
    """Region id of part ``part`` (0-based) of a detection's polygon: the detection's region id for
    the first part, ``<id>_p<n>`` (n = 2, 3, ...) for the others."""
    return region if part == 0 else f"{region}_p{part + 1}"


def split_part_region_id(region: str) -> tuple[str, int]:
    """``(detection region id, 0-based part)`` of a polygon region id (see :func:`part_region_id`);
    an id without a part suffix is part 0 of itself."""
    m = _PART_ID.match(region)
    if m is None:
        return region, 0
    return m.group(1), int(m.group(2)) - 1


_PART_ID = re.compile(r"^(.+)_p([2-9]|[1-9][0-9]+)$")


def percent_points(polygon: Any, width: int, height: int) -> list[list[float]]:
    """Pixel ``(x, y)`` vertices -> ``[[x%, y%], ...]`` of the image, clipped to [0, 100]."""
    return [[min(max(100.0 * float(x) / width, 0.0), 100.0), min(max(100.0 * float(y) / height, 0.0), 100.0)]
            for x, y in polygon]


def points_to_pixels(points: Any, width: int, height: int) -> list[tuple[float, float]]:
    """A Label Studio polygon's ``points`` (``[[x%, y%], ...]``) in pixels.

    Raises:
        ValueError: not a list of at least 3 finite ``[x, y]`` pairs.
    """
    try:
        out = [(float(p[0]) * width / 100.0, float(p[1]) * height / 100.0) for p in points]
    except (TypeError, ValueError, IndexError, KeyError):
        raise ValueError(f"polygon points must be [[x, y], ...] in percent, got {points!r}") from None
    if len(out) < 3 or not all(math.isfinite(v) for xy in out for v in xy):
        raise ValueError(f"a polygon needs at least 3 finite points, got {points!r}")
    return out


def ls_polygon_regions(det: Detection, width: int, height: int,
                       tolerance: float = DEFAULT_TOLERANCE) -> list[dict[str, Any]]:
    """One ``polygonlabels`` result per part of the detection's mask (holes filled), points in
    percent of the image; ids from :func:`part_region_id`. Empty without a mask."""
    if det.mask is None:
        return []
    out = []
    for k, poly in enumerate(mask_to_polygons(det.mask, tolerance)):
        out.append({
            "id": part_region_id(region_id(det.id), k),
            "type": "polygonlabels",
            "from_name": POLYGON_FROM_NAME,
            "to_name": TO_NAME,
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
            "value": {"points": percent_points(poly, width, height), "closed": True, "polygonlabels": [det.label]},
            "score": det.score,
            "meta": {"objectness": det.objectness},
        })
    return out


# -- tasks and config ------------------------------------------------------------------------


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


def ls_task(image: ImageAnnotations, url: str, model_version: str, polygons: bool = False,
            tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """One task: the image URL (plus its run path) and one prediction with every box.

    With ``polygons``, a detection with a mask is given as its polygon regions
    (:func:`ls_polygon_regions`) instead of a rectangle. Region ids are unique within the task;
    the prediction's ``score`` is the lowest region score (so sorting the Data Manager by
    prediction score shows the doubtful images first).
    """
    result = []
    used: set[str] = set()
    for det in image.detections:
        regions = ls_polygon_regions(det, image.width, image.height, tolerance) if polygons else []
        for region in regions or [ls_region(det, image.width, image.height)]:
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


def ls_config(classes: Sequence[str], polygons: bool = False) -> str:
    """The labeling config XML: an Image ``$image`` and RectangleLabels with every class (and,
    with ``polygons``, PolygonLabels with the same classes beside it)."""
    view = ET.Element("View")
    ET.SubElement(view, "Image", {"name": TO_NAME, "value": f"${DATA_KEY}"})
    controls = [("RectangleLabels", FROM_NAME)] + ([("PolygonLabels", POLYGON_FROM_NAME)] if polygons else [])
    for tag, name in controls:
        rl = ET.SubElement(view, tag, {"name": name, "toName": TO_NAME})
        for i, c in enumerate(classes):
            ET.SubElement(rl, "Label", {"value": c, "background": label_color(i)})
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"
