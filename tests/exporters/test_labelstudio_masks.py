"""Label Studio polygons: ``PolygonLabels`` in the config and ``polygonlabels`` predictions
(percent points), validated by label-studio-sdk's ``LabelInterface`` in its own interpreter."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from autolabel import masks
from autolabel.export import export
from autolabel.formats.labelstudio import POLYGON_FROM_NAME, split_part_region_id
from autolabel.formats.polygons import polygons_to_mask
from tests.exporters.masked_sample import CLASSES, SHAPES, filled, image_record
from tests.exporters.sample import ls_python

SDK_SCRIPT = r"""
import copy, json, sys
from label_studio_sdk.label_interface import LabelInterface

config = open(sys.argv[1], encoding="utf-8").read()
tasks = json.load(open(sys.argv[2], encoding="utf-8"))
li = LabelInterface(config)
li.validate()
out = {"rect_labels": list(li.get_control("label").labels), "poly_labels": list(li.get_control("polygon").labels),
       "poly_tag": type(li.get_control("polygon")).__name__, "errors": [], "types": []}
for t in tasks:
    for p in t["predictions"]:
        out["errors"] += li.validate_prediction(p, return_errors=True)
        out["types"] += [r["type"] for r in p["result"]]
# controls: the validator must see a polygon with an undeclared label and one in pixels
p = copy.deepcopy(next(t["predictions"][0] for t in tasks if any(r["type"] == "polygonlabels" for r in t["predictions"][0]["result"])))
r = next(r for r in p["result"] if r["type"] == "polygonlabels")
points = r["value"]["points"]
r["value"]["points"] = [[v * 10 for v in pt] for pt in points]  # beyond 100 percent
out["pixel_errors"] = li.validate_prediction(p, return_errors=True)
r["value"]["points"] = points
r["value"]["polygonlabels"] = ["not declared"]
out["label_errors"] = li.validate_prediction(p, return_errors=True)
print(json.dumps(out))
"""


def test_polygon_regions_give_back_the_masks(masked_run: Path, tmp_path: Path):
    export(masked_run, "labelstudio", tmp_path, shapes="polygon")
    config = (tmp_path / "labelstudio/labeling_config.xml").read_text(encoding="utf-8")
    assert '<PolygonLabels name="polygon" toName="image">' in config
    tasks = json.loads((tmp_path / "labelstudio/tasks.json").read_text(encoding="utf-8"))
    for t in tasks:
        path = t["data"]["path"]
        w, h, _ = SHAPES[path]
        result = t["predictions"][0]["result"]
        assert len({r["id"] for r in result}) == len(result)
        for det in image_record(path).detections:
            mine = [r for r in result if split_part_region_id(r["id"])[0] == det.id]
            if det.mask is None:
                assert [r["type"] for r in mine] == ["rectanglelabels"]
                continue
            assert {r["type"] for r in mine} == {"polygonlabels"} and {r["from_name"] for r in mine} == {POLYGON_FROM_NAME}
            assert all(r["value"]["polygonlabels"] == [det.label] and r["score"] == det.score for r in mine)
            polys = [np.asarray(r["value"]["points"]) * [w / 100, h / 100] for r in mine]
            assert all(((np.asarray(r["value"]["points"]) >= 0) & (np.asarray(r["value"]["points"]) <= 100)).all()
                       for r in mine)
            iou = masks.mask_iou(polygons_to_mask(polys, h, w), filled(masks.decode(det.mask)))
            assert iou >= 0.95, (path, det.id, iou)
    ids = [r["id"] for t in tasks for r in t["predictions"][0]["result"]]
    assert "a-1" in ids and "a-1_p2" in ids  # the object in two parts


def test_label_studio_sdk_accepts_the_polygons(masked_run: Path, tmp_path: Path):
    export(masked_run, "labelstudio", tmp_path, shapes="polygon")
    folder = tmp_path / "labelstudio"
    proc = subprocess.run([ls_python(), "-c", SDK_SCRIPT, str(folder / "labeling_config.xml"), str(folder / "tasks.json")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rect_labels"] == out["poly_labels"] == CLASSES
    assert out["errors"] == []
    assert out["types"].count("polygonlabels") == 6 and out["types"].count("rectanglelabels") == 1
    assert out["pixel_errors"], "the SDK must reject points beyond 100 percent"
    assert out["label_errors"], "the SDK must reject an undeclared polygon label, or its silence proves nothing"


def test_runs_without_masks_keep_the_rectangle_config(sample_run: Path, tmp_path: Path):
    export(sample_run, "labelstudio", tmp_path)
    assert "PolygonLabels" not in (tmp_path / "labelstudio/labeling_config.xml").read_text(encoding="utf-8")
