"""COCO RLE masks written in numpy, checked against pycocotools (the reader every COCO tool uses)."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from autolabel import masks
from autolabel.errors import RecordError
from autolabel.types import Detection, ImageAnnotations


def _random_masks():
    rng = np.random.default_rng(0)
    yield np.zeros((5, 7), bool)
    yield np.ones((4, 3), bool)
    m = np.zeros((40, 60), bool)
    m[5:20, 10:50] = True
    m[25:38, 2:9] = True
    yield m
    for _ in range(30):
        h, w = rng.integers(1, 50, size=2)
        yield rng.random((h, w)) < rng.random()


@pytest.mark.parametrize("m", list(_random_masks()))
def test_encode_matches_pycocotools_and_round_trips(m):
    ours = masks.encode(m)
    theirs = coco_mask.encode(np.asfortranarray(m.astype(np.uint8)))
    assert ours["size"] == list(theirs["size"])
    assert ours["counts"] == theirs["counts"].decode("ascii")
    assert (masks.decode(ours) == m).all()
    assert (coco_mask.decode({"size": ours["size"], "counts": ours["counts"].encode()}) == m).all()
    assert masks.area(ours) == int(m.sum()) == int(coco_mask.area(theirs))
    assert masks.check_rle(ours) == ours


def test_bbox_is_exclusive_pixel_bounds():
    m = np.zeros((10, 20), bool)
    m[2:5, 3:9] = True
    assert masks.bbox(m) == (3.0, 2.0, 9.0, 5.0)
    assert masks.bbox(np.zeros((3, 3), bool)) is None
    assert masks.rle_bbox(masks.encode(m)) == (3.0, 2.0, 9.0, 5.0)


def test_clip_and_iou():
    m = np.ones((10, 10), bool)
    c = masks.clip_to_box(m, (2.5, 0, 5, 3))
    assert c.sum() == 3 * 3 and c[0, 2] and not c[0, 5]
    assert masks.mask_iou(m, c) == pytest.approx(9 / 100)
    assert masks.mask_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 0.0


@pytest.mark.parametrize("bad", [
    {"size": [2], "counts": "0"}, {"size": [2, 2], "counts": [1, 2]}, {"size": [2, 2], "counts": "3"},
    {"size": [0, 2], "counts": ""}, "rle", {"size": [2, 2], "counts": "\x7f"},
])
def test_bad_rle_is_a_record_error(bad):
    with pytest.raises(RecordError):
        masks.check_rle(bad)


def test_detection_carries_a_mask_through_its_json_form():
    m = np.zeros((30, 40), bool)
    m[5:10, 6:20] = True
    rle = masks.encode(m)
    d = Detection("a-0", masks.bbox(m), "cat", 0.9, 0.8, mask=rle)
    back = Detection.from_dict(d.to_dict())
    assert back.mask == rle and (masks.decode(back.mask) == m).all()
    assert "mask" not in Detection("a-1", (0, 0, 1, 1), "cat", 0.9, 0.8).to_dict()
    ImageAnnotations("a.jpg", 40, 30, (d,))
    with pytest.raises(RecordError, match="mask"):
        ImageAnnotations("a.jpg", 30, 40, (Detection("a-0", (0, 0, 5, 5), "cat", 0.9, 0.8, mask=rle),))
    with pytest.raises(RecordError, match="mask"):
        Detection("a-0", (0, 0, 5, 5), "cat", 0.9, 0.8, mask={"size": [3], "counts": ""})


def test_decoding_checks_counts_against_the_size():
    """Counts are decoded (vectorised) and must cover the mask exactly; a shape, when given, is
    checked before the counts are read."""
    ours = masks.encode(np.ones((4, 3), bool))
    with pytest.raises(RecordError, match=r"m: size is \[4, 3\] \(h, w\), the image is \[3, 4\]"):
        masks.check_rle(ours, "m", shape=(3, 4))
    short = coco_mask.frPyObjects({"size": [4, 3], "counts": [2, 3]}, 4, 3)["counts"].decode()
    with pytest.raises(RecordError, match="counts cover 5 pixels, the 4x3 mask has 12"):
        masks.check_rle({"size": [4, 3], "counts": short})
    with pytest.raises(RecordError, match="counts cover 5 pixels"):
        masks.decode({"size": [4, 3], "counts": short})
    with pytest.raises(RecordError, match="hold a run of 8 5-bit groups"):
        masks.check_rle({"size": [4, 3], "counts": "o" * 7 + "0"})
    with pytest.raises(RecordError, match="'!' at 1"):
        masks.check_rle({"size": [4, 3], "counts": "0!"})
    with pytest.raises(RecordError, match="'é' at 0"):
        masks.check_rle({"size": [4, 3], "counts": "é"})


def test_uncompressed_counts_are_checked_then_compressed():
    assert masks.from_runs({"size": [4, 3], "counts": [0, 12]}) == masks.encode(np.ones((4, 3), bool))
    theirs = coco_mask.frPyObjects({"size": [4, 3], "counts": [5, 2, 5]}, 4, 3)
    assert masks.from_runs({"size": [4, 3], "counts": [5, 2, 5]}) == {"size": [4, 3], "counts": theirs["counts"].decode()}
    for bad, msg in (([5, 2], "counts cover 7 pixels"), ([-1, 13], "a run of -1 pixels"), ([2**32, 0], "a run of 4294967296"),
                     ([10**400], "a run of 1e400[+] pixels"), ([True, 11], "whole numbers"), ("12", "whole numbers"),
                     ([1.0, 11], "whole numbers")):
        with pytest.raises(RecordError, match=msg):
            masks.from_runs({"size": [4, 3], "counts": bad})
    with pytest.raises(RecordError, match=r"size is \[100000, 100000\] \(h, w\), the image is \[4, 3\]"):
        masks.from_runs({"size": [100000, 100000], "counts": [10**10]}, shape=(4, 3))
