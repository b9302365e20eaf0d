"""Measuring exported records on a labelled COCO set: the split rule, every metric on a case
computed by hand, and ``autolabel devset --annotations`` end to end on generated images."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from autolabel import masks
from autolabel.cli import main
from autolabel.errors import ConfigError, InputError
from autolabel.formats.base import GroundTruthImage
from autolabel.tools.devset.labelled import (
    LabelledSet,
    load_labelled,
    load_records,
    pair_records,
    save_records,
    split_of,
)
from autolabel.tools.devset.quality import measure
from autolabel.types import Detection, ImageAnnotations


def _mask(h: int, w: int, box: tuple[int, int, int, int]) -> dict:
    m = np.zeros((h, w), bool)
    m[box[1]:box[3], box[0]:box[2]] = True
    return masks.encode(m)


def _det(i: int, box, score: float, mask=None) -> Detection:
    return Detection(id=f"x-{i}", box=box, label="thing", score=score, objectness=score, mask=mask)


def _case() -> list[tuple[GroundTruthImage, ImageAnnotations]]:
    """Two 100x100 images in folders a/ and b/.

    a/1.png: objects A (10,10)-(40,40) (900 px², small) and B (50,50)-(100,100) (2500, medium),
    both with masks. Boxes: on B, exact, score 0.9, its mask exact; a 20x20 false positive
    (400, small) at 0.8 without mask; on A, exact, score 0.3, its mask a 30x3 strip (mask IoU 0.1).
    b/2.png: object C (0,0)-(60,60) (3600, medium) and a crowd region (70,70)-(100,100), no
    masks. Boxes: (0,0)-(60,20) at 0.2 (IoU 1/3 with C: a medium false positive); one on the
    crowd region at 0.1 (neutral).
    """
    a = GroundTruthImage("a/1.png", 100, 100, ((10, 10, 40, 40), (50, 50, 100, 100)), ("o", "o"),
                         masks=(_mask(100, 100, (10, 10, 40, 40)), _mask(100, 100, (50, 50, 100, 100))))
    b = GroundTruthImage("b/2.png", 100, 100, ((0, 0, 60, 60), (70, 70, 100, 100)), ("o", "o"), ignore=(False, True))
    ra = ImageAnnotations("a/1.png", 100, 100, (
        _det(0, (50, 50, 100, 100), 0.9, _mask(100, 100, (50, 50, 100, 100))),
        _det(1, (70, 5, 90, 25), 0.8),
        _det(2, (10, 10, 40, 40), 0.3, _mask(100, 100, (10, 10, 40, 13))),
    ))
    rb = ImageAnnotations("b/2.png", 100, 100, (_det(0, (0, 0, 60, 20), 0.2), _det(1, (72, 72, 98, 98), 0.1)))
    return [(a, ra), (b, rb)]


def test_every_metric_on_a_hand_computed_case() -> None:
    r = measure(_case(), "hand", "all")
    top = r.row()
    assert (top.images, top.gt, top.predictions) == (2, 3, 5)
    assert top.recall50 == pytest.approx(2 / 3)        # A and B found, C missed
    assert top.precision50 == pytest.approx(2 / 4)     # 2 matched of 4 boxes (the crowd box counts in neither)
    assert top.corloc == pytest.approx(1 / 2)          # a's top box (0.9) hits; b's (0.2) misses
    # edits: a deletes 1; b deletes 1 and draws C: 3 over 2 images
    assert top.edits_per_image == pytest.approx(3 / 2)
    # ranked by score: TP 0.9, FP 0.8, TP 0.3, FP 0.2 over 3 objects; 101-point interpolated
    # precision is 1 up to recall 1/3 (34 points), 2/3 up to recall 2/3 (33 points), 0 beyond
    assert top.ap50 == pytest.approx((34 * 1 + 33 * 2 / 3) / 101)
    # matched {0.9, 0.3} against unmatched {0.8, 0.2}: 0.9 beats both, 0.3 beats 0.2: 3 of 4 pairs
    assert top.score_auc == pytest.approx(3 / 4)
    # masks on image a only (b has none): mask IoUs 1.0 and 0.1, so median 0.55 and half inverted;
    # segm AP50: TP 0.9, FP 0.8 (filled box), FP 0.3 (IoU 0.1) over 2 objects: 1.0 up to recall 0.5
    assert top.mask_iou_median == pytest.approx(0.55)
    assert top.inverted_share == pytest.approx(0.5)
    assert top.segm_ap50 == pytest.approx(51 / 101)
    assert top.ar100 == pytest.approx(2 / 3)           # both matches exact: recall 2/3 at every IoU


def test_size_buckets_and_folders() -> None:
    r = measure(_case())
    small, medium, large = r.row("all", "small"), r.row("all", "medium"), r.row("all", "large")
    assert (small.gt, small.recall50, small.precision50) == (1, 1.0, 0.5)     # A found; FP of 400 px² is small
    assert (medium.gt, medium.recall50, medium.precision50) == (2, 0.5, 0.5)  # B found, C not; b's FP is medium
    assert (large.gt, large.recall50, large.precision50, large.ap50) == (0, None, None, None)
    a, b = r.row("a"), r.row("b")
    assert (a.recall50, a.precision50, a.corloc) == (1.0, pytest.approx(2 / 3), 1.0)
    assert (b.recall50, b.precision50, b.corloc, b.score_auc) == (0.0, 0.0, 0.0, None)
    assert b.segm_ap50 is None and b.mask_iou_median is None
    assert {row["group"] for row in r.to_dict()["rows"]} == {"all", "a", "b"}


def test_no_boxes_scores_zero_not_undefined() -> None:
    (g, rec), _ = _case()
    r = measure([(g, ImageAnnotations(rec.path, 100, 100, ()))]).row()
    assert (r.ap50, r.recall50, r.precision50, r.corloc, r.score_auc) == (0.0, 0.0, None, 0.0, None)
    assert r.edits_per_image == 2.0


def test_the_split_rule_is_the_documented_hash_and_order_free() -> None:
    names = [f"group{k % 3}/img{k:04d}.jpg" for k in range(400)]
    for n in names[:20]:
        even = int(hashlib.sha256(n.encode()).hexdigest()[:8], 16) % 2 == 0
        assert split_of(n) == ("tune" if even else "report")
    s = LabelledSet(None, None, tuple(GroundTruthImage(n, 10, 10) for n in names))  # type: ignore[arg-type]
    tune, report = s.half("tune"), s.half("report")
    assert len(tune.images) + len(report.images) == 400 and 150 < len(tune.images) < 250
    assert not {g.path for g in tune.images} & {g.path for g in report.images}
    rev = LabelledSet(None, None, tuple(reversed(s.images))).half("tune")  # type: ignore[arg-type]
    assert {g.path for g in rev.images} == {g.path for g in tune.images}
    with pytest.raises(ConfigError):
        s.half("train")


def _coco_folder(tmp_path) -> tuple:
    """Two generated photos with planted rectangles, one in a sub-folder, and their COCO file."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    anns, ims = [], []
    for k, name in enumerate(["one.png", "sub/two.png"]):
        a = (rng.random((96, 128, 3)) * 60).astype(np.uint8) + 100
        a[20:70, 30:90] = [220, 30, 30]
        Image.fromarray(a).save(root / name)
        ims.append({"id": k + 1, "file_name": name, "width": 128, "height": 96})
        anns.append({"id": k + 1, "image_id": k + 1, "category_id": 1, "bbox": [30, 20, 60, 50], "iscrowd": 0,
                     "area": 3000, "segmentation": [[30, 20, 90, 20, 90, 70, 30, 70]]})
    ann = tmp_path / "gt.json"
    ann.write_text(json.dumps({"images": ims, "annotations": anns, "categories": [{"id": 1, "name": "box"}]}))
    return ann, root


