"""Our detections as FiftyOne values and back, and the App's label schema (no database)."""

from __future__ import annotations

import pytest

from autolabel.review import fields
from autolabel.types import Detection
from tests.review.support import sample_records


def test_overlaps_counts_pairs_and_best_iou():
    dets = [
        Detection("a-0", (0, 0, 10, 10), "x", 0.5, 0.5),
        Detection("a-1", (0, 0, 10, 8), "x", 0.5, 0.5),  # IoU 0.8 with a-0
        Detection("a-2", (20, 20, 30, 30), "x", 0.5, 0.5),
    ]
    best, pairs = fields.overlaps(dets)
    assert pairs == 1
    assert best == pytest.approx([0.8, 0.8, 0.0])


def test_detection_fields_and_reviewed_box():
    rec = sample_records()[2]["detections"][0]
    det = Detection.from_dict({**rec, "reviewed": True})
    f = fields.detection_fields(det, 600, 400, 0.25)
    assert f["autolabel_id"] == "coffee-0" and f["confidence"] == 0.8 and f["objectness"] == 0.7
    assert f["topk"] == ["coffee mug", "cup"] and f["topk_scores"] == [0.8, 0.15]
    assert f["tags"] == ["ok"] and f["label_id"] == "n03063599" and f["max_iou"] == 0.25
    rb = fields.reviewed_box(f["label"], f["bounding_box"], ["ok"], "coffee-0", 600, 400, key="abc")
    assert rb.id == "coffee-0" and rb.tags == frozenset({"ok"}) and rb.key == "abc"
    assert rb.box == pytest.approx(det.box)
    assert fields.reviewed_box("x", None, [], None, 10, 10) is None
    assert fields.reviewed_box("", [0, 0, 0.5, 0.5], None, "", 10, 10).id is None


def test_label_schema_shape():
    s = fields.label_schema(["a", "b"])
    assert s["type"] == "detections" and s["component"] == "dropdown" and s["classes"] == ["a", "b"]
    attrs = {a["name"]: a for a in s["attributes"]}
    assert attrs["tags"]["values"] == ["ok", "reject"] and not attrs["tags"].get("read_only")
    for name in ("confidence", "objectness", "autolabel_id", "label_id", "topk", "topk_scores", "id"):
        assert attrs[name]["read_only"] is True
    assert fields.label_schema([])["component"] == "text"
