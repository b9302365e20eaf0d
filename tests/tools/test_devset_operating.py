"""Operating points: the highest min_score reaching a recall, the lowest keeping a precision,
and the recall and precision of exactly that cut of the records."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.formats.base import GroundTruthImage
from autolabel.tools.devset.labelled import save_records
from autolabel.tools.devset.operating import operating_points, precision_points
from autolabel.tools.devset.quality import measure
from autolabel.types import Detection, ImageAnnotations
from tests.tools.test_devset_quality import _case


def _cut(pairs, min_score: float):
    return [(g, ImageAnnotations(r.path, r.width, r.height, tuple(d for d in r.detections if d.score >= min_score)))
            for g, r in pairs]


def test_points_of_the_hand_computed_case() -> None:
    """Objects A, B, C (a crowd region besides); boxes by score: 0.9 on B, 0.8 wrong, 0.3 on A,
    0.2 wrong, 0.1 on the crowd region (counted nowhere)."""
    report = measure(_case(), at_recall=(0.3, 0.5, 0.9))
    third, two, none = report.operating
    assert (third.min_score, third.boxes, third.recall, third.precision) == (0.9, 1, pytest.approx(1 / 3), 1.0)
    assert (two.min_score, two.boxes, two.recall, two.precision) == (0.3, 3, pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert (none.min_score, none.recall, none.precision, none.boxes) == (None, None, None, 0)  # 2 of 3 at best
    cut = measure(_cut(_case(), 0.3)).row()
    assert (cut.recall50, cut.precision50) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert report.to_dict()["at_recall"][1] == {"target": 0.5, "min_score": 0.3, "recall": 0.6667, "precision": 0.6667,
                                                "boxes": 3}
    assert "at_recall" not in measure(_case()).to_dict()


def _random_pairs(seed: int = 5):
    """25 random photos: boxes near and away from the objects, scores at random (two decimals:
    ties across photos)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for k in range(25):
        gts = []
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.uniform(0, 150, 2)
            gts.append((float(x), float(y), float(x + rng.uniform(10, 50)), float(y + rng.uniform(10, 50))))
        dets = []
        for i in range(int(rng.integers(0, 7))):
            if gts and rng.random() < 0.6:
                x1, y1, x2, y2 = gts[int(rng.integers(len(gts)))]
                j = rng.normal(0, 4, 4)
                box = (x1 + j[0], y1 + j[1], max(x1 + j[0] + 1, x2 + j[2]), max(y1 + j[1] + 1, y2 + j[3]))
            else:
                x, y = rng.uniform(0, 150, 2)
                box = (float(x), float(y), float(x + 30), float(y + 30))
            score = float(np.round(rng.uniform(0.05, 0.95), 2))
            box = tuple(float(min(max(v, 0.0), 200.0)) for v in box)
            dets.append(Detection(id=f"p{k}-{i}", box=box, label="thing", score=score,
                                  objectness=score))
        pairs.append((GroundTruthImage(f"f/{k}.png", 200, 200, tuple(gts), ("o",) * len(gts)),
                      ImageAnnotations(f"f/{k}.png", 200, 200, tuple(dets))))
    return pairs


def test_each_point_is_what_a_cut_of_the_records_at_its_min_score_measures() -> None:
    """Cutting the records at each point's min_score and measuring them gives its numbers."""
    pairs = _random_pairs()
    targets = (0.1, 0.25, 0.4, 0.55, 0.7)
    points = measure(pairs, at_recall=targets).operating
    reached = [p for p in points if p.min_score is not None]
    assert len(reached) >= 3
    for p in reached:
        row = measure(_cut(pairs, p.min_score)).row()
        assert p.recall >= p.target - 1e-9
        assert (row.recall50, row.precision50, row.predictions) == (pytest.approx(p.recall), pytest.approx(p.precision),
                                                                     p.boxes)
        higher = measure(_cut(pairs, p.min_score + 0.011)).row()  # the next score up: the recall is no longer reached
        assert higher.recall50 < p.target
    assert [p.min_score for p in reached] == sorted((p.min_score for p in reached), reverse=True)


def test_precision_points_of_the_hand_computed_case() -> None:
    """Boxes by score: 0.9 right, 0.8 wrong, 0.3 right, 0.2 wrong, 0.1 on the crowd region. The
    cuts' precisions 1, 1/2, 2/3, 1/2 dip and rise again: the lowest threshold keeping 0.6 lies
    below one that does not keep it."""
    report = measure(_case(), at_precision=(1.0, 0.6, 0.5))
    whole, most, half = report.keeping
    assert (whole.min_score, whole.boxes, whole.recall, whole.precision) == (0.9, 1, pytest.approx(1 / 3), 1.0)
    assert (most.min_score, most.boxes, most.precision) == (0.3, 3, pytest.approx(2 / 3))
    assert (half.min_score, half.boxes, half.recall, half.precision) == (0.2, 4, pytest.approx(2 / 3), 0.5)
    assert report.to_dict()["at_precision"][1] == {"target": 0.6, "min_score": 0.3, "recall": 0.6667,
                                                   "precision": 0.6667, "boxes": 3}
    assert "at_precision" not in measure(_case()).to_dict()


