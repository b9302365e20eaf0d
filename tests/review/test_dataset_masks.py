"""Masks in FiftyOne review: shown on the detections, following moved and deleted boxes into the
corrected revision, written back so the App shows what the revision holds (real ``mongod``)."""

from __future__ import annotations

import numpy as np
import pytest

from autolabel import masks
from autolabel.review import dataset as review
from autolabel.store import RunStore
from tests.review.support import make_run, sample_records, use_private_fiftyone


@pytest.fixture(scope="module")
def fo(tmp_path_factory):
    with use_private_fiftyone(tmp_path_factory.mktemp("fiftyone-masks")):
        import fiftyone

        yield fiftyone


def _ellipse(w: int, h: int, box) -> np.ndarray:
    """A filled ellipse whose bounds are exactly the pixel ``box``."""
    x1, y1, x2, y2 = (int(v) for v in box)
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy, rx, ry = (x1 + x2 - 1) / 2, (y1 + y2 - 1) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def _records_with_masks() -> list[dict]:
    recs = sample_records()
    for rec in recs:
        for d in rec["detections"]:
            if d["id"] == "coffee-1":
                continue  # a box without a mask beside boxes with one
            d["box"] = [float(round(v)) for v in d["box"]]
            d["mask"] = masks.encode(_ellipse(rec["width"], rec["height"], d["box"]))
            assert masks.rle_bbox(d["mask"]) == tuple(d["box"])
    return recs


@pytest.mark.slow
def test_masks_in_the_app_and_after_review(fo, tmp_path):
    recs = _records_with_masks()
    store = RunStore(make_run(tmp_path / "masks", recs))
    review.build_dataset(store)
    ds = fo.load_dataset("autolabel-masks")
    by_id = {d["autolabel_id"]: d for s in ds for d in s.predictions.detections}
    want = {d["id"]: d for r in recs for d in r["detections"]}
    for det_id, d in want.items():
        shown = by_id[det_id]
        if "mask" not in d:
            assert shown.mask is None
            continue
        x1, y1, x2, y2 = (int(v) for v in d["box"])
        # FiftyOne's mask is the box's part of the image mask
        assert shown.mask.shape == (y2 - y1, x2 - x1) and shown.mask.dtype == bool
        assert (shown.mask == masks.decode(d["mask"])[y1:y2, x1:x2]).all()

    # the reviewer shrinks coffee-0 to its left half, moves rocket-0 off its object, deletes chelsea-2
    coffee = ds.match({"autolabel_path": "coffee.jpg"}).first()
    for d in coffee.predictions.detections:
        if d["autolabel_id"] == "coffee-0":
            d.bounding_box = [150 / 600, 40 / 400, 150 / 600, 290 / 400]  # (150, 40, 300, 330)
    coffee.save()
    rocket = ds.match({"autolabel_path": "rocket.jpg"}).first()
    for d in rocket.predictions.detections:
        if d["autolabel_id"] == "rocket-0":
            d.bounding_box = [400 / 640, 10 / 427, 50 / 640, 50 / 427]  # nowhere near its ellipse
    rocket.save()
    chelsea = ds.match({"autolabel_path": "chelsea.jpg"}).first()
    chelsea.predictions.detections = [d for d in chelsea.predictions.detections if d["autolabel_id"] != "chelsea-2"]
    chelsea.save()

    res = review.pull(store)
    assert res.corrections.moved == 2 and res.corrections.masks_dropped == 1 and res.corrections.rejected == 1
    dets = {d.id: d for img in store.iter_images() for d in img.detections}
    original = {d.id: d for img in store.iter_images("original") for d in img.detections}
    assert "chelsea-2" not in dets
    assert dets["chelsea-0"].mask == original["chelsea-0"].mask  # untouched boxes keep theirs exactly
    assert dets["coffee-1"].mask is None
    c0 = masks.decode(dets["coffee-0"].mask)
    old = masks.decode(original["coffee-0"].mask)
    assert (c0 == masks.clip_to_box(old, (150, 40, 300, 330))).all() and c0.any() and not c0[:, 300:].any()
    assert dets["coffee-0"].box == pytest.approx((150, 40, 300, 330))
    assert dets["rocket-0"].mask is None and dets["rocket-0"].box == pytest.approx((400, 10, 450, 60))

    # the App now shows the revision's masks on the moved boxes
    ds.reload()
    shown = {d["autolabel_id"]: d for s in ds for d in s.predictions.detections}
    assert shown["rocket-0"].mask is None
    assert shown["coffee-0"].mask.shape == (290, 150) and (shown["coffee-0"].mask == c0[40:330, 150:300]).all()
    # a second pull (the masks now written back) changes nothing: no new revision
    again = review.pull(store)
    assert again.revision is None and again.corrections.masks_dropped == 1
