import json
import math

import numpy as np
import pytest

from autolabel.errors import ConfigError
from autolabel.evaluate import (
    ADJUST_IOU,
    EvalImage,
    GreedyMatcher,
    NEUTRAL,
    UNMATCHED,
    box_iou,
    build_class_mapping,
    coco_metrics,
    corloc,
    correction_cost,
    evaluate_run,
    load_class_map,
    plot_evaluation,
    recommend,
    simplest_threshold,
    sweep,
    sweep_thresholds,
    write_evaluation,
)
from autolabel.formats import GroundTruth, GroundTruthImage, read_groundtruth
from tests.evaluate_fixtures import RUN, annotations, make_run
from tests.formats.writers import write_all


def img(path, gt, preds=(), ignore=None, to_gt=None):
    """gt: [(box, label)], preds: [(box, label, score, objectness)]."""
    return EvalImage.build(path, [b for b, _ in gt], [l for _, l in gt], [p[0] for p in preds], [p[1] for p in preds],
                           [p[2] for p in preds], [p[3] for p in preds], gt_ignore=ignore, to_gt=to_gt)


def counts(c):
    return (c.delete, c.draw, c.relabel, c.adjust, c.edits)


# ---------------------------------------------------------------- known cases

PERFECT = [
    img("a.jpg", [((0, 0, 50, 50), "dog"), ((60, 60, 90, 100), "cat")],
        [((0, 0, 50, 50), "dog", 0.9, 0.5), ((60, 60, 90, 100), "cat", 0.8, 0.6)]),
    img("b.jpg", [((10, 20, 30, 40), "dog")], [((10, 20, 30, 40), "dog", 0.7, 0.9)]),
]


def test_perfect_match():
    assert coco_metrics(PERFECT)["ap50"] == pytest.approx(1.0)
    assert coco_metrics(PERFECT)["ar100"] == pytest.approx(1.0)
    assert corloc(PERFECT) == (1.0, 2, 2)
    c = correction_cost(PERFECT)
    assert counts(c) == (0, 0, 0, 0, 0)
    assert (c.precision, c.recall, c.f1, c.edits_per_image) == (1.0, 1.0, 1.0, 0.0)
    aware = coco_metrics(PERFECT, class_aware=True, rank_by="score", classes=["dog", "cat"])
    assert aware["ap50"] == pytest.approx(1.0) and aware["per_class"] == {"dog": pytest.approx(1.0), "cat": pytest.approx(1.0)}


def test_all_missed():
    far = [img("a.jpg", [((0, 0, 50, 50), "dog"), ((60, 60, 90, 100), "cat")], [((200, 200, 250, 250), "dog", 0.9, 0.9)]),
           img("b.jpg", [((10, 20, 30, 40), "dog")], [])]
    m = coco_metrics(far)
    assert (m["ap50"], m["ar100"]) == (0.0, 0.0)
    assert corloc(far) == (0.0, 0, 2)
    c = correction_cost(far)
    assert counts(c) == (1, 3, 0, 0, 4)
    assert (c.precision, c.recall, c.f1) == (0.0, 0.0, 0.0)
    assert c.edits_per_image == 2.0
    nothing = [img("b.jpg", [((10, 20, 30, 40), "dog")], [])]  # no prediction at all: loadRes cannot take []
    assert coco_metrics(nothing) == {"ap50": 0.0, "ar100": 0.0, "per_class": {"object": 0.0}}


def test_one_relabel():
    one = [img("a.jpg", [((0, 0, 50, 50), "dog"), ((60, 60, 90, 100), "cat")],
               [((0, 0, 50, 50), "cat", 0.9, 0.9), ((60, 60, 90, 100), "cat", 0.8, 0.8)])]
    assert coco_metrics(one)["ap50"] == pytest.approx(1.0)  # the places are right
    c = correction_cost(one)
    assert counts(c) == (0, 0, 1, 0, 1)
    assert c.recall == 1.0  # recall and precision are class-agnostic
    aware = coco_metrics(one, class_aware=True, rank_by="score", classes=["dog", "cat"])
    # dog: its only GT box was called cat -> AP 0; cat: one right box at the second rank after
    # a wrong one -> precision 1/2 at recall 1 -> 101-point interpolated AP 0.5
    assert aware["per_class"]["dog"] == 0.0
    assert aware["per_class"]["cat"] == pytest.approx(0.5)
    assert aware["ap50"] == pytest.approx(0.25)


