"""Terms resolved against a label space: the first sense that covers a model class."""

from __future__ import annotations

import pytest

from autolabel.errors import ConfigError
from autolabel.vocabulary import (
    build_labeler,
    compile_vocabulary,
    resolve_term,
    vocabulary_from_names,
)
from tests.vocabulary.spaces import (
    BIG_CAT,
    CAT,
    CUP_CONTAINER,
    CUP_IMAGENET,
    DOG,
    ROCKET,
)


def test_cup_takes_the_first_sense_that_covers_a_model_class(in1k, in22k):
    r = resolve_term("cup", in1k)
    assert r.chosen.synset == CUP_IMAGENET and r.chosen.sense == 6 and r.chosen.covers == 1
    others = {o.synset: o for o in r.others}
    assert others[CUP_CONTAINER].sense == 1 and others[CUP_CONTAINER].covers == 0
    assert "sense 6 n07930864" in r.describe() and "sense 1 n03147509" in r.describe()
    # ImageNet-22k has cups under the container sense, so there sense 1 is taken
    r22 = resolve_term("cup", in22k)
    assert r22.chosen.synset == CUP_CONTAINER and r22.chosen.sense == 1 and r22.chosen.covers > 0


def test_cat_sense_one_and_big_cat(in1k):
    r = resolve_term("cat", in1k)
    assert (r.chosen.synset, r.chosen.sense, r.chosen.covers) == (CAT, 1, 7)
    assert {o.synset: o.covers for o in r.others}[BIG_CAT] == 6
    assert resolve_term("cats", in1k).chosen.synset == CAT  # plural
    big = resolve_term("cat.n.07", in1k)  # a sense named like nltk does
    assert (big.chosen.synset, big.chosen.covers) == (BIG_CAT, 6)
    assert "cat.n.01" in resolve_term("cat.n.03", in1k).error


def test_rocket_covers_missile(in1k):
    r = resolve_term("rocket", in1k)
    assert r.chosen.synset == ROCKET and r.chosen.sense == 1
    c = compile_vocabulary(vocabulary_from_names("rocket"), in1k)
    assert [in1k.names[i] for i in c.classes[0].indices] == ["missile"]


def test_unknown_words_and_uncovered_synsets_are_errors(in1k):
    r = resolve_term("catt", in1k)
    assert r.chosen is None and "nearest: cat" in r.error
    r = resolve_term("hombre", in1k)  # a WordNet noun whose only sense (a man) has no 1k class
    assert r.chosen is None and "none of its senses covers" in r.error and "n10153414" in r.error
    r = resolve_term(CUP_CONTAINER, in1k)  # an explicit synset id with nothing below it in 1k
    assert r.chosen is None and "covers none of the model's 1000 classes" in r.error
    assert resolve_term("n00000001", in1k).chosen is None
    assert resolve_term(DOG.upper(), in1k).chosen.synset == DOG
    with pytest.raises(ConfigError) as e:
        build_labeler(in1k, "cat,catt,hombre")
    msg = str(e.value)
    assert "class 'catt'" in msg and "class 'hombre'" in msg and "class 'cat'" not in msg


def test_search_synsets_puts_exact_words_first_and_counts_coverage(in1k):
    from autolabel.vocabulary.resolve import search_synsets

    found = search_synsets("cat", in1k)
    assert found[0].id == CAT and found[0].sense == "cat.n.01" and found[0].covers > 0
    covering = search_synsets("cat", in1k, covering=True)
    assert covering and all(m.covers > 0 for m in covering) and len(covering) < len(found)
    assert found[0].to_dict()["names"][0] == "cat"


def test_a_singular_whose_senses_cover_nothing_is_read_as_its_plural(in1k):
    """ImageNet-1k's "ox" lies under "cattle, cows, kine, oxen"; "cow" (the female) covers
    nothing, so "cow" is read as "cows"."""
    r = resolve_term("cow", in1k)
    assert r.error is None and r.chosen.synset == "n02402425" and r.lemma == "cows"
    assert "'cow (cows)' -> sense 1 n02402425" in r.describe()
    c = compile_vocabulary(vocabulary_from_names("cow"), in1k)
    assert [in1k.names[i] for i in c.classes[0].indices] == ["ox"]
    assert resolve_term("cows", in1k).chosen.synset == "n02402425"
    # a word whose own senses cover a class keeps them
    assert resolve_term("cat", in1k).lemma == "cat" and resolve_term("mouse", in1k).lemma == "mouse"


def test_inflections_give_the_other_number_forms_that_are_lemmas():
    from autolabel.vocabulary.wordnet import get_wordnet

    wn = get_wordnet()
    assert wn.inflections("cow") == ("cows",)
    assert wn.inflections("cows") == ("cow",)
    assert "cat" in wn.inflections("cats")
    assert wn.inflections("") == () and wn.inflections("xqzv") == ()
    assert all(form in wn.words() for form in wn.inflections("box") + wn.inflections("ox"))
