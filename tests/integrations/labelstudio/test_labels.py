"""A project's labels placed onto ImageNet-1k classes, as --classes places them."""

from __future__ import annotations

from autolabel.integrations.labelstudio.labeling import Label
from autolabel.integrations.labelstudio.labels import map_labels
from autolabel.vocabulary import build_labeler, get_label_space
from tests.integrations.labelstudio.support import space_1k


def test_known_labels_are_placed_unknown_ones_are_named_with_the_reason():
    lm = map_labels([Label("cat", ("cat",)), Label("zorblax", ("zorblax",)), Label("cup", ("cup",))], space_1k())
    assert [c.name for c in lm.placed] == ["cat", "cup"]
    assert list(lm.unplaced) == ["zorblax"]
    assert "WordNet" in lm.unplaced["zorblax"]
    assert lm.vocabulary is not None and lm.vocabulary.names == ("cat", "cup")
    assert lm.vocabulary.unmapped == "drop"  # a box that is none of the labels gets no region
    build_labeler(space_1k(), lm.vocabulary)  # the placed labels make a valid vocabulary


def test_an_unreadable_term_is_dropped_from_a_label_that_still_places():
    lm = map_labels([Label("Cat", ("zorblax", "cat"))], space_1k())
    assert [(c.name, c.terms) for c in lm.placed] == [("Cat", ("cat",))]
    assert lm.notes and "zorblax" in lm.notes[0]


def test_a_synset_taken_by_an_earlier_label_leaves_the_later_one_unplaced():
    lm = map_labels([Label("cat", ("cat",)), Label("kitty", ("cat",))], space_1k())
    assert [c.name for c in lm.placed] == ["cat"]
    assert "kitty" in lm.unplaced


def test_a_label_name_no_format_can_carry_is_unplaced():
    lm = map_labels([Label("bad\x1bname", ("cat",)), Label("cup", ("cup",))], space_1k())
    assert [c.name for c in lm.placed] == ["cup"] and "bad\x1bname" in lm.unplaced


def test_a_classifier_without_imagenet_classes_places_nothing():
    lm = map_labels([Label("cat", ("cat",))], get_label_space(None, 10))
    assert lm.placed == () and lm.vocabulary is None
    assert "ImageNet" in lm.unplaced["cat"]


def test_key_follows_what_decides_the_labels():
    a = map_labels([Label("cat", ("cat",))], space_1k())
    b = map_labels([Label("cat", ("cat",))], space_1k())
    c = map_labels([Label("cat", ("tabby",))], space_1k())
    assert a.key() == b.key() != c.key()
