"""Records validate themselves and round-trip through dicts."""

from __future__ import annotations

import pytest

from autolabel.errors import RecordError
from autolabel.geometry import clip_box
from autolabel.types import Alternative, Detection, ImageAnnotations, RunInfo


def det(**kw) -> Detection:
    base = dict(id="a-0", box=(1, 2, 30, 40), label="tabby", score=0.5, objectness=0.7, label_id="n02123045",
                topk=(Alternative("tabby", "n02123045", 0.5),))
    base.update(kw)
    return Detection(**base)


def test_roundtrip() -> None:
    img = ImageAnnotations("cam1/a.jpg", 100, 50, (det(),))
    assert ImageAnnotations.from_dict(img.to_dict()) == img
    assert img.detections[0].box == (1.0, 2.0, 30.0, 40.0)


@pytest.mark.parametrize("kw, msg", [
    ({"box": (10, 0, 5, 5)}, "x2 > x1"),
    ({"box": (0, 0, 5)}, r"\(x1, y1, x2, y2\)"),
    ({"score": 1.5}, r"score must be in \[0, 1\]"),
    ({"objectness": "high"}, "objectness must be a number"),
    ({"label": ""}, "label must be"),
    ({"source": "robot"}, "source must be one of"),
    ({"id": ""}, "id must be"),
])
def test_detection_rejects_bad_values(kw, msg) -> None:
    with pytest.raises(RecordError, match=msg):
        det(**kw)


def test_image_rejects_boxes_outside_and_duplicate_ids() -> None:
    with pytest.raises(RecordError, match="leaves the 20x20 image"):
        ImageAnnotations("a.jpg", 20, 20, (det(box=(0, 0, 21, 5)),))
    with pytest.raises(RecordError, match="not unique"):
        ImageAnnotations("a.jpg", 100, 100, (det(), det()))
    with pytest.raises(RecordError, match="relative"):
        ImageAnnotations("/abs/a.jpg", 10, 10)
    with pytest.raises(RecordError, match="positive int"):
        ImageAnnotations("a.jpg", 0, 10)


def test_clip_box() -> None:
    assert clip_box((-5, -1, 120, 30), 100, 20) == (0.0, 0.0, 100.0, 20.0)


def test_runinfo_class_ids() -> None:
    info = RunInfo("r", ".", ".", ("cat", "salt & pepper, shaker"))
    assert info.class_id("salt & pepper, shaker") == 1
    with pytest.raises(RecordError):
        info.class_id("dog")
    with pytest.raises(RecordError, match="unique"):
        RunInfo("r", ".", ".", ("cat", "cat"))
