"""Ultralytics' own dataset checker accepts our YOLO export and loads the boxes we wrote.

Ultralytics runs from its own virtual environment (env ``AUTOLABEL_ULTRALYTICS_VENV``, default
``<repo>/.venv-ultralytics``) so that it cannot change the project's numpy/torch; see
docs/CI_STEPS_realtools.md for how CI builds it. The checks run there in a subprocess
(:mod:`tests.integration.ultralytics_check`) and report JSON back.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, clean_env
from tests.integration.runs import CLASSES, HandMadeRun, make_run
from tests.integration.servers import missing_tool

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PX_TOL = 0.01


def ultralytics_python() -> Path:
    venv = Path(os.environ.get("AUTOLABEL_ULTRALYTICS_VENV") or REPO / ".venv-ultralytics")
    py = venv / "bin" / "python"
    if not py.is_file():
        missing_tool(f"no Ultralytics venv at {venv} (see docs/CI_STEPS_realtools.md, or set AUTOLABEL_ULTRALYTICS_VENV)")
    return py


@pytest.fixture(scope="module")
def ultralytics_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[HandMadeRun, Path, dict]:
    py = ultralytics_python()
    from autolabel.export import export

    base = tmp_path_factory.mktemp("yolo")
    run = make_run(base / "run", base / "images")
    export(run.run_dir, ["yolo"], base / "out", images="copy")
    out = base / "out" / "yolo"
    cfg = base / "ultralytics-config"
    cfg.mkdir()
    r = subprocess.run(
        [str(py), str(Path(__file__).with_name("ultralytics_check.py")), str(out / "data.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=base,  # Ultralytics resolves some paths against the current directory
        env=clean_env(YOLO_CONFIG_DIR=str(cfg), YOLO_OFFLINE="1", YOLO_VERBOSE="False", MPLBACKEND="Agg"),
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("ULTRALYTICS-CHECK "))
    return run, out, json.loads(line[len("ULTRALYTICS-CHECK ") :])


def names_table(out: Path) -> dict[str, str]:
    with open(out / "image_names.csv", encoding="utf-8", newline="") as f:
        return {row["name"]: row["source"] for row in csv.DictReader(f)}


def test_check_det_dataset_accepts_data_yaml(ultralytics_report):
    _, out, rep = ultralytics_report
    data = rep["data"]
    assert data["nc"] == len(CLASSES)
    assert [data["names"][str(i)] for i in range(len(CLASSES))] == list(CLASSES)  # JSON keys are strings
    assert Path(data["train"]).resolve() == (out / "images" / "train").resolve()


def to_px(row, width, height):
    xc, yc, w, h = row
    return ((xc - w / 2) * width, (yc - h / 2) * height, (xc + w / 2) * width, (yc + h / 2) * height)


def test_every_label_file_verifies_and_holds_our_boxes(ultralytics_report):
    run, out, rep = ultralytics_report
    names = names_table(out)
    by_path = run.by_path()
    train = [v for v in rep["verified"] if v["split"] == "train"]
    assert sorted(Path(v["im_file"]).name for v in train) == sorted(names)
    for v in train:
        rec = by_path[names[Path(v["im_file"]).name]]
        where = f"{rec.path} ({v['lb_file']})"
        assert v["corrupt"] == 0 and v["missing"] == 0 and v["found"] == 1, f"{where}: {v}"
        assert v["msg"] == "", f"{where}: Ultralytics says {v['msg']!r}"
        assert v["shape"] == [rec.height, rec.width], where
        assert v["empty"] == (1 if not rec.detections else 0)
        rows = v["rows"]
        assert len(rows) == len(rec.detections), f"{where}: {rows}"
        remaining = list(rec.detections)
        for cls, *xywh in rows:
            box = to_px(xywh, rec.width, rec.height)
            hits = [d for d in remaining if CLASSES.index(d.label) == int(cls) and all(abs(a - b) < PX_TOL for a, b in zip(box, d.box))]
            assert len(hits) == 1, f"{where}: row {cls} {xywh} -> {box} matches {hits}"
            remaining.remove(hits[0])


def test_training_dataset_loads_the_same_boxes(ultralytics_report):
    run, out, rep = ultralytics_report
    names = names_table(out)
    by_path = run.by_path()
    assert len(rep["dataset"]) == len(run.images)
    for lab in rep["dataset"]:
        rec = by_path[names[Path(lab["im_file"]).name]]
        assert lab["shape"] == [rec.height, rec.width]
        assert lab["normalized"] and lab["bbox_format"] == "xywh"
        got = sorted((c, *to_px(b, rec.width, rec.height)) for c, b in zip(lab["cls"], lab["bboxes"]))
        want = sorted((CLASSES.index(d.label), *d.box) for d in rec.detections)
        assert len(got) == len(want), rec.path
        for g, w in zip(got, want):
            assert g[0] == w[0] and all(abs(a - b) < PX_TOL for a, b in zip(g[1:], w[1:])), (rec.path, g, w)