def test_each_precision_point_is_the_lowest_cut_keeping_it() -> None:
    """Random photos: each point's cut measures as it says, keeps its precision, and no lower
    threshold among the boxes' scores keeps it (every lower cut measured on its own)."""
    pairs = _random_pairs(7)
    scores = sorted({d.score for _, r in pairs for d in r.detections})
    targets = (0.3, 0.45, 0.6, 0.8)
    points = measure(pairs, at_precision=targets).keeping
    reached = [p for p in points if p.min_score is not None]
    assert len(reached) >= 3
    for p in reached:
        row = measure(_cut(pairs, p.min_score)).row()
        assert (row.recall50, row.precision50, row.predictions) == (pytest.approx(p.recall), pytest.approx(p.precision),
                                                                     p.boxes)
        assert p.precision >= p.target
        for lower in (s for s in scores if s < p.min_score):
            assert measure(_cut(pairs, lower)).row().precision50 < p.target
    assert [p.min_score for p in reached] == sorted(p.min_score for p in reached)


def test_no_boxes_or_no_objects_reach_nothing() -> None:
    assert operating_points([], [], 0, (0.1,))[0].min_score is None
    assert operating_points([np.zeros(0)], [np.zeros(0, int)], 3, (0.1,))[0].boxes == 0
    assert precision_points([], [], 0, (0.1,))[0].min_score is None
    none = precision_points([np.array([0.5, 0.4])], [np.array([-1, -1])], 3, (0.1,))[0]
    assert (none.min_score, none.boxes) == (None, 0)
    everything = precision_points([np.array([0.5])], [np.array([-1])], 0, (1e-9,))[0]  # no objects: 0 of 1 right
    assert everything.min_score is None


def labelled_folder(tmp_path, case) -> list[str]:
    """Write ``case``'s ground truth as a COCO file and empty image files (records are measured,
    never decoded); return the devset arguments that name them."""
    gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "o"}]}
    for k, (g, _) in enumerate(case):
        gt["images"].append({"id": k + 1, "file_name": g.path, "width": g.width, "height": g.height})
        (tmp_path / "img" / g.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "img" / g.path).write_bytes(b"")  # never decoded: the records are measured
        for b, ig in zip(g.boxes, g.ignore or (False,) * len(g.boxes)):
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": k + 1, "category_id": 1,
                                      "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "iscrowd": int(ig),
                                      "area": (b[2] - b[0]) * (b[3] - b[1])})
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    return ["devset", "--annotations", str(tmp_path / "gt.json"), "--images", str(tmp_path / "img")]


def test_devset_command_prints_operating_points_of_saved_records(tmp_path) -> None:
    case = _case()
    save_records(tmp_path / "r.jsonl", [rec for _, rec in case])
    base = [*labelled_folder(tmp_path, case), "--records", str(tmp_path / "r.jsonl")]
    res = CliRunner().invoke(main, [*base, "--at-recall", "0.5,0.9"])
    assert res.exit_code == 0, res.output
    assert "| 0.5 | 0.3000 | 3 | 0.667 | 0.667 |" in res.output and "| 0.9 | not reached |" in res.output
    res = CliRunner().invoke(main, [*base, "--at-recall", "0.5", "--json"])
    assert json.loads(res.output)["reports"][0]["at_recall"][0]["min_score"] == 0.3
    for bad in ("0", "1.5", "x", ","):
        res = CliRunner().invoke(main, [*base, "--at-recall", bad])
        assert res.exit_code == 2 and "--at-recall" in res.output
        res = CliRunner().invoke(main, [*base, "--at-precision", bad])
        assert res.exit_code == 2 and "--at-precision" in res.output
    res = CliRunner().invoke(main, [*base, "--at-precision", "0.6,1"])
    assert res.exit_code == 0, res.output
    assert "| 0.6 | 0.3000 | 3 | 0.667 | 0.667 |" in res.output and "| 1 | 0.9000 | 1 | 0.333 | 1.000 |" in res.output
    res = CliRunner().invoke(main, [*base, "--at-precision", "0.5", "--json"])
    assert json.loads(res.output)["reports"][0]["at_precision"][0]["min_score"] == 0.2


def test_at_recall_needs_labelled_photos() -> None:
    res = CliRunner().invoke(main, ["devset", "--at-recall", "0.1"])
    assert res.exit_code == 2 and "--at-recall" in res.output
    res = CliRunner().invoke(main, ["devset", "--at-precision", "0.5"])
    assert res.exit_code == 2 and "--at-precision" in res.output

