"""Ultralytics' own dataset checks accept our ``yolo-seg`` export and load the outlines we wrote.

Like :mod:`tests.integration.test_ultralytics_dataset`, Ultralytics runs from its own virtual
environment (``AUTOLABEL_ULTRALYTICS_VENV``, default ``<repo>/.venv-ultralytics``) and reports
JSON back (:mod:`tests.integration.ultralytics_segment_check`).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from autolabel import masks
from autolabel.formats.polygons import polygons_to_mask
from tests.exporters.masked_sample import CLASSES, SHAPES, build_masked_run, filled, image_record
from tests.exporters.sample import read_names_table
from tests.integration.conftest import clean_env
from tests.integration.test_ultralytics_dataset import ultralytics_python

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    py = ultralytics_python()
    from autolabel.export import export, registry

    if "yolo-seg" not in registry.exporter_entry_points():
        pytest.fail("yolo-seg is not registered: run `pip install -e .` so the entry points are current")
    base = tmp_path_factory.mktemp("yolo-seg")
    run = build_masked_run(base)
    export(run, ["yolo-seg"], base / "out", images="copy")
    out = base / "out" / "yolo-seg"
    cfg = base / "ultralytics-config"
    cfg.mkdir()
    r = subprocess.run(
        [str(py), str(Path(__file__).with_name("ultralytics_segment_check.py")), str(out / "data.yaml")],
        capture_output=True, text=True, timeout=300, cwd=base,
        env=clean_env(YOLO_CONFIG_DIR=str(cfg), YOLO_OFFLINE="1", YOLO_VERBOSE="False", MPLBACKEND="Agg"),
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("ULTRALYTICS-CHECK "))
    return out, json.loads(line[len("ULTRALYTICS-CHECK "):])


def test_every_label_file_verifies_as_segments(report):
    out, rep = report
    names = read_names_table(out / "image_names.csv")
    assert rep["data"]["nc"] == len(CLASSES)
    assert sorted(Path(v["im_file"]).name for v in rep["verified"]) == sorted(names)
    for v in rep["verified"]:
        path = names[Path(v["im_file"]).name]
        w, h, dets = SHAPES[path]
        assert v["corrupt"] == 0 and v["missing"] == 0 and v["found"] == 1 and v["msg"] == "", (path, v)
        assert v["shape"] == [h, w]
        assert v["empty"] == (0 if dets else 1)
        assert len(v["rows"]) == len(v["segments"]) == len(dets), path
        for (cls, *xywh), det in zip(v["rows"], image_record(path).detections):
            assert int(cls) == CLASSES.index(det.label)
            xc, yc, bw, bh = xywh
            box = ((xc - bw / 2) * w, (yc - bh / 2) * h, (xc + bw / 2) * w, (yc + bh / 2) * h)
            # the box Ultralytics derives from the outline is the mask's bounds (within the tolerance)
            assert all(abs(a - b) <= 1.01 for a, b in zip(box, det.box)), (path, det.id, box, det.box)


def test_training_loads_the_outlines(report):
    out, rep = report
    names = read_names_table(out / "image_names.csv")
    assert len(rep["dataset"]) == len(SHAPES)
    for lab in rep["dataset"]:
        path = names[Path(lab["im_file"]).name]
        w, h, _ = SHAPES[path]
        dets = image_record(path).detections
        assert lab["cls"] == [CLASSES.index(d.label) for d in dets]
        for seg, pixels, det in zip(lab["segments"], lab["pixels"], dets):
            ours = polygons_to_mask([np.asarray(seg) * [w, h]], h, w)
            theirs = np.zeros(h * w, bool)
            theirs[pixels] = True
            theirs = theirs.reshape(h, w)
            want = filled(masks.decode(det.mask)) if det.mask is not None else None
            if want is None:
                continue
            iou_ours, iou_theirs = masks.mask_iou(ours, want), masks.mask_iou(theirs, want)
            print(f"{path} {det.id}: IoU {iou_ours:.3f} (pixel centres), {iou_theirs:.3f} (Ultralytics polygon2mask)")
            assert iou_ours >= 0.95, (path, det.id)
            # polygon2mask (OpenCV fillPoly) also paints the pixels under the outline, one more row
            # and column: it covers the mask, and the IoU is looser on small objects
            assert (theirs & want).sum() >= 0.95 * want.sum(), (path, det.id)
            assert iou_theirs >= (0.8 if want.sum() >= 100 else 0.3), (path, det.id)
