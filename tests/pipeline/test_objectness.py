"""Background signals: border contact, area share, scenery classes; the rule that scores
boxes down in the label stage, and the re-scoring of stored records that reproduces it."""

from __future__ import annotations

import pytest

from autolabel.config import PipelineConfig
from autolabel.errors import ConfigError
from autolabel.pipeline.label import keep
from autolabel.pipeline.objectness import (
    BackgroundRule,
    area_share,
    background_score,
    border_sides,
    is_backdrop,
    scenery_share,
    scenery_synsets,
)
from autolabel.pipeline.work import Found
from autolabel.tools.devset.sweep import Setting, rescore
from autolabel.types import Alternative, Detection, ImageAnnotations
from autolabel.vocabulary import LabelResult
from autolabel.vocabulary.space import label_space_for_model

SEASHORE, VALLEY, BOOKSHOP, STONE_WALL = "n09428293", "n09468604", "n02871525", "n04326547"
DOG, TABLE = "n02085620", "n03201208"
DOCK, PEDESTAL, SLIDING_DOOR = "n03216828", "n03903868", "n04239074"


@pytest.mark.parametrize("box,sides", [
    ((10, 10, 20, 20), 0), ((0, 10, 20, 20), 1), ((0, 0, 50, 50), 2), ((0, 40, 100, 60), 2),
    ((0, 0, 100, 60), 3), ((1, 1, 99, 99), 4), ((3, 3, 97, 97), 0),  # within 2 % of 100 px touches; 3 px does not
])
def test_border_sides(box, sides) -> None:
    assert border_sides(box, 100, 100) == sides


def test_backdrop_is_a_small_box_on_the_borders() -> None:
    assert area_share((0, 0, 50, 50), 100, 100) == pytest.approx(0.25)
    assert is_backdrop((0, 0, 50, 50), 100, 100, 2, 0.6)          # a corner
    assert is_backdrop((0, 0, 100, 30), 100, 100, 2, 0.6)         # a band of sky
    assert not is_backdrop((0, 0, 100, 100), 100, 100, 2, 0.6)    # the whole photo: often one big object
    assert not is_backdrop((20, 20, 60, 60), 100, 100, 2, 0.6)    # inside
    assert not is_backdrop((0, 20, 40, 60), 100, 100, 2, 0.6)     # one border only
    assert not is_backdrop((0, 0, 50, 50), 100, 100, 3, 0.6)


def test_scenery_classes_come_from_wordnet() -> None:
    space = label_space_for_model("tf_efficientnet_lite0")
    sc = scenery_synsets(space.synsets)
    assert {SEASHORE, VALLEY, BOOKSHOP, STONE_WALL} <= sc
    assert {DOCK, PEDESTAL, SLIDING_DOOR} <= sc  # structures: built scenery
    assert DOG not in sc and TABLE not in sc and 60 <= len(sc) <= 80
    topk = (Alternative("seashore", SEASHORE, 0.5), Alternative("dog", DOG, 0.3), Alternative("valley", VALLEY, 0.1))
    assert scenery_share(topk, sc) == pytest.approx(0.6)


def test_background_score() -> None:
    sc = frozenset({SEASHORE})
    shore = (Alternative("seashore", SEASHORE, 0.7), Alternative("dog", DOG, 0.3))
    dog = (Alternative("dog", DOG, 0.9),)
    corner, inside = (0, 0, 40, 40), (20, 20, 60, 60)
    off = BackgroundRule()
    assert not off.active and background_score(0.8, corner, 100, 100, shore, sc, off) == 0.8
    assert background_score(0.8, corner, 100, 100, dog, sc, BackgroundRule(penalty=0.5)) == pytest.approx(0.4)
    assert background_score(0.8, corner, 100, 100, dog, sc, BackgroundRule(penalty=0.0)) is None
    assert background_score(0.8, inside, 100, 100, dog, sc, BackgroundRule(penalty=0.0)) == 0.8
    assert background_score(0.8, inside, 100, 100, shore, sc, BackgroundRule(max_scenery_share=0.5)) is None
    assert background_score(0.8, inside, 100, 100, shore, sc, BackgroundRule(max_scenery_share=0.75)) == 0.8


def test_scenery_power_and_small_boxes_scale_the_score_down() -> None:
    sc = frozenset({SEASHORE})
    shore = (Alternative("dog", DOG, 0.6), Alternative("seashore", SEASHORE, 0.3))
    dog = (Alternative("dog", DOG, 0.9),)
    inside, small = (20, 20, 80, 80), (40, 40, 60, 60)  # 36 % and 4 % of the image
    soft = BackgroundRule(scenery_power=4.0)
    assert soft.active and soft.uses_scenery
    assert background_score(0.8, inside, 100, 100, shore, sc, soft) == pytest.approx(0.8 * 0.7 ** 4)
    assert background_score(0.8, inside, 100, 100, dog, sc, soft) == pytest.approx(0.8)
    tiny = BackgroundRule(small_area=0.1, small_penalty=0.7)
    assert tiny.active and not tiny.uses_scenery
    assert background_score(0.8, small, 100, 100, dog, sc, tiny) == pytest.approx(0.56)
    assert background_score(0.8, inside, 100, 100, dog, sc, tiny) == pytest.approx(0.8)
    assert not BackgroundRule(small_area=0.1).active  # penalty 1: off
    # all factors together, never above the score it started from
    both = BackgroundRule(penalty=0.5, scenery_power=4.0, small_area=0.1, small_penalty=0.7)
    corner_small = (0, 0, 20, 20)
    assert background_score(0.8, corner_small, 100, 100, shore, sc, both) == pytest.approx(0.8 * 0.7 ** 4 * 0.5 * 0.7)