def test_one_loose_box():
    loose = [img("a.jpg", [((0, 0, 100, 100), "dog")], [((0, 0, 100, 62), "dog", 0.9, 0.9)])]
    assert box_iou(loose[0].pred_boxes, loose[0].gt_boxes)[0, 0] == pytest.approx(0.62)
    m = coco_metrics(loose)
    assert m["ap50"] == pytest.approx(1.0)
    # found at IoU 0.50, 0.55, 0.60 of the ten thresholds 0.50:0.95 -> AR 3/10
    assert m["ar100"] == pytest.approx(0.3)
    assert corloc(loose) == (1.0, 1, 1)
    assert counts(correction_cost(loose)) == (0, 0, 0, 1, 1)
    tight = [img("a.jpg", [((0, 0, 100, 100), "dog")], [((0, 0, 100, 80), "dog", 0.9, 0.9)])]
    assert ADJUST_IOU < 0.8 and counts(correction_cost(tight)) == (0, 0, 0, 0, 0)


def test_corloc_small_case_by_hand():
    gt = [((0, 0, 40, 40), "a"), ((60, 60, 100, 100), "b")]
    images = [
        # top objectness box (0.9) overlaps the second GT box exactly -> hit
        img("1", gt, [((60, 60, 100, 100), "x", 0.1, 0.9), ((300, 300, 310, 310), "x", 0.99, 0.5)]),
        # top objectness box misses; a lower one would hit -> miss
        img("2", gt, [((200, 200, 240, 240), "x", 0.5, 0.8), ((0, 0, 40, 40), "x", 0.9, 0.7)]),
        # IoU 0.45 with the first box -> miss
        img("3", gt, [((0, 0, 40, 18), "x", 0.5, 0.8)]),
        # no prediction -> miss
        img("4", gt, []),
        # no GT box: not counted
        img("5", [], [((0, 0, 10, 10), "x", 0.5, 0.5)]),
    ]
    assert corloc(images) == (0.25, 1, 4)


# ---------------------------------------------------------------- pycocotools directly


def _random_images(seed, n=12, classes=("a", "b", "c")):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        gt, preds = [], []
        for _ in range(rng.integers(0, 5)):
            x, y = rng.uniform(0, 150, 2)
            w, h = rng.uniform(8, 80, 2)
            gt.append(((x, y, x + w, y + h), str(rng.choice(classes))))
        for b, lab in gt:
            if rng.random() < 0.8:  # a jittered copy, sometimes with another label
                j = rng.normal(0, 6, 4)
                box = (b[0] + j[0], b[1] + j[1], max(b[0] + j[0] + 2, b[2] + j[2]), max(b[1] + j[1] + 2, b[3] + j[3]))
                preds.append((box, lab if rng.random() < 0.7 else str(rng.choice(classes)), rng.random(), rng.random()))
        for _ in range(rng.integers(0, 4)):  # clutter
            x, y = rng.uniform(0, 150, 2)
            preds.append(((x, y, x + rng.uniform(5, 60), y + rng.uniform(5, 60)), str(rng.choice(classes)), rng.random(), rng.random()))
        out.append(img(f"{i:03d}.jpg", gt, preds))
    return out


