"""Records -> Label Studio predictions: percent coordinates, one region type per control."""

from __future__ import annotations

import numpy as np
import pytest

from autolabel.integrations.labelstudio.brush import decode_rle
from autolabel.integrations.labelstudio.labeling import parse_labeling_config
from autolabel.integrations.labelstudio.regions import prediction
from autolabel.types import Detection, ImageAnnotations
from tests.integrations.labelstudio.support import BRUSH_CONFIG, POLY_CONFIG, RECT_CONFIG, mask_rle

W, H = 200, 100


def record(with_mask: bool = True) -> ImageAnnotations:
    m = mask_rle(W, H, (20, 10, 120, 60)) if with_mask else None
    cat = Detection("img-0", (20.0, 10.0, 120.0, 60.0), "cat", 0.8, 0.7, mask=m)
    cup = Detection("img-1", (150.0, 50.0, 200.0, 100.0), "cup", 0.4, 0.6)
    dog = Detection("img-2", (0.0, 0.0, 5.0, 5.0), "dog", 0.99, 0.9)  # not in the config
    return ImageAnnotations("img.jpg", W, H, (cat, cup, dog))


def test_rectangles_in_percent_of_the_image():
    p = prediction(record(), parse_labeling_config(RECT_CONFIG), "v1")
    assert p["model_version"] == "v1"
    assert p["score"] == pytest.approx(0.4)  # the lowest region score
    cat, cup = p["result"]  # dog: not a label of the config
    assert cat["type"] == "rectanglelabels" and (cat["from_name"], cat["to_name"]) == ("box", "img")
    assert cat["value"]["rectanglelabels"] == ["cat"] and cat["score"] == 0.8
    v = cat["value"]
    assert (v["x"], v["y"], v["width"], v["height"]) == pytest.approx((10.0, 10.0, 50.0, 50.0))
    assert (cat["original_width"], cat["original_height"]) == (W, H)
    assert cup["value"]["x"] + cup["value"]["width"] <= 100.0
    assert len({r["id"] for r in p["result"]}) == 2


def test_polygons_from_masks_and_from_boxes():
    p = prediction(record(), parse_labeling_config(POLY_CONFIG), "v1")
    cat, cup = p["result"]
    assert cat["type"] == "polygonlabels" and cat["from_name"] == "poly" and cat["value"]["polygonlabels"] == ["cat"]
    xs = [pt[0] for pt in cat["value"]["points"]]
    ys = [pt[1] for pt in cat["value"]["points"]]
    assert (min(xs), max(xs), min(ys), max(ys)) == pytest.approx((10.0, 60.0, 10.0, 60.0), abs=0.6)
    # no mask: the box's corners
    assert np.allclose(cup["value"]["points"], [[75.0, 50.0], [100.0, 50.0], [100.0, 100.0], [75.0, 100.0]])
    assert all(0 <= c <= 100 for r in p["result"] for pt in r["value"]["points"] for c in pt)


def test_brush_regions_carry_the_mask_in_label_studio_rle():
    p = prediction(record(), parse_labeling_config(BRUSH_CONFIG), "v1")
    cat, cup = p["result"]
    assert cat["type"] == "brushlabels" and cat["value"]["format"] == "rle" and cat["value"]["brushlabels"] == ["cat"]
    got = decode_rle(cat["value"]["rle"]).reshape(H, W, 4)
    want = np.zeros((H, W), bool)
    want[10:60, 20:120] = True
    assert np.array_equal(got[..., 3] == 255, want)
    got_cup = decode_rle(cup["value"]["rle"]).reshape(H, W, 4)[..., 3] == 255  # box filled
    assert got_cup.sum() == 50 * 50 and got_cup[50:100, 150:200].all()


def test_one_detection_in_several_controls_gets_distinct_ids():
    xml = RECT_CONFIG.replace("</View>", '<PolygonLabels name="poly" toName="img"><Label value="cat"/></PolygonLabels></View>')
    p = prediction(record(), parse_labeling_config(xml), "v1")
    kinds = [(r["type"], r["value"].get("rectanglelabels") or r["value"].get("polygonlabels")) for r in p["result"]]
    assert kinds == [("rectanglelabels", ["cat"]), ("polygonlabels", ["cat"]), ("rectanglelabels", ["cup"])]
    ids = [r["id"] for r in p["result"]]
    assert len(set(ids)) == len(ids) and ids[1] == ids[0] + "_c2"


def test_no_record_is_an_empty_prediction():
    assert prediction(None, parse_labeling_config(RECT_CONFIG), "v1") == {"result": [], "score": 0.0, "model_version": "v1"}
