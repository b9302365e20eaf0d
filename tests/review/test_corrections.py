"""Applying a reviewer's corrections, independent of the review tool."""

from __future__ import annotations

import pytest

from autolabel.review.corrections import (
    COUNT_KEYS,
    ReviewedBox,
    box_moved,
    correct_image,
    correct_images,
    label_id_map,
    resolve_label_id,
)
from autolabel.types import Alternative, Detection, ImageAnnotations


def _det(n: int, box, label="tabby", **kw) -> Detection:
    topk = kw.pop("topk", (Alternative("tabby", "n02123045", 0.6), Alternative("tiger cat", "n02123159", 0.3)))
    return Detection(id=f"cat-{n}", box=box, label=label, score=0.6, objectness=0.4 + n / 10, label_id="n02123045", topk=topk, **kw)


@pytest.fixture
def base() -> ImageAnnotations:
    return ImageAnnotations(
        path="pets/cat.jpg",
        width=200,
        height=100,
        detections=(
            _det(0, (10, 10, 50, 50)),
            _det(1, (60, 10, 90, 40)),
            _det(2, (100, 20, 150, 80)),
            _det(3, (5, 60, 40, 95), reviewed=True),
        ),
    )


def _same(d: Detection, **kw) -> ReviewedBox:
    return ReviewedBox(id=d.id, box=d.box, label=d.label, **kw)


def test_untouched_review_keeps_everything_identical(base):
    r = correct_image(base, [_same(d) for d in base.detections])
    assert r.image == base
    assert r.counts == {"kept": 4, "relabeled": 0, "moved": 0, "rejected": 0, "added": 0, "reviewed": 1, "invalid": 0, "masks_dropped": 0}
    assert r.assigned == []


def test_reject_tag_and_deletion_both_remove(base):
    d0, d1, d2, d3 = base.detections
    r = correct_image(base, [_same(d0, tags=frozenset({"reject"})), _same(d2), _same(d3)])
    assert [d.id for d in r.image.detections] == ["cat-2", "cat-3"]
    assert r.counts["rejected"] == 2 and r.counts["kept"] == 2


def test_relabel_takes_synset_from_topk_and_marks_human(base):
    d0, d1, d2, d3 = base.detections
    base = ImageAnnotations(base.path, base.width, base.height, (d0.with_(class_score=0.4), d1, d2, d3))
    r = correct_image(base, [ReviewedBox("cat-0", d0.box, "tiger cat"), _same(d1), _same(d2), _same(d3)])
    got = r.image.detections[0]
    assert (got.label, got.label_id, got.source, got.score) == ("tiger cat", "n02123159", "human", 1.0)
    assert got.class_score is None  # the classifier's probability was for the old label
    assert got.box == d0.box and got.objectness == d0.objectness and got.topk == d0.topk
    assert r.counts["relabeled"] == 1 and r.counts["kept"] == 3 and r.counts["moved"] == 0


def test_relabel_label_id_from_map_then_label_itself(base):
    d0, d1, *_ = base.detections
    r = correct_image(base, [ReviewedBox("cat-0", d0.box, "dog"), ReviewedBox("cat-1", d1.box, "fox")], {"dog": "n02084071"})
    assert [(d.label, d.label_id) for d in r.image.detections] == [("dog", "n02084071"), ("fox", "fox")]


def test_move_threshold_is_half_a_pixel(base):
    d0, d1, d2, d3 = base.detections
    nudged = (d0.box[0] + 0.4, d0.box[1], d0.box[2] - 0.4, d0.box[3])
    moved = (d1.box[0] + 0.6, d1.box[1], d1.box[2], d1.box[3])
    r = correct_image(base, [ReviewedBox(d0.id, nudged, d0.label), ReviewedBox(d1.id, moved, d1.label), _same(d2), _same(d3)])
    a, b = r.image.detections[:2]
    assert a == d0  # exact original coordinates, still auto
    assert b.box == moved and b.source == "human" and b.score == d1.score and b.label == d1.label
    assert r.counts["moved"] == 1 and r.counts["kept"] == 3


def test_moved_box_is_clipped_to_image(base):
    d0 = base.detections[0]
    r = correct_image(base, [ReviewedBox(d0.id, (-5, -5, 30, 30), d0.label)])
    assert r.image.detections[0].box == (0.0, 0.0, 30.0, 30.0)


