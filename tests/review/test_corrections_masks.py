"""What happens to a detection's mask when a reviewer keeps, relabels, moves, resizes or deletes its box."""

from __future__ import annotations

import numpy as np

from autolabel import masks
from autolabel.review.corrections import ReviewedBox, correct_image, correct_images
from autolabel.types import Detection, ImageAnnotations

W, H = 60, 40


def _mask(x1, y1, x2, y2):
    m = np.zeros((H, W), bool)
    m[y1:y2, x1:x2] = True
    m[y1, x1] = False  # not a plain rectangle
    return masks.encode(m)


def _base() -> ImageAnnotations:
    dets = (
        Detection(id="a-0", box=(10, 5, 30, 25), label="cat", score=0.8, objectness=0.5, mask=_mask(10, 5, 30, 25)),
        Detection(id="a-1", box=(35, 10, 55, 30), label="dog", score=0.7, objectness=0.5, mask=_mask(35, 10, 55, 30)),
        Detection(id="a-2", box=(0, 30, 20, 40), label="cup", score=0.6, objectness=0.5, mask=_mask(0, 30, 20, 40)),
        Detection(id="a-3", box=(40, 0, 50, 8), label="pen", score=0.6, objectness=0.5),  # an older run: no mask
    )
    return ImageAnnotations("a.jpg", W, H, dets)


def _same(d: Detection, **kw) -> ReviewedBox:
    return ReviewedBox(id=d.id, box=kw.pop("box", d.box), label=kw.pop("label", d.label), **kw)


def test_kept_and_relabeled_boxes_keep_their_masks_exactly():
    base = _base()
    a0, a1, a2, a3 = base.detections
    r = correct_image(base, [_same(a0), _same(a1, label="wolf"), _same(a2), _same(a3)])
    got = {d.id: d for d in r.image.detections}
    assert got["a-0"].mask == a0.mask and got["a-1"].mask == a1.mask and got["a-1"].label == "wolf"
    assert got["a-3"].mask is None


def test_shrunk_box_clips_its_mask_and_a_moved_away_box_drops_it():
    base = _base()
    a0, a1, a2, a3 = base.detections
    shrunk = (10, 5, 20, 15)          # the left-top quarter of a-0
    away = (0, 0, 8, 4)               # nowhere near a-1's pixels
    grown = (30, 5, 60, 35)           # a-1 enlarged: its mask stays what it was
    r = correct_image(base, [_same(a0, box=shrunk), _same(a1, box=away), _same(a2, box=(0, 30, 20, 40)), _same(a3, box=(40, 0, 52, 9))])
    got = {d.id: d for d in r.image.detections}
    m0 = masks.decode(got["a-0"].mask)
    assert m0.sum() == 10 * 10 - 1 and masks.bbox(m0) == (10.0, 5.0, 20.0, 15.0)
    assert not m0[:, 20:].any() and not m0[15:].any()
    assert got["a-0"].box == shrunk and got["a-0"].source == "human"
    assert got["a-1"].box == away and got["a-1"].mask is None
    assert got["a-3"].mask is None  # nothing to clip
    assert r.counts["moved"] == 3 and r.counts["masks_dropped"] == 1
    r = correct_image(base, [_same(a1, box=grown)])
    (d,) = r.image.detections
    assert d.box == grown and d.mask == a1.mask and r.counts["masks_dropped"] == 0


def test_deleted_box_takes_its_mask_and_drawn_boxes_have_none():
    base = _base()
    a0, a1, a2, a3 = base.detections
    r = correct_image(base, [_same(a0, tags=frozenset({"reject"})), _same(a2), ReviewedBox(None, (1, 1, 9, 9), "cup")])
    assert [(d.id, d.mask is not None) for d in r.image.detections] == [("a-2", True), ("a-h1", False)]
    assert all(d.mask != a0.mask for d in r.image.detections)


def test_a_mask_handed_back_by_the_tool_replaces_the_old_one():
    base = _base()
    a0 = base.detections[0]
    new = _mask(12, 6, 28, 20)
    r = correct_image(base, [_same(a0, box=(12, 6, 28, 20), mask=new), ReviewedBox(None, (1, 1, 9, 9), "cup", mask=_mask(1, 1, 9, 9))])
    d0, drawn = r.image.detections
    assert d0.mask == new and drawn.mask == _mask(1, 1, 9, 9)
    bad = {"size": [10, 10], "counts": "0"}  # another image's size: ignored, the old mask is clipped
    r = correct_image(base, [_same(a0, box=(10, 5, 20, 15), mask=bad)])
    assert masks.rle_bbox(r.image.detections[0].mask) == (10.0, 5.0, 20.0, 15.0)


def test_run_summary_counts_dropped_masks():
    base = _base()
    a1 = base.detections[1]
    rc = correct_images([base], {"a.jpg": [_same(a1, box=(0, 0, 8, 4))]})
    assert rc.summary.masks_dropped == 1 and rc.summary.to_dict()["masks_dropped"] == 1
