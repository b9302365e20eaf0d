"""A run evaluated against its own export, in every format evaluate reads, is a perfect match.

Ties the exporters and the ground-truth readers together: any disagreement about pixel
origins, box layouts, class ids or image names shows up as missed or misplaced boxes.
"""

from __future__ import annotations

import pytest

from autolabel.engines.local import annotate
from autolabel.evaluate import evaluate_run
from autolabel.export import export
from autolabel.formats import read_groundtruth
from autolabel.store import RunStore


@pytest.fixture(scope="module")
def run_and_exports(tmp_path_factory, tiny_config):
    from tests.conftest import SAMPLE_DATA

    tmp = tmp_path_factory.mktemp("rt")
    annotate(tiny_config.replace(max_boxes=4), SAMPLE_DATA, tmp / "run")
    out = tmp / "export"
    export(tmp / "run", ["coco", "voc", "yolo", "cvat"], out)
    return tmp / "run", out


@pytest.mark.parametrize("fmt, rel", [
    ("coco", "coco/annotations/instances_default.json"),
    ("voc", "voc"),
    ("yolo", "yolo"),
    ("cvat", "cvat/annotations.xml"),
])
def test_run_scores_perfectly_against_its_own_export(run_and_exports, fmt: str, rel: str) -> None:
    run, out = run_and_exports
    gt = read_groundtruth(out / rel)
    report = evaluate_run(run, gt, score_threshold=0.0).to_dict()
    n_boxes = sum(len(i.detections) for i in RunStore(run).iter_images())
    assert report["images"]["evaluated"] == 4
    assert report["images"]["gt_boxes"] == n_boxes > 0
    assert report["class_agnostic"]["ap50"] == pytest.approx(1.0)
    assert report["class_agnostic"]["ar100"] == pytest.approx(1.0)
    at0 = report["correction"]["at_zero"]
    assert (at0["delete"], at0["draw"], at0["relabel"]) == (0, 0, 0), at0
    assert at0["adjust"] == 0  # VOC's whole-pixel rounding stays far above IoU 0.75
    assert report["class_aware"]["ap50"] == pytest.approx(1.0)