def test_relabeled_and_moved_counts_both(base):
    d0 = base.detections[0]
    r = correct_image(base, [ReviewedBox(d0.id, (0, 0, 20, 20), "dog")])
    assert r.counts["relabeled"] == 1 and r.counts["moved"] == 1 and r.counts["kept"] == 0 and r.counts["rejected"] == 3


def test_added_boxes_get_stable_ids_after_existing_h_numbers(base):
    keep = [_same(d) for d in base.detections]
    first = correct_image(base, keep + [ReviewedBox(None, (1, 1, 9, 9), "mouse", key="fo1")])
    added = first.image.detections[-1]
    assert added.id == "cat-h1" and added.source == "human" and added.score == 1.0 and added.objectness == 1.0
    assert first.assigned == [(4, "fo1", "cat-h1")]
    # second pull: the tool hands back the id it stored, and one more box is new
    second = correct_image(
        base,
        keep + [ReviewedBox("cat-h1", (1, 1, 9, 9), "mouse", key="fo1"), ReviewedBox(None, (2, 2, 8, 8), "mouse", key="fo2")],
    )
    assert [d.id for d in second.image.detections[-2:]] == ["cat-h1", "cat-h2"]
    assert second.assigned == [(5, "fo2", "cat-h2")]
    assert second.counts["added"] == 2


def test_duplicate_of_a_base_id_becomes_a_new_box(base):
    d0 = base.detections[0]
    r = correct_image(base, [_same(d0), ReviewedBox(d0.id, (0, 0, 5, 5), d0.label)])
    assert [d.id for d in r.image.detections] == ["cat-0", "cat-h1"]
    assert r.counts["added"] == 1


def test_ok_tag_sets_reviewed_and_base_flag_is_kept(base):
    d0, d1, d2, d3 = base.detections
    r = correct_image(base, [_same(d0, tags=frozenset({"ok"})), _same(d1), _same(d2), _same(d3)])
    flags = {d.id: d.reviewed for d in r.image.detections}
    assert flags == {"cat-0": True, "cat-1": False, "cat-2": False, "cat-3": True}
    assert r.counts["reviewed"] == 2 and r.counts["kept"] == 4
    assert r.image.detections[0].source == "auto"


def test_invalid_boxes_are_dropped_and_counted(base):
    d0 = base.detections[0]
    r = correct_image(
        base,
        [
            ReviewedBox(d0.id, (250, 10, 260, 20), d0.label),  # outside the image
            ReviewedBox(None, (1, 1, 9, 9), None),  # drawn without a label
            ReviewedBox(None, (1, 1, 9, 9), "x", tags=frozenset({"reject"})),  # drawn, then rejected
        ],
    )
    assert r.image.detections == ()
    assert r.counts["invalid"] == 2 and r.counts["added"] == 0 and r.counts["rejected"] == 4


def test_missing_label_on_base_box_keeps_old_label(base):
    d0 = base.detections[0]
    r = correct_image(base, [ReviewedBox(d0.id, d0.box, "")])
    assert r.image.detections[0] == d0


def test_correct_images_passes_unreviewed_through_and_sums(base):
    other = ImageAnnotations(path="a.jpg", width=10, height=10, detections=(Detection("a-0", (1, 1, 5, 5), "x", 0.5, 0.5),))
    d0 = base.detections[0]
    rc = correct_images(
        [base, other],
        {"pets/cat.jpg": [_same(d0), ReviewedBox(None, (1, 1, 9, 9), "mouse")], "gone.jpg": []},
    )
    assert [i.path for i in rc.images] == ["a.jpg", "pets/cat.jpg"]
    assert rc.images[0] is other
    s = rc.summary
    assert (s.kept, s.rejected, s.added) == (1, 3, 1)
    assert (s.images_reviewed, s.images_unreviewed, s.boxes_before, s.boxes_after) == (1, 1, 4, 2)
    assert rc.assigned == {"pets/cat.jpg": [(1, None, "cat-h1")]}
    assert list(s.to_dict())[:len(COUNT_KEYS)] == list(COUNT_KEYS)


def test_helpers(base):
    assert box_moved((0, 0, 10, 10), (0, 0, 10.5, 10)) is False
    assert box_moved((0, 0, 10, 10), (0, 0, 10.51, 10)) is True
    assert resolve_label_id("tabby", base.detections[0], {}) == "n02123045"
    assert label_id_map([base]) == {"tabby": "n02123045", "tiger cat": "n02123159"}
