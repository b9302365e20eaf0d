"""The exported score: objectness ** w * class_probability ** (1 - w) (w = 0.5: the square root of
the product), and the records that carry it."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from autolabel.config import DEFAULT_MIN_SCORE, LITE_MIN_SCORE, PRESETS, PipelineConfig
from autolabel.errors import RecordError
from autolabel.pipeline.scoring import detection_score, detection_scores
from autolabel.types import Detection


@pytest.mark.parametrize("o,p,expected", [
    (1.0, 1.0, 1.0), (0.0, 0.9, 0.0), (0.9, 0.0, 0.0), (0.5, 0.5, 0.5), (0.64, 0.25, 0.4),
    (1.5, 0.25, 0.5), (-0.1, 0.5, 0.0),  # clamped into [0, 1]
])
def test_detection_score(o: float, p: float, expected: float) -> None:
    assert detection_score(o, p) == pytest.approx(expected)


@pytest.mark.parametrize("o,p,w,expected", [
    (0.5, 0.5, 0.7, 0.5), (0.64, 0.25, 0.5, 0.4), (0.6, 0.2, 0.7, 0.6 ** 0.7 * 0.2 ** 0.3), (0.6, 0.2, 1.0, 0.6),
    (0.6, 0.2, 0.0, 0.2), (0.0, 0.9, 0.7, 0.0), (0.9, 0.0, 0.7, 0.0), (1.5, 2.0, 0.7, 1.0),
])
def test_weighted_detection_score(o: float, p: float, w: float, expected: float) -> None:
    assert detection_score(o, p, w) == pytest.approx(expected)
    assert detection_scores(np.array([o]), np.array([p]), w)[0] == pytest.approx(expected)


def test_objectness_weight_moves_the_ranking_towards_objectness() -> None:
    # a scene box the classifier is sure of against an object it is unsure of but discovery separates better
    scene, obj = (0.56, 0.46), (0.75, 0.25)
    assert detection_score(*scene) > detection_score(*obj)  # the classifier decides at w = 0.5
    assert detection_score(*obj, 0.7) > detection_score(*scene, 0.7)
    rng = np.random.default_rng(1)
    o, p = rng.uniform(size=100), rng.uniform(size=100)
    s = detection_scores(o, p, 0.7)
    assert np.all((s >= 0.0) & (s <= 1.0))
    assert np.array_equal(np.argsort(s, kind="stable"), np.argsort(0.7 * np.log(o) + 0.3 * np.log(p), kind="stable"))


def test_ranks_like_the_product_and_agrees_elementwise() -> None:
    rng = np.random.default_rng(0)
    o, p = rng.uniform(size=200), rng.uniform(size=200)
    s = detection_scores(o, p)
    assert np.array_equal(np.argsort(s, kind="stable"), np.argsort(o * p, kind="stable"))
    assert [detection_score(a, b) for a, b in zip(o[:5], p[:5])] == pytest.approx(s[:5].tolist())


def test_unrecognised_boxes_fall_below_the_default_threshold_and_objects_pass() -> None:
    """Objectness 0.5-0.75 (what discovery gives on the dev set): a box the classifier does not
    recognise (probability 0.05 or less) is dropped, one it names at 0.1 or more is kept."""
    for o, p in itertools.product((0.5, 0.6, 0.7, 0.75), (0.01, 0.03, 0.05)):
        assert detection_score(o, p) < DEFAULT_MIN_SCORE, (o, p)
    for o, p in itertools.product((0.5, 0.6, 0.7, 0.75), (0.1, 0.3, 0.9)):
        assert detection_score(o, p) > DEFAULT_MIN_SCORE, (o, p)


def test_presets_threshold_the_combined_score_and_the_bare_config_keeps_everything() -> None:
    # lite's threshold was measured with its background rule (docs/discovery-quality.md)
    assert {p.min_score for n, p in PRESETS.items() if n != "lite"} == {DEFAULT_MIN_SCORE}
    assert PRESETS["lite"].min_score == LITE_MIN_SCORE and PRESETS["lite"].background_penalty < 1.0
    assert PipelineConfig().min_score == 0.0
    # only lite (measured on dev284) weighs objectness more and uses the scenery and small-box factors
    assert PRESETS["lite"].objectness_weight == 0.7 and PRESETS["lite"].scenery_power > 0.0
    assert {p.objectness_weight for n, p in PRESETS.items() if n != "lite"} == {0.5}
    assert {(p.scenery_power, p.small_penalty) for n, p in PRESETS.items() if n != "lite"} == {(0.0, 1.0)}


@pytest.mark.parametrize("field,value", [
    ("objectness_weight", 1.5), ("objectness_weight", -0.1), ("small_area", 2.0), ("small_penalty", -1.0),
    ("scenery_power", -1.0), ("scenery_power", 100.0),
])
def test_scoring_settings_are_validated(field: str, value: float) -> None:
    from autolabel.errors import ConfigError

    with pytest.raises(ConfigError, match=field):
        PipelineConfig(**{field: value})


def test_records_keep_the_class_probability_and_read_old_ones() -> None:
    d = Detection(id="a-0", box=(0, 0, 10, 10), label="cat", score=0.6, objectness=0.72, class_score=0.5)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["class_score"] == 0.5 and Detection.from_dict(data) == d
    old = {k: v for k, v in data.items() if k != "class_score"}  # a record written before this field
    assert Detection.from_dict(old).class_score is None
    assert "class_score" not in Detection.from_dict(old).to_dict()
    with pytest.raises(RecordError, match="class_score"):
        Detection(id="a-0", box=(0, 0, 10, 10), label="cat", score=0.6, objectness=0.7, class_score=1.5)
