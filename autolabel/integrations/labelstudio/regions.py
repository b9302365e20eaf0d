"""One image's record -> one Label Studio prediction, shaped by the project's labeling config.

Coordinates are percent of the displayed image (EXIF orientation applied, as Label Studio
shows it): rectangles ``x``, ``y`` (top-left corner), ``width``, ``height`` in [0, 100];
polygon ``points`` ``[[x%, y%], ...]``; brush masks in Label Studio's RLE over the whole
image (:mod:`.brush`). Every region carries ``score`` (the detection's, in [0, 1]) and
``original_width`` / ``original_height`` (pixels).

A detection is given to every control whose labels include its label, as that control's
region type. Region ids come from detection ids (:func:`autolabel.formats.labelstudio.region_id`),
with ``_c<k>`` appended for the ``k``-th control (k >= 2) so that no two regions share an id.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autolabel import masks
from autolabel.formats.labelstudio import ls_polygon_regions, ls_region, percent_points, region_id
from autolabel.formats.polygons import DEFAULT_TOLERANCE
from autolabel.integrations.labelstudio.brush import brush_value
from autolabel.integrations.labelstudio.labeling import Control, LabelingConfig
from autolabel.types import Detection, ImageAnnotations


def _box_mask(det: Detection, width: int, height: int) -> np.ndarray:
    """The detection's box as a boolean ``(height, width)`` mask (pixel centres inside)."""
    m = np.zeros((height, width), dtype=bool)
    x1, y1, x2, y2 = det.box
    m[max(0, round(y1)):min(height, round(y2)), max(0, round(x1)):min(width, round(x2))] = True
    return m


def _base(det: Detection, control: Control, to_name: str, width: int, height: int) -> dict[str, Any]:
    return {
        "id": region_id(det.id),
        "type": control.type,
        "from_name": control.name,
        "to_name": to_name,
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "score": det.score,
        "meta": {"objectness": det.objectness},
    }


def control_regions(det: Detection, control: Control, to_name: str, width: int, height: int,
                    tolerance: float = DEFAULT_TOLERANCE) -> list[dict[str, Any]]:
    """The regions of one detection for one control (several for a polygon of several parts).

    Without a mask, a polygon is the box's four corners and a brush region the box filled.
    """
    kind = control.type
    if kind == "rectanglelabels":
        regions = [ls_region(det, width, height)]
    elif kind == "polygonlabels":
        regions = ls_polygon_regions(det, width, height, tolerance)
        if not regions:
            x1, y1, x2, y2 = det.box
            region = _base(det, control, to_name, width, height)
            points = percent_points([(x1, y1), (x2, y1), (x2, y2), (x1, y2)], width, height)
            region["value"] = {"points": points, "closed": True, "polygonlabels": [det.label]}
            regions = [region]
    elif kind == "brushlabels":
        mask = masks.decode(det.mask).astype(bool) if det.mask is not None else _box_mask(det, width, height)
        region = _base(det, control, to_name, width, height)
        region["value"] = brush_value(mask, det.label)
        regions = [region]
    else:  # pragma: no cover - parse_labeling_config admits only the three
        raise ValueError(f"unsupported control type {kind!r}")
    for r in regions:
        r["from_name"], r["to_name"] = control.name, to_name
    return regions


def prediction(record: ImageAnnotations | None, config: LabelingConfig, model_version: str,
               tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """One task's prediction: ``{"result": [region, ...], "score": float, "model_version": str}``.

    ``record`` None (the image could not be read) gives an empty result with score 0. The
    prediction's score is the lowest region score (sorting the Data Manager by it puts the
    doubtful images first), 0 without regions. Detections whose label no control has are left
    out.
    """
    result: list[dict[str, Any]] = []
    scores: list[float] = []
    used: set[str] = set()
    if record is not None:
        for det in record.detections:
            hit = False
            for k, control in enumerate(config.controls):
                if all(lab.value != det.label for lab in control.labels):
                    continue
                hit = True
                for region in control_regions(det, control, config.image_name, record.width, record.height, tolerance):
                    base = region["id"] if k == 0 else f"{region['id']}_c{k + 1}"
                    rid, n = base, 1
                    while rid in used:  # two sanitised detection ids met: stay unique, deterministic
                        rid, n = f"{base}_{n}", n + 1
                    region["id"] = rid
                    used.add(rid)
                    result.append(region)
            if hit:
                scores.append(det.score)
    return {"result": result, "score": min(scores) if scores else 0.0, "model_version": model_version}