def test_load_labelled_reads_masks_and_names_missing_images(tmp_path) -> None:
    ann, root = _coco_folder(tmp_path)
    s = load_labelled(ann, root)
    assert [g.path for g in s.images] == ["one.png", "sub/two.png"] and s.num_boxes == 2
    assert all(g.has_masks for g in s.images)
    assert [g.path for g in s.only(["two"]).images] == ["sub/two.png"]
    (root / "one.png").unlink()
    with pytest.raises(InputError, match="one.png"):
        load_labelled(ann, root)


def test_saved_records_measure_the_same(tmp_path) -> None:
    case = _case()
    save_records(tmp_path / "r.jsonl", [rec for _, rec in case])
    back = load_records(tmp_path / "r.jsonl")
    assert back == [rec for _, rec in case]
    s = LabelledSet(tmp_path, tmp_path, tuple(g for g, _ in case))
    assert measure(pair_records(s, back)).to_dict()["rows"] == measure(case).to_dict()["rows"]


def test_devset_command_measures_the_whole_pipeline_on_a_coco_folder(tmp_path) -> None:
    ann, root = _coco_folder(tmp_path)
    out = tmp_path / "recs-METHOD.jsonl"
    res = CliRunner().invoke(main, ["devset", "--annotations", str(ann), "--images", str(root), "--weights", "random",
                                    "--threads", "1", "--methods", "votes,multi", "--set", "min_score=0",
                                    "--save-records", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["images"] == str(root) and data["annotations"] == str(ann)
    assert [r["name"] for r in data["reports"]] == ["lite votes", "lite multi"]
    for rep in data["reports"]:
        assert rep["images"] == 2 and rep["gt_boxes"] == 2 and rep["settings"]["min_score"] == 0
        assert {row["group"] for row in rep["rows"]} == {"all", ".", "sub"}
    recs = load_records(tmp_path / "recs-votes.jsonl")
    assert [r.path for r in recs] == ["one.png", "sub/two.png"]
    # the saved records, measured again, give the same rows
    again = CliRunner().invoke(main, ["devset", "--annotations", str(ann), "--images", str(root),
                                      "--records", str(tmp_path / "recs-votes.jsonl"), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["reports"][0]["rows"] == data["reports"][0]["rows"]
    saved = sum(len(r.detections) for r in recs)
    strict = CliRunner().invoke(main, ["devset", "--annotations", str(ann), "--images", str(root), "--rescore",
                                       "--records", str(tmp_path / "recs-votes.jsonl"), "--set", "max_boxes=1", "--set", "min_score=0",
                                       "--json"])
    assert strict.exit_code == 0, strict.output
    rep = json.loads(strict.output)["reports"][0]
    assert rep["rows"][0]["predictions"] == sum(1 for r in recs if r.detections) <= saved  # the most objective box of each image
    assert rep["settings"]["max_boxes"] == 1 and rep["name"].endswith("re-scored")
    table = CliRunner().invoke(main, ["devset", "--annotations", str(ann), "--images", str(root),
                                      "--records", str(tmp_path / "recs-votes.jsonl")])
    assert table.exit_code == 0 and "| all |" in table.output and "small objects" in table.output
    # a run compared photo by photo with the saved records of another
    paired = CliRunner().invoke(main, ["devset", "--annotations", str(ann), "--images", str(root), "--weights", "random",
                                       "--threads", "1", "--methods", "single", "--set", "min_score=0",
                                       "--baseline", str(tmp_path / "recs-votes.jsonl"), "--resamples", "100", "--json"])
    assert paired.exit_code == 0, paired.output
    run = json.loads(paired.output)["reports"][0]
    rows = {r["metric"]: r for r in run["paired"]["rows"]}
    assert run["paired"]["photos"] == 2 and run["paired"]["baseline"] == "recs-votes.jsonl"
    assert rows["AP50"]["baseline"] == data["reports"][0]["rows"][0]["ap50"]
    assert rows["AP50"]["value"] == run["rows"][0]["ap50"]


def test_devset_command_refuses_labelled_options_without_annotations(tmp_path) -> None:
    res = CliRunner().invoke(main, ["devset", "--split", "tune"])
    assert res.exit_code == 2 and "--annotations" in res.output
    ann, _ = _coco_folder(tmp_path)
    res = CliRunner().invoke(main, ["devset", "--annotations", str(ann)])
    assert res.exit_code == 2 and "--images" in res.output


def test_devset_command_runs_discovery_alone_on_a_coco_folder(tmp_path) -> None:
    ann, root = _coco_folder(tmp_path)
    res = CliRunner().invoke(main, ["devset", "--annotations", str(ann), "--images", str(root), "--weights", "random",
                                    "--threads", "1", "--discovery-only", "--methods", "votes,single", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["images"] == 2 and data["boxes"] == 2
    assert [r["method"] for r in data["results"]] == ["votes", "single"]
    assert all(r["boxes_per_image"] <= 1.0 for r in data["results"] if r["method"] == "single")
    bad = CliRunner().invoke(main, ["devset", "--annotations", str(ann), "--images", str(root), "--discovery-only",
                                    "--rescore", "--records", str(ann)])
    assert bad.exit_code == 2 and "--discovery-only" in bad.output
