"""Matching, correction cost, CorLoc, COCO metrics (against pycocotools run directly) and the threshold sweep."""

import json

import numpy as np
import pytest

from autolabel.evaluate.matching import ADJUST_IOU, NEUTRAL, UNMATCHED, EvalImage, GreedyMatcher, box_iou
from autolabel.evaluate.metrics import coco_metrics, corloc, correction_cost
from autolabel.evaluate.sweep import recommend, simplest_threshold, sweep, sweep_thresholds


def img(path, gt, preds=(), ignore=None, to_gt=None):
    """gt: [(box, label)], preds: [(box, label, score, objectness)]."""
    return EvalImage.build(path, [b for b, _ in gt], [lab for _, lab in gt], [p[0] for p in preds], [p[1] for p in preds],
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
    return [img("s", gt, [(b, lab, s, 1.0 - s) for b, lab, s in preds])]


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