def _cocoeval_direct(tmp_path, images, class_aware, rank_by, classes=("a", "b", "c")):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    cat = {c: i + 1 for i, c in enumerate(classes)} if class_aware else None
    gt = {"images": [], "annotations": [], "categories": [{"id": i, "name": c} for c, i in (cat or {"object": 1}).items()]}
    res = []
    for k, im in enumerate(images, 1):
        gt["images"].append({"id": k, "width": 300, "height": 300, "file_name": im.path})
        for b, lab in zip(im.gt_boxes.tolist(), im.gt_labels):
            w, h = b[2] - b[0], b[3] - b[1]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": k, "category_id": cat[lab] if cat else 1,
                                      "bbox": [b[0], b[1], w, h], "area": w * h, "iscrowd": 0})
        ranks = im.pred_scores if rank_by == "score" else im.pred_objectness
        for b, lab, s in zip(im.pred_boxes.tolist(), im.pred_labels, ranks.tolist()):
            res.append({"image_id": k, "category_id": cat[lab] if cat else 1, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": s})
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(res))
    coco = COCO(str(tmp_path / "gt.json"))
    ev = COCOeval(coco, coco.loadRes(str(tmp_path / "res.json")), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev.stats


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ap50_and_ar100_equal_cocoeval_run_directly(tmp_path, seed):
    images = _random_images(seed)
    stats = _cocoeval_direct(tmp_path, images, class_aware=False, rank_by="objectness")
    ours = coco_metrics(images, rank_by="objectness")
    assert 0 < stats[1] < 1 and 0 < stats[8] < 1  # a case that exercises the ranking
    assert ours["ap50"] == pytest.approx(stats[1], abs=1e-12)
    assert ours["ar100"] == pytest.approx(stats[8], abs=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_class_aware_ap50_equals_cocoeval_run_directly(tmp_path, seed):
    images = _random_images(seed)
    stats = _cocoeval_direct(tmp_path, images, class_aware=True, rank_by="score")
    ours = coco_metrics(images, class_aware=True, rank_by="score", classes=["a", "b", "c"])
    assert ours["ap50"] == pytest.approx(stats[1], abs=1e-12)
    assert np.mean([v for v in ours["per_class"].values() if v is not None]) == pytest.approx(stats[1], abs=1e-12)


# ---------------------------------------------------------------- matching rule


def test_greedy_takes_predictions_by_score_and_the_best_free_gt():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 12]], float)
    preds = np.array([[0, 0, 10, 10.4], [0, 0, 10, 10], [50, 50, 60, 60]], float)  # pred 0 fits GT 0 best
    m = GreedyMatcher(preds, np.array([0.3, 0.9, 0.5]), gt, np.zeros(2, bool), 0.5)
    # 0.9 first: takes GT 0 (IoU 1); 0.5 matches nothing; 0.3 would prefer GT 0 but takes what is left, GT 1
    assert m.match().tolist() == [1, 0, UNMATCHED]
    assert m.match(np.array([True, False, True])).tolist() == [0, -3, UNMATCHED]  # without the 0.9 box


@pytest.mark.parametrize("seed", [7, 8])
def test_count_agrees_with_the_matches(seed):
    rng = np.random.default_rng(seed)
    for im in _random_images(seed, n=6):
        m = GreedyMatcher.for_image(im)
        keep = rng.random(len(im.pred_boxes)) < 0.7
        match = m.match(keep)
        hit = np.flatnonzero(match >= 0)
        want = (int((match >= 0).sum() + (match == UNMATCHED).sum()), len(hit), int((match == UNMATCHED).sum()),
                sum(im.pred_classes[p] != im.gt_labels[match[p]] for p in hit), sum(m.ious[p, match[p]] < ADJUST_IOU for p in hit))
        assert m.count(keep) == want


def test_crowd_regions_are_neither_found_nor_missed():
    im = img("a", [((0, 0, 100, 100), "person"), ((200, 0, 300, 100), "person")],
             [((210, 10, 240, 40), "person", 0.9, 0.9), ((0, 0, 100, 100), "person", 0.8, 0.8)], ignore=[False, True])
    m = GreedyMatcher(im.pred_boxes, im.pred_scores, im.gt_boxes, im.gt_ignore)
    assert m.match().tolist() == [NEUTRAL, 0]
    c = correction_cost([im])
    assert (c.gt, c.predictions) == (1, 1) and counts(c) == (0, 0, 0, 0, 0)


# ---------------------------------------------------------------- sweep


def _sweep_case():
    gt = [((0, 0, 10, 10), "a"), ((20, 0, 30, 10), "a"), ((40, 0, 50, 10), "a")]
    preds = [((0, 0, 10, 10), "a", 0.9), ((100, 0, 110, 10), "a", 0.7), ((20, 0, 30, 10), "a", 0.6),
             ((40, 0, 50, 10), "a", 0.25), ((100, 50, 110, 60), "a", 0.15), ((100, 80, 110, 90), "a", 0.1)]
    return [img("s", gt, [(b, l, s, 1.0 - s) for b, l, s in preds])]


