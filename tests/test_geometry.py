"""Box geometry: conversions table-tested, IoU / containment / NMS against hand-computed values."""

from __future__ import annotations

import math
import random

import pytest
import torch

from autolabel import geometry as g

# (xyxy, width, height, xywh, relative, percent, yolo)
CASES = [
    ((0.0, 0.0, 100.0, 50.0), 100, 50, (0, 0, 100, 50), (0, 0, 1, 1), (0, 0, 100, 100), (0.5, 0.5, 1, 1)),
    ((150.5, 40.25, 450.0, 330.0), 600, 400, (150.5, 40.25, 299.5, 289.75),
     (150.5 / 600, 40.25 / 400, 299.5 / 600, 289.75 / 400),
     (100 * 150.5 / 600, 100 * 40.25 / 400, 100 * 299.5 / 600, 100 * 289.75 / 400),
     (300.25 / 600, 185.125 / 400, 299.5 / 600, 289.75 / 400)),
    ((10.0, 20.0, 11.0, 22.0), 20, 40, (10, 20, 1, 2), (0.5, 0.5, 0.05, 0.05), (50, 50, 5, 5), (0.525, 0.525, 0.05, 0.05)),
]


@pytest.mark.parametrize("xyxy,w,h,xywh,rel,pct,yolo", CASES)
def test_conversions_match_the_table_and_round_trip(xyxy, w, h, xywh, rel, pct, yolo):
    assert g.xyxy_to_xywh(xyxy) == pytest.approx(xywh)
    assert g.xyxy_to_relative(xyxy, w, h) == pytest.approx(rel)
    assert g.xyxy_to_percent(xyxy, w, h) == pytest.approx(pct)
    assert g.xyxy_to_yolo(xyxy, w, h) == pytest.approx(yolo)
    for back in (g.xywh_to_xyxy(xywh), g.relative_to_xyxy(rel, w, h), g.percent_to_xyxy(pct, w, h),
                 g.yolo_to_xyxy(yolo, w, h)):
        assert all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(back, xyxy))


def test_clip_and_area():
    assert g.clip_box((-5, -1, 120, 30), 100, 20) == (0.0, 0.0, 100.0, 20.0)
    assert g.box_area((0, 0, 10, 5)) == 50.0
    assert g.box_area((5, 5, 1, 1)) == 0.0


def test_iou_scalar_and_batched_agree():
    assert g.iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert g.iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0  # touching, x2 exclusive
    assert g.iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    a = torch.tensor([[0, 0, 10, 10.0], [0, 0, 0, 0]])
    b = torch.tensor([[5, 0, 15, 10.0], [0, 0, 10, 10], [3, 3, 3, 3]])
    m = g.box_iou(a, b)
    assert m.shape == (2, 3)
    assert m[0].tolist() == pytest.approx([50 / 150, 1.0, 0.0])
    assert m[1].tolist() == [0.0, 0.0, 0.0]  # empty boxes: 0, never NaN
    assert g.box_iou(torch.zeros((0, 4)), b).shape == (0, 3)


def test_containment_is_the_share_of_the_first_box_inside_the_second():
    small, big = [0, 0, 2, 2.0], [0, 0, 4, 4.0]
    c = g.box_containment(torch.tensor([small, big]), torch.tensor([small, big]))
    assert c.flatten().tolist() == pytest.approx([1.0, 1.0, 0.25, 1.0])


def _reference_nms(boxes, scores, thr):
    """Greedy NMS written out in plain Python: descending score, ties to the lower index."""
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(g.iou(boxes[i], boxes[j]) <= thr + 1e-6 for j in keep):
            keep.append(i)
    return keep


def test_nms_keeps_the_published_tie_order():
    rng = random.Random(0)
    for _ in range(300):
        n = rng.randrange(0, 10)
        boxes = []
        for _ in range(n):
            x, y = rng.randrange(0, 10), rng.randrange(0, 10)
            boxes.append((x, y, x + rng.randrange(1, 8), y + rng.randrange(1, 8)))
        scores = [float(rng.randrange(0, 3)) for _ in range(n)]
        for thr in (0.3, 0.5, 0.7):
            got = g.nms(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(scores), thr).tolist()
            assert got == _reference_nms(boxes, scores, thr)


def test_nms_ties_keep_the_lower_index():
    dup = torch.tensor([[0, 0, 10, 10.0], [0, 0, 10, 10], [50, 50, 60, 60]])
    assert g.nms(dup, torch.tensor([0.5, 0.5, 0.1]), 0.5).tolist() == [0, 2]
    assert g.nms(dup, torch.tensor([0.7, 0.9, 0.1]), 0.5).tolist() == [1, 2]


def test_suppress_nested_drops_boxes_inside_a_better_one_and_boxes_around_it():
    boxes = torch.tensor([[0, 0, 100, 100.0], [10, 10, 40, 40], [200, 200, 210, 210], [12, 12, 38, 38]])
    # the nested small box (1) scores best: the big box (0) around it goes, and so does 3 inside it
    kept = g.suppress_nested(boxes, torch.tensor([0.5, 0.9, 0.1, 0.3]), containment=0.9)
    assert kept.tolist() == [1, 2]
    # plain IoU NMS would keep all of them (IoU of 0 and 1 is 0.09)
    assert len(g.nms(boxes, torch.tensor([0.5, 0.9, 0.1, 0.3]), 0.5)) == 3


def test_nms_uses_corners_not_widths():
    # As corners, B covers 40% of A: both kept. Read as (x, y, w, h) they would overlap by 94%.
    boxes = torch.tensor([[100.0, 100.0, 110.0, 110.0], [100.0, 100.0, 105.0, 108.0]])
    assert g.nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0, 1]
    # A real duplicate is suppressed, the higher score kept.
    dup = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.5, 0.5, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    assert g.nms(dup, torch.tensor([0.7, 0.9, 0.1]), 0.5).tolist() == [1, 2]


def test_box_iou_matches_hand_computation():
    a = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
    b = torch.tensor([[2.0, 2.0, 6.0, 6.0], [4.0, 4.0, 5.0, 5.0]])
    assert torch.allclose(g.box_iou(a, b), torch.tensor([[4 / 28, 0.0]]))
