"""Class assignment: each model class to at most one user class (the more specific, then the nearer)."""

from __future__ import annotations

import logging

import pytest

from autolabel.errors import ConfigError
from autolabel.vocabulary import (
    Labeler,
    build_labeler,
    compile_vocabulary,
    get_label_space,
    vocabulary_from_dict,
    vocabulary_from_names,
)
from tests.vocabulary.spaces import DOG, MISSILE, ROCKET


def test_nested_classes_the_more_specific_wins_in_any_order(in1k):
    for names in ("dog,animal", "animal,dog"):
        c = compile_vocabulary(vocabulary_from_names(names), in1k)
        by = {m.name: m for m in c.classes}
        assert len(by["dog"].indices) == 118
        assert set(by["dog"].indices) == set(range(151, 269))
        assert not set(by["dog"].indices) & set(by["animal"].indices)
        assert by["animal"].ceded == {"dog": 118}
        assert c.ambiguous == ()


def test_incomparable_overlap_goes_to_the_nearer_synset_with_a_warning(in1k, caplog):
    # greyhounds are both "dog" (4 edges up) and "racer" n02384858 (2 edges up)
    with caplog.at_level(logging.WARNING, logger="autolabel.vocabulary"):
        c = compile_vocabulary(vocabulary_from_dict({"classes": {"dog": None, "racer": ["n02384858"]}}), in1k)
    racer = [in1k.names[i] for i in c.classes[1].indices]
    assert sorted(racer) == ["Italian greyhound", "whippet"]
    assert len(c.classes[0].indices) == 116 and c.classes[0].ceded == {"racer": 2}
    assert {(w, lab) for _, w, lab in c.ambiguous} == {("racer", "dog")}
    assert "neither more specific" in caplog.text


def test_same_synset_under_two_classes_is_an_error(in1k):
    with pytest.raises(ConfigError, match="n02084071 .* is in both 'dog' and 'hound'"):
        compile_vocabulary(vocabulary_from_dict({"classes": {"dog": [DOG], "hound": ["dog"]}}), in1k)


def test_class_whose_model_classes_all_go_elsewhere_is_reported(in1k):
    v = vocabulary_from_dict({"classes": {"rocket": [ROCKET], "missile": [MISSILE]}})
    with pytest.raises(ConfigError, match="'rocket' covers none of the model's 1000 classes \\(all went to missile\\)"):
        compile_vocabulary(v, in1k)
    c = compile_vocabulary(v, in1k, strict=False)
    assert len(c.problems) == 1 and c.classes[0].indices == ()


def test_vocabulary_needs_an_imagenet_label_space():
    space = get_label_space(None, 5)
    with pytest.raises(ConfigError, match="needs an ImageNet classifier"):
        build_labeler(space, "cat")
    assert type(build_labeler(space, None)) is Labeler