def test_config_builds_the_whole_rule() -> None:
    rule = BackgroundRule.from_config(PipelineConfig(background_penalty=0.5, scenery_power=4.0, small_area=0.1,
                                                     small_penalty=0.7))
    assert rule == BackgroundRule(2, 0.6, 0.5, 1.0, 4.0, 0.1, 0.7)


def _found(box, obj) -> Found:
    return Found(box, obj, None)  # type: ignore[arg-type]  # the mask is not read here


def test_keep_scores_backdrop_boxes_down_before_min_score() -> None:
    regions = [_found((0, 0, 40, 40), 0.81), _found((20, 20, 60, 60), 0.49), _found((0, 0, 100, 100), 0.64)]
    named = [LabelResult("dog", DOG, 1.0, ())] * 3  # scores 0.9, 0.7, 0.8
    plain = keep(0.3, regions, named)
    assert [s for _, _, s in plain] == pytest.approx([0.9, 0.8, 0.7])
    half = keep(0.3, regions, named, rule=BackgroundRule(penalty=0.5), size=(100, 100))
    assert [(f.box, round(s, 3)) for f, _, s in half] == [((0, 0, 100, 100), 0.8), ((20, 20, 60, 60), 0.7),
                                                          ((0, 0, 40, 40), 0.45)]
    assert len(keep(0.5, regions, named, rule=BackgroundRule(penalty=0.5), size=(100, 100))) == 2
    assert len(keep(0.3, regions, named, rule=BackgroundRule(penalty=0.5))) == 3  # no size: no rule


def test_rescore_reproduces_the_label_stage_from_a_record() -> None:
    dets = (Detection("a-0", (0, 0, 40, 40), "dog", 0.9, 0.81, DOG, (Alternative("dog", DOG, 1.0),), class_score=1.0),
            Detection("a-1", (20, 20, 60, 60), "dog", 0.7, 0.49, DOG, (Alternative("dog", DOG, 1.0),), class_score=1.0),
            Detection("a-2", (0, 0, 100, 100), "dog", 0.8, 0.64, DOG, (Alternative("dog", DOG, 1.0),), class_score=1.0))
    rec = ImageAnnotations("a.jpg", 100, 100, dets)
    out = rescore([rec], Setting(0.3, 10, BackgroundRule(penalty=0.5)), frozenset())[0]
    assert [(d.id, round(d.score, 3)) for d in out.detections] == [("a-2", 0.8), ("a-1", 0.7), ("a-0", 0.45)]
    top2 = rescore([rec], Setting(0.0, 2), frozenset())[0]   # max_boxes keeps the most objective
    assert [d.id for d in top2.detections] == ["a-0", "a-2"]


def test_config_validates_the_background_settings() -> None:
    assert PipelineConfig().background_penalty == 1.0
    for bad in ({"background_sides": 0}, {"background_sides": 5}, {"background_area": 1.5},
                {"background_penalty": -0.1}, {"max_scenery_share": 2}):
        with pytest.raises(ConfigError):
            PipelineConfig(**bad)
    stored = PipelineConfig().result_dict()
    for k in ("background_sides", "background_area", "background_penalty", "max_scenery_share"):
        stored.pop(k)
    assert PipelineConfig().differences(stored) == []   # runs made before the rule resume as they were


def test_rescore_reproduces_the_weighted_score_and_every_factor() -> None:
    sc = frozenset({SEASHORE})
    shore = (Alternative("dog", DOG, 0.6), Alternative("seashore", SEASHORE, 0.3))
    regions = [_found((0, 0, 40, 40), 0.81), _found((20, 20, 60, 60), 0.49), _found((40, 40, 60, 60), 0.64),
               _found((0, 0, 100, 100), 0.7)]
    named = [LabelResult("dog", DOG, 0.6, shore), LabelResult("dog", DOG, 0.9, ()), LabelResult("dog", DOG, 0.5, ()),
             LabelResult("dog", DOG, 0.3, ())]
    rule = BackgroundRule(penalty=0.5, scenery_power=4.0, small_area=0.1, small_penalty=0.7)
    kept = keep(0.05, regions, named, rule=rule, size=(100, 100), scenery=sc, weight=0.7)
    dets = tuple(Detection(f"a-{k}", f.box, "dog", 0.0, f.objectness, DOG, r.topk, class_score=r.score)
                 for k, (f, r) in enumerate(zip(regions, named)))
    out = rescore([ImageAnnotations("a.jpg", 100, 100, dets)], Setting(0.05, 10, rule, objectness_weight=0.7), sc)[0]
    assert [round(d.score, 6) for d in out.detections] == [round(s, 6) for _, _, s in kept]
    assert [d.box for d in out.detections] == [f.box for f, _, _ in kept] and len(kept) == 4
    # the scenery-laden corner: weighted score x (1 - 0.3)^4 x 0.5 (backdrop)
    corner = next(s for f, _, s in kept if f.box == (0, 0, 40, 40))
    assert corner == pytest.approx(0.81 ** 0.7 * 0.6 ** 0.3 * 0.7 ** 4 * 0.5)
