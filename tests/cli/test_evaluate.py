import json

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from tests.evaluate.fixtures import RUN, annotations, make_run
from tests.formats.writers import write_all, write_coco, write_voc

GT = [
    ("a.jpg", 100, 80, [((10, 10, 50, 50), "dog")]),
    ("sub/b.jpg", 100, 80, [((0, 0, 40, 30), "dog")]),
    ("lost.jpg", 100, 80, []),
]
CLASSES = ["dog", "cat"]


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path / "run", RUN).run_dir


def invoke(*args):
    return CliRunner().invoke(main, ["evaluate", *map(str, args)], catch_exceptions=False)


def test_table_json_and_plot(tmp_path, run_dir):
    gt = write_coco(tmp_path / "gt.json", GT, CLASSES)
    res = invoke(run_dir, "--gt", gt)
    assert res.exit_code == 0, res.output
    report = json.loads((run_dir / "evaluation.json").read_text())
    assert (run_dir / "evaluation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = res.output
    assert "Images: 2 evaluated, 2 ground-truth boxes, 3 predictions; 1 run images have no ground truth" in out
    assert "1 labelled images are not in the run: lost.jpg" in out
    assert "run images without ground truth are named like: c.jpg" in out
    ca = report["class_agnostic"]
    assert f"AP50      {ca['ap50']:.3f}" in out and f"AR@100    {ca['ar100']:.3f}" in out
    assert f"CorLoc    {ca['corloc']:.3f}   {ca['corloc_hits']}/{ca['corloc_images']} images" in out
    at = report["correction"]["at_threshold"]
    assert f"How much work is left at score >= {at['score_threshold']:g}" in out and "(recommended: fewest edits)" in out
    assert f"relabel (wrong class)           {at['relabel']}" in out
    assert f"total edits                     {at['edits']}       {at['edits_per_image']:.2f}" in out
    assert "<- fewest edits" in out
    assert f"Wrote {run_dir / 'evaluation.json'} and {run_dir / 'evaluation.png'}" in out


def test_json_output_is_the_stored_report(tmp_path, run_dir):
    gt = write_coco(tmp_path / "gt.json", GT, CLASSES)
    res = invoke(run_dir, "--gt", gt, "--json", "--no-plot", "--score-threshold", "0.25", "--iou", "0.7")
    assert res.exit_code == 0, res.output
    printed = json.loads(res.output)
    assert printed == json.loads((run_dir / "evaluation.json").read_text())
    assert not (run_dir / "evaluation.png").exists()
    assert printed["settings"]["score_threshold"] == 0.25 and printed["settings"]["iou"] == 0.7
    # at IoU 0.7 the loose box on b (IoU 0.75) still counts; at 0.25 the cat on a is kept and deleted
    at = printed["correction"]["at_threshold"]
    assert (at["delete"], at["draw"], at["relabel"], at["adjust"]) == (1, 0, 1, 0)


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo", "cvat"])
def test_each_format_from_the_command_line(tmp_path, run_dir, fmt):
    paths = write_all(tmp_path / "gt", GT[:2], CLASSES)
    res = invoke(run_dir, "--gt", paths[fmt], "--json", "--no-plot")
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["groundtruth"]["format"] == fmt and r["images"]["evaluated"] == 2
    assert r["class_agnostic"]["ap50"] == pytest.approx(1.0)


def test_format_override_and_voc_origin(tmp_path):
    run_dir = make_run(tmp_path / "run", [("a.jpg", 100, 80, [((10, 10, 14, 14), "dog", 0.9, 0.9)])]).run_dir
    folder = write_voc(tmp_path / "labels", [("a.jpg", 100, 80, [((10, 10, 14, 14), "dog")])], CLASSES, origin="zero")
    res = invoke(run_dir, "--gt", folder, "--gt-format", "voc", "--voc-origin", "zero", "--json", "--no-plot")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["correction"]["at_zero"]["edits"] == 0
    # the same file read as devkit (1-based) puts the GT box at (9, 9, 14, 14): IoU 16/25, an adjust
    shifted = invoke(run_dir, "--gt", folder, "--json", "--no-plot")
    at = json.loads(shifted.output)["correction"]["at_zero"]
    assert (at["matched"], at["adjust"], at["edits"]) == (1, 1, 1)


def test_revision_flags(tmp_path, run_dir):
    from autolabel.store import RunStore

    store = RunStore(run_dir)
    store.write_revision("fiftyone", annotations([("a.jpg", 100, 80, [((10, 10, 50, 50), "dog", 1.0, 1.0)]),
                                                  ("sub/b.jpg", 100, 80, [((0, 0, 40, 30), "dog", 1.0, 1.0)])]), {})
    gt = write_coco(tmp_path / "gt.json", GT, CLASSES)
    latest = json.loads(invoke(run_dir, "--gt", gt, "--json", "--no-plot").output)
    assert latest["revision"] == "001-fiftyone" and latest["correction"]["at_zero"]["edits"] == 0
    orig = json.loads(invoke(run_dir, "--gt", gt, "--json", "--no-plot", "--original").output)
    assert orig["revision"] == "original" and orig["correction"]["at_zero"]["edits"] == 2
    named = json.loads(invoke(run_dir, "--gt", gt, "--json", "--no-plot", "--revision", "001-fiftyone").output)
    assert named["revision"] == "001-fiftyone"
    res = invoke(run_dir, "--gt", gt, "--revision", "007-nope")
    assert res.exit_code == 1 and "has no revision '007-nope'" in res.output
    res = invoke(run_dir, "--gt", gt, "--revision", "001-fiftyone", "--original")
    assert res.exit_code == 2 and "either --original or --revision" in res.output


def test_class_map_file(tmp_path, run_dir):
    sample = [(p, w, h, [(b, "canine") for b, _ in boxes]) for p, w, h, boxes in GT[:2]]
    gt = write_coco(tmp_path / "gt.json", sample, ["canine"])
    plain = json.loads(invoke(run_dir, "--gt", gt, "--json", "--no-plot").output)
    assert plain["class_aware"] is None
    assert "no ground-truth class matches a run label" in invoke(run_dir, "--gt", gt, "--no-plot").output
    cmap = tmp_path / "map.yaml"
    cmap.write_text("canine: [dog]\n")
    mapped = json.loads(invoke(run_dir, "--gt", gt, "--json", "--no-plot", "--class-map", cmap).output)
    assert mapped["class_aware"]["classes"]["canine"]["run_labels"] == ["dog"]
    assert mapped["settings"]["class_map"] == str(cmap)
    res = invoke(run_dir, "--gt", gt, "--class-map", tmp_path / "missing.yaml")
    assert res.exit_code == 1 and "missing.yaml does not exist" in res.output


def test_errors_name_the_path(tmp_path, run_dir):
    res = invoke(run_dir, "--gt", tmp_path / "nowhere.json")
    assert res.exit_code == 1 and f"error: ground truth {tmp_path / 'nowhere.json'} does not exist" in res.output
    (tmp_path / "odd").mkdir()
    res = invoke(run_dir, "--gt", tmp_path / "odd")
    assert res.exit_code == 1 and "cannot tell the ground-truth format of folder" in res.output and "--gt-format" in res.output
    res = invoke(tmp_path / "not-a-run", "--gt", write_coco(tmp_path / "gt.json", GT, CLASSES))
    assert res.exit_code == 1 and "does not exist" in res.output
    other = write_coco(tmp_path / "other.json", [("x.jpg", 10, 10, [])], CLASSES)
    res = invoke(run_dir, "--gt", other)
    assert res.exit_code == 1 and "no image of" in res.output and "x.jpg" in res.output and "sub/b.jpg" in res.output
    assert not (run_dir / "evaluation.json").exists()
    res = invoke(run_dir)
    assert res.exit_code == 2 and "--gt" in res.output


def test_help_lists_the_options():
    res = CliRunner().invoke(main, ["evaluate", "--help"])
    assert res.exit_code == 0
    for opt in ("--gt", "--gt-format", "--revision", "--original", "--score-threshold", "--iou", "--class-map", "--json"):
        assert opt in res.output


def test_says_so_when_keeping_no_box_is_cheapest(tmp_path):
    run_dir = make_run(tmp_path / "run", [("a.jpg", 100, 80, [((60, 60, 90, 80), "dog", 0.9, 0.9), ((0, 60, 20, 80), "dog", 0.5, 0.5)])]).run_dir
    gt = write_coco(tmp_path / "gt.json", [("a.jpg", 100, 80, [((0, 0, 40, 40), "dog")])], CLASSES)
    res = invoke(run_dir, "--gt", gt, "--no-plot")
    assert res.exit_code == 0, res.output
    assert "keeping no box at all needs the fewest edits" in res.output
    report = json.loads((run_dir / "evaluation.json").read_text())
    assert report["settings"]["score_threshold"] > 0.9  # above the best score: keeps nothing
    assert report["correction"]["at_threshold"]["edits"] == 1 and report["correction"]["at_zero"]["edits"] == 3
