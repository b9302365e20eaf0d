"""Label Studio exporter: tasks and config validated by label-studio-sdk's ``LabelInterface``
in its own interpreter (its pins clash with ours); the converters are tested in
``tests/formats/test_labelstudio.py``.

The interpreter is ``$AUTOLABEL_LS_PYTHON`` (default ``<repo>/.venv-ls/bin/python``). Without it
the SDK tests are skipped, or fail when ``$CI`` is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

from autolabel.export import export
from autolabel.formats.labelstudio import LOCAL_FILES_URL_PREFIX
from tests.exporters.sample import IMAGES, RUN_CLASSES, assert_same_boxes, expected_boxes, validate_with_ls_sdk


def _tasks(folder: Path) -> list[dict]:
    return json.loads((folder / "tasks.json").read_text(encoding="utf-8"))


def test_tasks_give_back_the_run(exported: Path):
    tasks = _tasks(exported / "labelstudio")
    got = {}
    for t in tasks:
        url = t["data"]["image"]
        assert url.startswith(LOCAL_FILES_URL_PREFIX) and " " not in url and "+" not in url
        # relative to Label Studio's document root, the image folder's parent: "<folder>/<path>"
        folder, path = unquote(url[len(LOCAL_FILES_URL_PREFIX):]).split("/", 1)
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
