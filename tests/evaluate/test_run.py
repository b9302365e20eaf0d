"""evaluate_run on a stored run: pairing, the report (evaluation.json keys), the written files."""

import json
import math

import pytest

from autolabel.errors import ConfigError
from autolabel.evaluate import EvaluationReport, evaluate_run, write_evaluation
from autolabel.evaluate.plot import plot_evaluation
from autolabel.formats import GroundTruth, GroundTruthImage, read_groundtruth
from tests.evaluate.fixtures import RUN, annotations, make_run
from tests.formats.writers import write_all

# ---------------------------------------------------------------- the driver on a run

GT_SAMPLE = [
    ("a.jpg", 100, 80, [((10, 10, 50, 50), "dog")]),
    ("sub/b.jpg", 100, 80, [((0, 0, 40, 30), "dog")]),
    ("zz.jpg", 100, 80, [((0, 0, 10, 10), "dog")]),
]


def _gt(sample, classes=("dog", "cat")):
    return GroundTruth("coco", "mem", tuple(classes),
                       tuple(GroundTruthImage(p, w, h, tuple(b for b, _ in bx), tuple(lab for _, lab in bx)) for p, w, h, bx in sample))


def test_evaluate_run_reports_pairing_metrics_and_cost(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    report = evaluate_run(store, _gt(GT_SAMPLE))
    assert isinstance(report, EvaluationReport)
    assert (report.images.evaluated, report.class_agnostic.corloc, report.correction.at_threshold.counts.relabel) == (2, 1.0, 1)
    r = report.to_dict()
    assert list(r) == ["schema", "run", "revision", "groundtruth", "settings", "images", "class_agnostic", "classes",
                       "class_aware", "correction", "sweep"]
    assert r["schema"] == "autolabel.evaluation/1"
    assert list(r["settings"]) == ["iou", "adjust_iou", "score_threshold", "score_threshold_source",
                                   "objectness_threshold", "class_map", "iou_type"]
    assert list(r["class_agnostic"]) == ["ap50", "ar100", "ranked_by", "corloc", "corloc_hits", "corloc_images"]
    assert r["classes"] == {"gt_to_run": {"dog": ["dog"], "cat": ["cat"]}, "gt_without_run_label": [], "notes": []}
    assert list(r["correction"]["at_threshold"]) == ["score_threshold", "images", "gt_boxes", "predictions", "matched",
                                                     "delete", "draw", "relabel", "adjust", "edits", "edits_per_image",
                                                     "precision", "recall", "f1"]
    assert list(r["sweep"]["score"]) == ["recommended", "fixed_objectness", "points"]
    assert list(r["sweep"]["objectness"]) == ["recommended", "fixed_score", "points"]
    assert r["revision"] == "original"
    assert r["images"] == {"evaluated": 2, "gt_boxes": 2, "predictions": 3, "paired_by": {"path": 2},
                           "gt_without_run_image": ["zz.jpg"], "gt_failed_in_run": [], "run_without_gt": 1,
                           "run_without_gt_paths": ["c.jpg"], "size_mismatch": [], "left_out": []}
    assert r["class_agnostic"]["ap50"] == pytest.approx(1.0)
    # b: GT (0,0,40,30) vs (0,0,40,40): IoU 0.75 -> found at 0.5..0.75 (6 of 10); a: exact (10 of 10)
    assert r["class_agnostic"]["ar100"] == pytest.approx(0.8)
    assert r["class_agnostic"]["corloc"] == 1.0
    # fewest edits: drop the 0.3 cat (a false positive), keep the 0.7 cat on b (a relabel)
    assert r["settings"]["score_threshold"] == r["sweep"]["score"]["recommended"]
    assert 0.3 < r["settings"]["score_threshold"] <= 0.7
    at = r["correction"]["at_threshold"]
    assert (at["delete"], at["draw"], at["relabel"], at["adjust"], at["edits"], at["edits_per_image"]) == (0, 0, 1, 0, 1, 0.5)
    zero = r["correction"]["at_zero"]
    assert (zero["delete"], zero["edits"]) == (1, 2)
    ca = r["class_aware"]
    assert ca["classes"]["dog"] == {"run_labels": ["dog"], "gt_boxes": 2, "predictions": 1, "matched": 1,
                                    "precision": 1.0, "recall": 0.5, "ap50": pytest.approx(0.50495, abs=1e-5)}
    assert ca["classes"]["cat"]["gt_boxes"] == 0 and ca["classes"]["cat"]["ap50"] is None


def test_labelled_images_the_run_could_not_read_are_named(tmp_path):
    from autolabel.types import ImageFailure

    store = make_run(tmp_path / "run", RUN)
    with store.failure_writer() as w:
        w.append(ImageFailure("zz.jpg", "truncated JPEG").to_dict())
    r = evaluate_run(store, _gt(GT_SAMPLE)).to_dict()
    assert r["images"]["gt_without_run_image"] == ["zz.jpg"] and r["images"]["gt_failed_in_run"] == ["zz.jpg"]


def test_a_given_threshold_is_used_and_reported(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    r = evaluate_run(store, _gt(GT_SAMPLE), score_threshold=0.8).to_dict()
    assert r["settings"]["score_threshold_source"] == "given"
    at = r["correction"]["at_threshold"]
    assert (at["score_threshold"], at["predictions"], at["draw"], at["edits"]) == (0.8, 1, 1, 1)


def test_the_latest_revision_is_evaluated_unless_told(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    fixed = annotations([("a.jpg", 100, 80, [((10, 10, 50, 50), "dog", 1.0, 1.0)]),
                         ("sub/b.jpg", 100, 80, [((0, 0, 40, 30), "dog", 1.0, 1.0)]), ("c.jpg", 100, 80, [])])
    name = store.write_revision("fiftyone", fixed, {})
    latest = evaluate_run(store, _gt(GT_SAMPLE)).to_dict()
    assert latest["revision"] == name
    assert latest["correction"]["at_zero"]["edits"] == 0
    assert evaluate_run(store, _gt(GT_SAMPLE), revision="original").to_dict()["correction"]["at_zero"]["edits"] == 2


def test_gt_labelled_on_a_resized_copy_is_scaled_and_a_rotated_one_left_out(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    sample = [("a.jpg", 200, 160, [((20, 20, 100, 100), "dog")]), ("sub/b.jpg", 80, 100, [((0, 0, 40, 30), "dog")])]
    r = evaluate_run(store, _gt(sample)).to_dict()
    assert r["images"]["evaluated"] == 1 and r["images"]["left_out"] == ["sub/b.jpg"]
    assert "boxes scaled" in r["images"]["size_mismatch"][0] and "EXIF rotation" in r["images"]["size_mismatch"][1]
    assert r["correction"]["at_zero"]["matched"] == 1 and r["correction"]["at_zero"]["adjust"] == 0


def test_no_class_in_common_means_no_class_aware_section(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    r = evaluate_run(store, _gt([(p, w, h, [(b, "widget") for b, _ in bx]) for p, w, h, bx in GT_SAMPLE], classes=["widget"])).to_dict()
    assert r["class_aware"] is None and r["classes"]["gt_without_run_label"] == ["widget"]
    assert r["correction"]["at_zero"]["relabel"] == 2  # every matched box needs its class
    mapped = evaluate_run(store, _gt([(p, w, h, [(b, "widget") for b, _ in bx]) for p, w, h, bx in GT_SAMPLE], classes=["widget"]),
                          class_map={"widget": ["dog", "cat"]}).to_dict()
    assert mapped["class_aware"]["classes"]["widget"]["run_labels"] == ["cat", "dog"]
    assert mapped["correction"]["at_zero"]["relabel"] == 0


def test_every_gt_format_gives_the_same_numbers(tmp_path):
    # sizes whose fractions YOLO's 6 decimals carry exactly; one image in a sub-folder
    run = [("a.jpg", 100, 80, [((10, 10, 50, 50), "dog", 0.9, 0.8), ((60, 10, 90, 40), "cat", 0.3, 0.2),
                               ((0, 40, 30, 80), "traffic light", 0.6, 0.7)]),
           ("sub/b.jpg", 64, 40, [((0, 0, 40, 40), "cat", 0.7, 0.9), ((44, 4, 64, 36), "dog", 0.4, 0.5)]),
           ("c.jpg", 100, 80, [((5, 5, 15, 15), "dog", 0.2, 0.1)])]
    sample = [("a.jpg", 100, 80, [((10, 10, 50, 50), "dog"), ((0, 44, 30, 80), "traffic light")]),
              ("sub/b.jpg", 64, 40, [((0, 0, 40, 32), "dog"), ((40, 0, 64, 40), "dog")]),
              ("c.jpg", 100, 80, [])]
    store = make_run(tmp_path / "run", run)
    reports = {}
    for fmt, path in write_all(tmp_path / "gt", sample, ["dog", "traffic light", "cat"]).items():
        r = evaluate_run(store, read_groundtruth(path)).to_dict()
        assert r["images"]["evaluated"] == 3, fmt
        reports[fmt] = {k: r[k] for k in ("class_agnostic", "class_aware", "correction", "sweep", "settings")}
    assert reports["coco"]["class_agnostic"]["ap50"] > 0
    for fmt in ("voc", "yolo", "cvat"):
        assert reports[fmt] == _approx(reports["coco"]), fmt


def _approx(obj):
    if isinstance(obj, dict):
        return {k: _approx(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_approx(v) for v in obj]
    if isinstance(obj, float):
        return pytest.approx(obj, abs=1e-9)
    return obj


def test_written_files_are_the_report_and_a_png(tmp_path):
    from PIL import Image

    store = make_run(tmp_path / "run", RUN)
    report = evaluate_run(store, _gt(GT_SAMPLE))
    j, png = write_evaluation(store.run_dir, report)
    assert json.loads(j.read_text()) == report.to_dict()
    first = j.read_bytes()
    write_evaluation(store.run_dir, evaluate_run(store, _gt(GT_SAMPLE)))
    assert j.read_bytes() == first  # same run, same ground truth: same bytes
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (1100, 440)
        # not a blank canvas: curves and text in several colours
        assert len(im.convert("RGB").getcolors(1 << 16)) > 20
    assert sorted(p.name for p in store.run_dir.iterdir() if p.name.startswith(".evaluation")) == []


def test_plot_copes_with_undefined_precision(tmp_path):
    store = make_run(tmp_path / "run", [("a.jpg", 10, 10, [])])
    r = evaluate_run(store, _gt([("a.jpg", 10, 10, [((0, 0, 5, 5), "dog")])]))
    assert r.correction.at_threshold.counts.precision is None and r.to_dict()["correction"]["at_threshold"]["precision"] is None
    assert plot_evaluation(r, tmp_path / "p.png").stat().st_size > 1000


def test_bad_settings_are_refused(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    with pytest.raises(ConfigError, match="--iou must be in"):
        evaluate_run(store, _gt(GT_SAMPLE), iou=0.0)
    with pytest.raises(ConfigError, match="score threshold must be a number >= 0"):
        evaluate_run(store, _gt(GT_SAMPLE), score_threshold=math.nan)
