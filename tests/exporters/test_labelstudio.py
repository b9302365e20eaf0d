"""Label Studio exporter: converters table-tested; tasks and config validated by
label-studio-sdk's ``LabelInterface`` in its own interpreter (its pins clash with ours).

The interpreter is ``$AUTOLABEL_LS_PYTHON`` (default ``<repo>/.venv-ls/bin/python``). Without it
the SDK tests are skipped, or fail when ``$CI`` is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pytest

from autolabel.export import export
from autolabel.types import Detection, ImageAnnotations
from exporters.labelstudio import LOCAL_FILES_PREFIX, image_url, ls_config, ls_task, percent_box, region_id
from tests.exporters.sample import IMAGES, RUN_CLASSES, assert_same_boxes, expected_boxes, validate_with_ls_sdk


@pytest.mark.parametrize("rel, prefix, url", [
    ("cam1/0001.jpg", LOCAL_FILES_PREFIX, "/data/local-files/?d=cam1/0001.jpg"),
    ("img 003.jpg", LOCAL_FILES_PREFIX, "/data/local-files/?d=img%20003.jpg"),
    ("ünïcode ß/fötö 1+2.jpg", LOCAL_FILES_PREFIX, "/data/local-files/?d=%C3%BCn%C3%AFcode%20%C3%9F/f%C3%B6t%C3%B6%201%2B2.jpg"),
    ("a&b#c?.jpg", "https://example.org/imgs/", "https://example.org/imgs/a%26b%23c%3F.jpg"),
])
def test_image_url(rel, prefix, url):
    assert image_url(rel, prefix) == url


@pytest.mark.parametrize("box, w, h, pct", [
    ((0.0, 0.0, 320.0, 240.0), 320, 240, {"x": 0.0, "y": 0.0, "width": 100.0, "height": 100.0}),
    ((80.0, 60.0, 160.0, 240.0), 320, 240, {"x": 25.0, "y": 25.0, "width": 25.0, "height": 75.0}),  # top-left, not centre
    ((10.3, 12.7, 64.0, 48.0), 64, 48, {"x": 16.09375, "y": 26.458333, "width": 83.90625, "height": 73.541667}),
])
def test_percent_box(box, w, h, pct):
    got = percent_box(box, w, h)
    assert got == pytest.approx(pct, abs=1e-6)
    assert got["x"] + got["width"] <= 100.0 and got["y"] + got["height"] <= 100.0


@pytest.mark.parametrize("det_id, rid", [
    ("0001-3", "0001-3"),
    ("img 003-0", "img_003-0-" + __import__("hashlib").sha1(b"img 003-0").hexdigest()[:8]),
])
def test_region_id(det_id, rid):
    assert region_id(det_id) == rid


def test_region_ids_stay_unique():
    # "a b-0" and "a_b-0" both sanitise to "a_b-0"; the hash keeps them apart.
    dets = (Detection(id="a b-0", box=(0, 0, 5, 5), label="x", score=0.5, objectness=0.5),
            Detection(id="a_b-0", box=(1, 1, 5, 5), label="x", score=0.25, objectness=0.5))
    task = ls_task(ImageAnnotations("a.jpg", 10, 10, dets), "/u", "m1")
    ids = [r["id"] for r in task["predictions"][0]["result"]]
    assert len(set(ids)) == 2
    assert task["predictions"][0]["score"] == 0.25 and task["predictions"][0]["model_version"] == "m1"


def test_ls_config_escapes_labels():
    cfg = ls_config(["salt & pepper, shaker", "jack-o'-lantern"])
    assert 'value="salt &amp; pepper, shaker"' in cfg
    import xml.etree.ElementTree as ET

    root = ET.fromstring(cfg)
    assert [lab.get("value") for lab in root.iter("Label")] == ["salt & pepper, shaker", "jack-o'-lantern"]
    assert root.find("Image").get("value") == "$image"


def _tasks(folder: Path) -> list[dict]:
    return json.loads((folder / "tasks.json").read_text(encoding="utf-8"))


def test_tasks_give_back_the_run(exported: Path):
    tasks = _tasks(exported / "labelstudio")
    got = {}
    for t in tasks:
        url = t["data"]["image"]
        assert url.startswith(LOCAL_FILES_PREFIX) and " " not in url and "+" not in url
        # relative to Label Studio's document root, the image folder's parent: "<folder>/<path>"
        folder, path = unquote(url[len(LOCAL_FILES_PREFIX):]).split("/", 1)
        assert folder == "images" and path == t["data"]["path"]
        assert (exported / "labelstudio/images" / path).is_file()
        (pred,) = t["predictions"]
        assert pred["model_version"].startswith("autolabel-")
        ids = [r["id"] for r in pred["result"]]
        assert len(ids) == len(set(ids))
        rows = []
        for r in pred["result"]:
            w, h = r["original_width"], r["original_height"]
            assert (w, h) == IMAGES[path][:2]
            v = r["value"]
            assert v["rotation"] == 0 and r["image_rotation"] == 0
            box = (v["x"] * w / 100, v["y"] * h / 100, (v["x"] + v["width"]) * w / 100, (v["y"] + v["height"]) * h / 100)
            rows.append((v["rectanglelabels"][0], box, r["score"]))
            assert 0.0 <= r["meta"]["objectness"] <= 1.0
        if rows:
            assert pred["score"] == min(s for _, _, s in rows)
        got[path] = rows
    assert_same_boxes(expected_boxes(), got, px=1e-6, reader="tasks.json")


def test_label_studio_sdk_accepts_the_export(exported: Path):
    out = validate_with_ls_sdk(exported / "labelstudio")
    assert out["labels"] == list(RUN_CLASSES)
    assert out["errors"] == []
    assert out["data_ok"] == [True] * len(IMAGES)
    assert any("out of bounds" in e for e in out["pixel_errors"])
    assert any("Invalid value" in e for e in out["label_errors"])


def test_image_url_prefix(sample_run: Path, tmp_path: Path):
    export(sample_run, "labelstudio", tmp_path, image_url_prefix="https://files.example/run/")
    urls = [t["data"]["image"] for t in _tasks(tmp_path / "labelstudio")]
    assert urls[0] == "https://files.example/run/cam1/0001.jpg"
    assert not (tmp_path / "labelstudio/images").exists()
