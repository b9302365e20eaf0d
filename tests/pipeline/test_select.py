"""Nested-duplicate suppression: boxes of one object reduced to one, objects inside a box
around the whole scene kept when ``nested_min_ratio`` asks for a similar size."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from autolabel.config import ConfigError, PipelineConfig
from autolabel.pipeline.select import unnest
from autolabel.pipeline.work import Found


def _found(*boxes_obj) -> list[Found]:
    return [Found(box, obj, None, k) for k, (box, obj) in enumerate(boxes_obj)]  # type: ignore[arg-type]


SCENE = ((0.0, 0.0, 100.0, 100.0), 0.9)        # the whole photo, 10000 px²
PERSON = ((10.0, 10.0, 30.0, 60.0), 0.8)       # 1000 px², wholly inside the scene box
PERSON_LOOSE = ((8.0, 8.0, 32.0, 64.0), 0.7)   # 1344 px² around the person: a duplicate of it
DOG = ((50.0, 50.0, 90.0, 80.0), 0.6)          # 1200 px², inside the scene box


def _kept(found: list[Found], ratio: float, containment: float = 0.9) -> list[int]:
    return [f.view for f in unnest(SimpleNamespace(nested_containment=containment, nested_min_ratio=ratio), found)]


def test_the_bare_rule_keeps_only_the_scene_box() -> None:
    assert _kept(_found(SCENE, PERSON, PERSON_LOOSE, DOG), 0.0) == [0]


def test_a_size_ratio_keeps_objects_inside_the_scene_and_drops_true_duplicates() -> None:
    # person (1000) vs loose person (1344): ratio 0.74, the person 100 % inside: a duplicate
    # scene (10000) vs person: ratio 0.1, not similar: both kept
    assert _kept(_found(SCENE, PERSON, PERSON_LOOSE, DOG), 0.5) == [0, 1, 3]
    assert _kept(_found(SCENE, PERSON, PERSON_LOOSE, DOG), 0.8) == [0, 1, 2, 3]  # 0.74 < 0.8: not a duplicate either
    assert _kept(_found(SCENE, PERSON, PERSON_LOOSE, DOG), 0.05) == [0]          # 0.1 >= 0.05: the old behaviour


def test_the_better_ranked_of_a_duplicate_pair_stays_whatever_the_input_order() -> None:
    loose_first = _found(((8.0, 8.0, 32.0, 64.0), 0.9), ((10.0, 10.0, 30.0, 60.0), 0.5))
    assert _kept(loose_first, 0.5) == [0]
    assert _kept(list(reversed(loose_first)), 0.5) == [0]   # views name the boxes: the 0.9 one again


def test_config_takes_the_ratio_and_runs_before_it_resume() -> None:
    assert PipelineConfig().nested_min_ratio == 0.0
    with pytest.raises(ConfigError):
        PipelineConfig(nested_min_ratio=1.5)
    stored = PipelineConfig().result_dict()
    stored.pop("nested_min_ratio")
    assert PipelineConfig().differences(stored) == []


def _two_balloons(refined: bool = True) -> Found:
    import numpy as np

    from autolabel.discovery.refine import PixelMask

    m = np.zeros((20, 40), bool)
    m[2:10, 2:12] = True      # 80 px
    m[5:15, 20:35] = True     # 150 px, apart from the first
    m[18, 39] = True          # a one-pixel speck
    pm = PixelMask(m, (100.0, 50.0), (2.0, 2.0), refined=refined)
    return Found(pm.box, 0.7, pm, 3)


def test_a_refined_mask_in_separate_pieces_is_one_object_per_piece() -> None:
    from autolabel.pipeline.select import pieces

    f = _two_balloons()
    parts = pieces(f, 0.2)
    assert [p.box for p in parts] == [(104.0, 54.0, 124.0, 70.0), (140.0, 60.0, 170.0, 80.0)]
    assert all(p.objectness == 0.7 and p.view == 3 and p.mask.box == p.box for p in parts)
    assert [int(p.mask.mask.sum()) for p in parts] == [80, 150]
    assert pieces(f, 0.5) == [f]                   # only one piece holds half the pixels
    assert pieces(_two_balloons(refined=False), 0.2)[0].mask.mask.shape == (20, 40)  # a patch mask stays whole


def test_split_pieces_is_checked() -> None:
    assert PipelineConfig(split_pieces=0.2).split_pieces == 0.2
    for bad in (0.0, 0.6, True):
        with pytest.raises(ConfigError, match="split_pieces"):
            PipelineConfig(split_pieces=bad)
