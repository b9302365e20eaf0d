"""The label stage's last step: of two kept boxes on one object, the lower-scored goes
(``duplicate_iou``), in the pipeline and in the re-scoring of stored records alike."""

from __future__ import annotations

import pytest

from autolabel.pipeline.label import keep
from autolabel.pipeline.work import Found
from autolabel.tools.devset.sweep import Setting, rescore
from autolabel.types import Alternative, Detection, ImageAnnotations
from autolabel.vocabulary import LabelResult

DOG = "n02085620"
BIG = (0, 0, 100, 100)
SHIFTED = (5, 5, 100, 100)  # IoU with BIG 0.9025
APART = (50, 50, 150, 150)  # IoU with BIG 0.143


def _found(box, objectness: float) -> Found:
    return Found(box, objectness, None)  # type: ignore[arg-type]  # the mask is not read here


def _named(*probabilities: float) -> list[LabelResult]:
    return [LabelResult("dog", DOG, p, ()) for p in probabilities]


def test_the_lower_scored_of_two_overlapping_boxes_goes() -> None:
    # scores objectness ** 0.5 * p ** 0.5: 0.9, 0.8, 0.7 (SHIFTED has the higher objectness)
    regions = [_found(BIG, 0.81), _found(SHIFTED, 1.0), _found(APART, 0.49)]
    named = _named(1.0, 0.64, 1.0)
    kept = keep(0.0, regions, named, duplicate_iou=0.6)
    assert [(f.box, round(s, 3)) for f, _, s in kept] == [(BIG, 0.9), (APART, 0.7)]
    assert [f.box for f, _, _ in keep(0.0, regions, named)] == [BIG, SHIFTED, APART]  # off
    assert [f.box for f, _, _ in keep(0.0, regions, named, duplicate_iou=0.95)] == [BIG, SHIFTED, APART]
    assert [f.box for f, _, _ in keep(0.0, regions, named, duplicate_iou=0.1)] == [BIG]


def test_the_higher_scored_box_stays_whichever_comes_first() -> None:
    regions = [_found(SHIFTED, 0.64), _found(BIG, 0.81)]  # BIG scores higher, listed second
    kept = keep(0.0, regions, _named(1.0, 1.0), duplicate_iou=0.6)
    assert [f.box for f, _, _ in kept] == [BIG]


def test_a_box_below_min_score_removes_nothing() -> None:
    regions = [_found(BIG, 0.01), _found(SHIFTED, 0.81)]  # BIG scores 0.1, under min_score
    kept = keep(0.3, regions, _named(1.0, 1.0), duplicate_iou=0.6)
    assert [f.box for f, _, _ in kept] == [SHIFTED]


def test_rescoring_records_drops_the_same_duplicates() -> None:
    regions = [_found(BIG, 0.81), _found(SHIFTED, 1.0), _found(APART, 0.49)]
    named = _named(1.0, 0.64, 1.0)
    expected = [(f.box, s) for f, _, s in keep(0.0, regions, named, duplicate_iou=0.6)]
    alt = (Alternative("dog", DOG, 1.0),)
    dets = tuple(Detection(f"a-{k}", f.box, "dog", 0.0, f.objectness, DOG, alt, class_score=n.score)
                 for k, (f, n) in enumerate(zip(regions, named)))
    rec = ImageAnnotations("a.jpg", 200, 200, dets)
    out = rescore([rec], Setting(0.0, 10, objectness_weight=0.5, duplicate_iou=0.6), frozenset())[0]
    assert [(d.box, pytest.approx(d.score)) for d in out.detections] == expected
    assert len(rescore([rec], Setting(0.0, 10, objectness_weight=0.5), frozenset())[0].detections) == 3