def test_sweep_recommends_the_fewest_edits_as_a_short_decimal():
    images = _sweep_case()
    pts = sweep(images, "score", sweep_thresholds(images[0].pred_scores))
    edits = {t: c.edits for t, c in pts}
    assert edits[0.0] == 3 and edits[0.15] == 2 and edits[0.25] == 1 and edits[0.6] == 2 and edits[0.9] == 2 and edits[1.0] == 3
    # every threshold in (0.15, 0.25] keeps the same boxes; 0.2 is the shortest way to say it
    t = recommend(pts, images[0].pred_scores)
    assert t == 0.2
    assert correction_cost(images, t).edits == 1 == min(edits.values())


@pytest.mark.parametrize("seed", [5, 6])
def test_recommended_threshold_is_as_good_as_any(seed):
    images = _random_images(seed, n=8)
    scores = np.concatenate([i.pred_scores for i in images])
    t = recommend(sweep(images, "score", sweep_thresholds(scores)), scores)
    # the kept boxes change only at the scores themselves: trying each (and "keep none") is exhaustive
    matchers = [GreedyMatcher.for_image(i) for i in images]
    brute = min(correction_cost(images, x, matchers=matchers).edits for x in [*np.unique(scores), 1.01])
    assert correction_cost(images, t).edits == brute


def test_sweep_over_objectness_holds_score_fixed():
    images = _sweep_case()  # objectness = 1 - score
    pts = dict(sweep(images, "objectness", [0.0, 0.5], fixed={"score": 0.5}))
    assert pts[0.0].predictions == 3 and pts[0.5].predictions == 0


@pytest.mark.parametrize("lo,hi,want", [(0.3, 0.7, 0.5), (-1.0, 0.7, 0.0), (0.3, 0.31, 0.31), (0.45, 0.46, 0.46),
                                        (0.123456, 0.1234567, 0.1234567), (0.29999, 0.3, 0.3)])
def test_simplest_threshold(lo, hi, want):
    t = simplest_threshold(lo, hi)
    assert t == want and lo < t <= hi


def test_sweep_thresholds_are_capped_and_include_the_grid():
    v = np.random.default_rng(0).random(5000)
    t = sweep_thresholds(v, max_points=50)
    assert 0.0 in t and 0.5 in t and 1.0 in t and len(t) <= 50 + 21
    assert t == sorted(t)


# ---------------------------------------------------------------- classes


def test_class_mapping_by_name_and_by_map():
    m = build_class_mapping(["Dog", "traffic_light", "person", "car"], ["dog", "traffic light", "man", "woman", "zebra"],
                            {"person": ["man", "woman"]})
    assert m.to_gt == {"dog": "Dog", "traffic light": "traffic_light", "man": "person", "woman": "person"}
    assert m.gt_to_run == {"Dog": ("dog",), "traffic_light": ("traffic light",), "person": ("man", "woman")}
    assert m.unmatched_gt == ("car",)


def test_class_mapping_reports_unknown_names_and_refuses_double_claims():
    m = build_class_mapping(["dog"], ["beagle"], {"dgo": "beagle", "dog": ["beagle", "poodle"]})
    assert m.to_gt == {"beagle": "dog", "poodle": "dog"}
    assert any("'dgo'" in n for n in m.notes) and any("'poodle'" in n for n in m.notes)
    with pytest.raises(ConfigError, match="'beagle' would count as both 'dog' and 'hound'"):
        build_class_mapping(["dog", "hound"], ["beagle"], {"dog": "beagle", "hound": "beagle"})


def test_load_class_map(tmp_path):
    p = tmp_path / "map.yaml"
    p.write_text("person: [man, woman]\n'salt & pepper': shaker\n")
    assert load_class_map(p) == {"person": ["man", "woman"], "salt & pepper": ["shaker"]}
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"map\.yaml: expected a mapping"):
        load_class_map(p)
    p.write_text("person: {a: 1}\n")
    with pytest.raises(ConfigError, match="'person' must map to a run label or a list"):
        load_class_map(p)


