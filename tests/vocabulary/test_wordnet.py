"""The shipped WordNet 3.0 subset: hierarchy facts, word index, and regeneration."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from pathlib import Path

import pytest
from timm.data import ImageNetInfo

from autolabel.vocabulary.wordnet import (
    DATA_FILE,
    ROOT,
    get_wordnet,
    is_wnid,
    normalize_word,
)

REPO = Path(__file__).resolve().parents[2]
WORDNET_DIR = Path("/usr/share/wordnet")

DOG = "n02084071"
APPLE = "n07739125"
GRANNY_SMITH = "n07742313"
DOMESTIC_CAT = "n02121808"
CAT = "n02121620"
BIG_CAT = "n02127808"
TABBY = "n02123045"
ANIMAL = "n00015388"
CUP_CONTAINER = "n03147509"
CUP_IMAGENET = "n07930864"
ROCKET = "n04099429"
MISSILE = "n03773504"


@pytest.fixture(scope="module")
def wn():
    return get_wordnet()


def test_every_imagenet_synset_is_in_the_hierarchy_and_reaches_the_root(wn):
    for subset in ("imagenet-1k", "imagenet-12k", "imagenet-22k", "imagenet-21k-goog", "imagenet-22k-ms"):
        for wnid in ImageNetInfo(subset).label_names():
            assert wnid in wn, (subset, wnid)
    for wnid in wn.ids():
        assert is_wnid(wnid)
        assert all(p in wn for p in wn.synset(wnid).parents), wnid  # closed under hypernyms
        assert wnid == ROOT or ROOT in wn.ancestors(wnid), wnid
    assert wn.synset(ROOT).parents == ()
    assert wn.depth(ROOT) == 0


def test_every_dog_breed_of_imagenet_1k_is_under_dog(wn):
    synsets = ImageNetInfo("imagenet-1k").label_names()
    under_dog = {i for i, s in enumerate(synsets) if DOG in wn.ancestors(s)}
    # ImageNet-1k's dogs are the contiguous block of classes 151 (Chihuahua) .. 268 (Mexican hairless)
    assert under_dog == set(range(151, 269))
    assert wn.synset(synsets[151]).name == "Chihuahua"
    assert wn.synset(synsets[268]).name == "Mexican hairless"


def test_known_ancestors(wn):
    assert APPLE in wn.ancestors(GRANNY_SMITH)
    assert wn.synset(GRANNY_SMITH).name == "Granny Smith"
    tabby = wn.ancestors(TABBY)
    assert {DOMESTIC_CAT, CAT, ANIMAL, ROOT} <= tabby
    assert BIG_CAT not in tabby and DOG not in tabby
    assert ROCKET in wn.ancestors(MISSILE)
    assert wn.hypernym_distances(TABBY)[DOMESTIC_CAT] == 1
    assert wn.hypernym_distances(TABBY)[CAT] == 2
    assert wn.depth(TABBY) == wn.depth(DOMESTIC_CAT) + 1
    assert TABBY in wn.descendants(CAT) and CAT in wn.descendants(CAT)
    assert TABBY in wn.children(DOMESTIC_CAT)


def test_word_senses_follow_wordnet_order(wn):
    cup = wn.senses("cup")
    assert [s for s, _ in cup][:1] == [CUP_CONTAINER]
    assert dict(cup)[CUP_CONTAINER] == 1 and dict(cup)[CUP_IMAGENET] == 6
    assert [n for _, n in cup] == sorted(n for _, n in cup)
    cat = dict(wn.senses("cat"))
    assert cat[CAT] == 1 and cat[BIG_CAT] == 7
    assert wn.synset(BIG_CAT).sense_name(1) == "cat.n.07"
    assert wn.senses("Granny_Smith") == wn.senses("granny  smith") == ((GRANNY_SMITH, 1),)
    assert wn.senses("no such word") == ()


def test_lookup_reads_plurals(wn):
    assert wn.lookup("cats") == ("cat", wn.senses("cat"))
    assert wn.lookup("mice")[0] == "mouse"  # irregular plural from noun.exc
    assert wn.lookup("boxes")[0] == "box"
    assert wn.lookup("puppies")[0] == "puppy"
    assert wn.lookup("zzzz") == ("zzzz", ())


def test_search_ranks_exact_matches_first(wn):
    hits = wn.search("cat")
    assert hits[0] == CAT
    exact = [h for h in hits if "cat" in [normalize_word(w) for w in wn.synset(h).lemmas]]
    assert hits[: len(exact)] == exact  # all exact matches before partial ones
    assert BIG_CAT in exact
    assert "n02124075" in hits  # Egyptian cat (a partial match)
    assert wn.search(TABBY) == [TABBY]
    assert wn.search("n99999999") == [] and wn.search("   ") == []


def test_coverage_counts_model_classes_below_each_synset(wn):
    synsets = ImageNetInfo("imagenet-1k").label_names()
    cov = wn.coverage(synsets)
    assert len(cov[ROOT]) == 1000
    assert len(cov[DOG]) == 118
    assert len(cov[CAT]) == 7 and len(cov[BIG_CAT]) == 6
    assert CUP_CONTAINER not in cov
    assert [synsets[i] for i in cov[ROCKET]] == [MISSILE]
    assert cov[TABBY] == (synsets.index(TABBY),)


def test_data_file_and_licence_ship_in_the_package():
    data = REPO / "autolabel" / "data"
    assert (data / DATA_FILE).stat().st_size < 3_000_000
    licence = (data / "WORDNET_LICENSE").read_text()
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in licence


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_wordnet_hierarchy", REPO / "scripts" / "build_wordnet_hierarchy.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_shipped_file_matches_what_the_script_regenerates(tmp_path):
    if not (WORDNET_DIR / "data.noun").is_file():
        why = "WordNet 3.0 database not installed (apt-get install wordnet-base puts it in /usr/share/wordnet)"
        if os.environ.get("CI"):
            pytest.fail(why)  # CI installs it: a missing database there is a broken setup
        pytest.skip(why)
    builder = _load_builder()
    content = builder.build(WORDNET_DIR)
    with gzip.open(REPO / "autolabel" / "data" / DATA_FILE, "rt", encoding="utf-8") as f:
        shipped = json.load(f)
    assert shipped == json.loads(json.dumps(content))
    # the script's own --check agrees, and what it writes is byte-identical when rerun
    assert builder.main(["--wordnet-dir", str(WORDNET_DIR), "--check"]) == 0
    out = tmp_path / "again.json.gz"
    assert builder.main(["--wordnet-dir", str(WORDNET_DIR), "-o", str(out)]) == 0
    assert out.read_bytes() == builder.encode(content)
    assert content["not_in_wordnet"] == []


def test_script_parses_wordnet_database_lines(tmp_path):
    """The reader on a hand-written two-synset WordNet database in wndb(5) layout."""
    builder = _load_builder()
    (tmp_path / "data.noun").write_text(
        "  1 licence header line\n"
        "00001740 03 n 01 entity 0 001 ~ 00002000 n 0000 | that which exists  \n"
        "00002000 05 n 02 Big_Cat 0 cat 1 002 @ 00001740 n 0000 @i 00001740 n 0000 | a large cat; \"a lion\"  \n"
    )
    (tmp_path / "index.noun").write_text(
        "  1 licence header line\n"
        "entity n 1 1 ~ 1 0 00001740  \n"
        "big_cat n 1 1 @ 1 0 00002000  \n"
        "cat n 2 1 @ 2 0 00009999 00002000  \n"
    )
    data = builder.read_data_noun(tmp_path / "data.noun")
    assert data["n00002000"] == {"words": ["Big Cat", "cat"], "parents": ["n00001740", "n00001740"], "gloss": "a large cat"}
    assert data["n00001740"]["parents"] == []
    index = builder.read_index_noun(tmp_path / "index.noun")
    assert index["cat"] == ["n00009999", "n00002000"] and index["big cat"] == ["n00002000"]
