"""``evaluate --iou-type segm``: COCO AP/AR on instance masks (pycocotools ``iouType="segm"``), with
ground-truth masks read from COCO segmentations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.errors import ConfigError
from autolabel.evaluate import evaluate_run
from autolabel.export import export
from autolabel.formats import GroundTruthError, read_groundtruth
from tests.exporters.masked_sample import build_masked_run, image_record


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The masked run and its COCO exports: ``(run, rle json, polygon json)``."""
    base = tmp_path_factory.mktemp("segm")
    run = build_masked_run(base)
    export(run, "coco", base / "rle", segmentation="rle")
    export(run, "coco", base / "poly")
    return run, base / "rle/coco/annotations/instances_default.json", base / "poly/coco/annotations/instances_default.json"


def test_coco_reader_gives_back_the_masks(masked):
    _, rle, poly = masked
    gt = read_groundtruth(rle, with_masks=True)
    for img in gt.images:
        want = [d.mask for d in image_record(img.path).detections]
        assert list(img.masks) == want if want else img.masks == ()
    assert read_groundtruth(rle).images[0].masks == ()  # masks are read only when asked for
    assert all(m is not None for m in read_groundtruth(poly, with_masks=True).images[0].masks[:3])


def test_a_run_against_its_own_rle_export_scores_one(masked):
    run, rle, _ = masked
    r = evaluate_run(run, read_groundtruth(rle, with_masks=True), iou_type="segm")
    assert r.settings.iou_type == "segm"
    assert (r.class_agnostic.ap50, r.class_agnostic.ar100) == (1.0, 1.0)
    assert r.class_aware.ap50 == 1.0


def test_polygons_fill_the_hole_which_masks_see_and_boxes_do_not(masked):
    run, _, poly = masked
    gt = read_groundtruth(poly, with_masks=True)
    segm = evaluate_run(run, gt, iou_type="segm")
    boxes = evaluate_run(run, gt)
    assert segm.class_agnostic.ap50 == 1.0  # every mask matches at IoU 0.5
    assert boxes.class_agnostic.ar100 == 1.0
    # the ring's polygon has its hole filled (mask IoU ~0.8): it misses at the strict thresholds
    assert segm.class_agnostic.ar100 < 1.0


def test_segm_needs_masks_in_the_ground_truth(masked, tmp_path):
    run, rle, _ = masked
    with pytest.raises(ConfigError, match="needs ground truth with instance masks"):
        evaluate_run(run, read_groundtruth(rle), iou_type="segm")
    export(run, "voc", tmp_path)
    with pytest.raises(GroundTruthError, match="read from COCO ground truth"):
        read_groundtruth(tmp_path / "voc", with_masks=True)


def test_cli_iou_type_segm(masked):
    run, rle, _ = masked
    res = CliRunner().invoke(main, ["evaluate", str(run), "--gt", str(rle), "--iou-type", "segm", "--json", "--no-plot"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["settings"]["iou_type"] == "segm"
    assert report["class_agnostic"]["ap50"] == 1.0 and report["class_agnostic"]["ar100"] == 1.0
    table = CliRunner().invoke(main, ["evaluate", str(run), "--gt", str(rle), "--iou-type", "segm", "--no-plot"])
    assert "How good are the masks" in table.output and "mask IoU 0.50" in table.output


def test_a_masked_cvat_export_still_evaluates_as_boxes(masked, tmp_path):
    """CVAT writes masked detections as polygons; the ground-truth reader takes their bounds."""
    run, _, _ = masked
    export(run, "cvat", tmp_path)
    r = evaluate_run(run, read_groundtruth(tmp_path / "cvat/annotations.xml"))
    assert r.images.gt_boxes == 6 and r.class_agnostic.ap50 == 1.0
    assert r.correction.at_zero.counts.edits == 0