# ---------------------------------------------------------------- the driver on a run

GT_SAMPLE = [
    ("a.jpg", 100, 80, [((10, 10, 50, 50), "dog")]),
    ("sub/b.jpg", 100, 80, [((0, 0, 40, 30), "dog")]),
    ("zz.jpg", 100, 80, [((0, 0, 10, 10), "dog")]),
]


def _gt(sample, classes=("dog", "cat")):
    return GroundTruth("coco", "mem", tuple(classes),
                       tuple(GroundTruthImage(p, w, h, tuple(b for b, _ in bx), tuple(l for _, l in bx)) for p, w, h, bx in sample))


def test_evaluate_run_reports_pairing_metrics_and_cost(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    r = evaluate_run(store, _gt(GT_SAMPLE))
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
    r = evaluate_run(store, _gt(GT_SAMPLE))
    assert r["images"]["gt_without_run_image"] == ["zz.jpg"] and r["images"]["gt_failed_in_run"] == ["zz.jpg"]


def test_a_given_threshold_is_used_and_reported(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    r = evaluate_run(store, _gt(GT_SAMPLE), score_threshold=0.8)
    assert r["settings"]["score_threshold_source"] == "given"
    at = r["correction"]["at_threshold"]
    assert (at["score_threshold"], at["predictions"], at["draw"], at["edits"]) == (0.8, 1, 1, 1)


def test_the_latest_revision_is_evaluated_unless_told(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    fixed = annotations([("a.jpg", 100, 80, [((10, 10, 50, 50), "dog", 1.0, 1.0)]),
                         ("sub/b.jpg", 100, 80, [((0, 0, 40, 30), "dog", 1.0, 1.0)]), ("c.jpg", 100, 80, [])])
    name = store.write_revision("fiftyone", fixed, {})
    latest = evaluate_run(store, _gt(GT_SAMPLE))
    assert latest["revision"] == name
    assert latest["correction"]["at_zero"]["edits"] == 0
    assert evaluate_run(store, _gt(GT_SAMPLE), revision="original")["correction"]["at_zero"]["edits"] == 2


def test_gt_labelled_on_a_resized_copy_is_scaled_and_a_rotated_one_left_out(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    sample = [("a.jpg", 200, 160, [((20, 20, 100, 100), "dog")]), ("sub/b.jpg", 80, 100, [((0, 0, 40, 30), "dog")])]
    r = evaluate_run(store, _gt(sample))
    assert r["images"]["evaluated"] == 1 and r["images"]["left_out"] == ["sub/b.jpg"]
    assert "boxes scaled" in r["images"]["size_mismatch"][0] and "EXIF rotation" in r["images"]["size_mismatch"][1]
    assert r["correction"]["at_zero"]["matched"] == 1 and r["correction"]["at_zero"]["adjust"] == 0


def test_no_class_in_common_means_no_class_aware_section(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    r = evaluate_run(store, _gt([(p, w, h, [(b, "widget") for b, _ in bx]) for p, w, h, bx in GT_SAMPLE], classes=["widget"]))
    assert r["class_aware"] is None and r["classes"]["gt_without_run_label"] == ["widget"]
    assert r["correction"]["at_zero"]["relabel"] == 2  # every matched box needs its class
    mapped = evaluate_run(store, _gt([(p, w, h, [(b, "widget") for b, _ in bx]) for p, w, h, bx in GT_SAMPLE], classes=["widget"]),
                          class_map={"widget": ["dog", "cat"]})
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
        r = evaluate_run(store, read_groundtruth(path))
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
    assert json.loads(j.read_text()) == report
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
    assert r["correction"]["at_threshold"]["precision"] is None
    assert plot_evaluation(r, tmp_path / "p.png").stat().st_size > 1000


def test_bad_settings_are_refused(tmp_path):
    store = make_run(tmp_path / "run", RUN)
    with pytest.raises(ConfigError, match="--iou must be in"):
        evaluate_run(store, _gt(GT_SAMPLE), iou=0.0)
    with pytest.raises(ConfigError, match="score threshold must be a number >= 0"):
        evaluate_run(store, _gt(GT_SAMPLE), score_threshold=math.nan)
