"""Label Studio facts: URLs both ways, region ids, percent boxes both ways, tasks and config."""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autolabel.formats.labelstudio import (
    DATA_KEY,
    FROM_NAME,
    LOCAL_FILES_ENDPOINT,
    LOCAL_FILES_URL_PREFIX,
    TO_NAME,
    clean_region_id,
    default_url_prefix,
    image_url,
    ls_config,
    ls_task,
    percent_box,
    percent_to_box,
    region_id,
    url_to_relpath,
)
from autolabel.types import Detection, ImageAnnotations

# -- URLs ------------------------------------------------------------------------------------


def test_the_two_local_files_names_say_what_they_are():
    assert LOCAL_FILES_ENDPOINT == "/data/local-files/"  # where Label Studio serves local files
    assert LOCAL_FILES_URL_PREFIX == "/data/local-files/?d="  # what an image URL starts with
    assert image_url("a.jpg").startswith(LOCAL_FILES_ENDPOINT)


@pytest.mark.parametrize("rel, prefix, url", [
    ("cam1/0001.jpg", LOCAL_FILES_URL_PREFIX, "/data/local-files/?d=cam1/0001.jpg"),
    ("img 003.jpg", LOCAL_FILES_URL_PREFIX, "/data/local-files/?d=img%20003.jpg"),
    ("ünïcode ß/fötö 1+2.jpg", LOCAL_FILES_URL_PREFIX, "/data/local-files/?d=%C3%BCn%C3%AFcode%20%C3%9F/f%C3%B6t%C3%B6%201%2B2.jpg"),
    ("a&b#c?.jpg", "https://example.org/imgs/", "https://example.org/imgs/a%26b%23c%3F.jpg"),
])
def test_image_url(rel, prefix, url):
    assert image_url(rel, prefix) == url


@pytest.mark.parametrize("root, prefix", [
    (Path("/data/images"), "/data/local-files/?d=images/"),
    (Path("/srv/my photos"), "/data/local-files/?d=my%20photos/"),
    (Path("/"), "/data/local-files/?d="),
])
def test_default_url_prefix_names_the_image_folder(root, prefix):
    assert default_url_prefix(root) == prefix


@pytest.mark.parametrize("rel", ["cam1/0001.jpg", "img 003.jpg", "ünïcode ß/fötö 1+2.jpg", "a&b#c?.jpg", "50%.png"])
def test_url_to_relpath_reads_back_what_image_url_wrote(rel):
    assert url_to_relpath(image_url(rel, default_url_prefix(Path("/data/images")))) == "images/" + rel
    assert url_to_relpath(image_url(rel, "https://files.example/run/")) == "run/" + rel


@pytest.mark.parametrize(
    "url, rel",
    [
        ("/data/local-files/?d=images/cam1/0001.jpg", "images/cam1/0001.jpg"),
        ("/data/local-files/?d=dir%20with%20space/a%2Bb.jpg", "dir with space/a+b.jpg"),
        ("/data/local-files/?d=dir+with+space/a%2Bb.jpg", "dir with space/a+b.jpg"),  # '+' is a space in d=
        ("http://127.0.0.1:8080/data/local-files/?d=x/y.jpg", "x/y.jpg"),
        ("https://bucket.example.com/data/cam1/0001.jpg?X-Amz-Signature=abc", "data/cam1/0001.jpg"),
        ("s3://bucket/cam1/0001.jpg", "cam1/0001.jpg"),
        ("/data/upload/3/1a2b3c4d-0001.jpg", "data/upload/3/1a2b3c4d-0001.jpg"),
        ("cam1\\0001.jpg", "cam1/0001.jpg"),
    ],
)
def test_url_to_relpath(url, rel):
    assert url_to_relpath(url) == rel


# -- boxes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("box, w, h, pct", [
    ((0.0, 0.0, 320.0, 240.0), 320, 240, {"x": 0.0, "y": 0.0, "width": 100.0, "height": 100.0}),
    ((80.0, 60.0, 160.0, 240.0), 320, 240, {"x": 25.0, "y": 25.0, "width": 25.0, "height": 75.0}),  # top-left, not centre
    ((10.3, 12.7, 64.0, 48.0), 64, 48, {"x": 16.09375, "y": 26.458333, "width": 83.90625, "height": 73.541667}),
])
def test_percent_box(box, w, h, pct):
    got = percent_box(box, w, h)
    assert got == pytest.approx(pct, abs=1e-6)
    assert got["x"] + got["width"] <= 100.0 and got["y"] + got["height"] <= 100.0


def test_percent_box_clips_to_the_image():
    got = percent_box((-10.0, -5.0, 700.0, 100.0), 640, 480)
    assert got["x"] == 0.0 and got["y"] == 0.0
    assert got["width"] == 100.0 and got["height"] == pytest.approx(100 * 100 / 480)
    edge = percent_box((0.1, 0.1, 333.0, 101.0), 333, 101)  # x + width must not pass 100 by an ulp
    assert edge["x"] + edge["width"] <= 100.0 and edge["y"] + edge["height"] <= 100.0


def test_percent_to_box_inverts_the_export_formula():
    box = (12.5, 7.25, 333.3, 479.0)
    got, rotated = percent_to_box(percent_box(box, 640, 480), 640, 480)
    assert not rotated
    assert got == pytest.approx(box, abs=1e-9)


def test_percent_to_box_uses_the_given_size_not_original_width():
    value = percent_box((10.0, 10.0, 20.0, 20.0), 640, 480)
    got, _ = percent_to_box(value, 1280, 960)  # the run's displayed size wins
    assert got == pytest.approx((20.0, 20.0, 40.0, 40.0))


def test_rotated_box_becomes_its_axis_aligned_hull():
    # 100x50 px box at (200, 100) turned 90 degrees clockwise about its top-left corner
    value = {"x": 200 / 6.4, "y": 100 / 4.8, "width": 100 / 6.4, "height": 50 / 4.8, "rotation": 90}
    got, rotated = percent_to_box(value, 640, 480)
    assert rotated
    assert got == pytest.approx((150.0, 100.0, 200.0, 200.0), abs=1e-9)
    value["rotation"] = 360
    assert percent_to_box(value, 640, 480)[1] is False


@pytest.mark.parametrize("bad", [{"x": 1, "y": 2, "width": 3}, {"x": "a", "y": 2, "width": 3, "height": 4}, {"x": math.nan, "y": 0, "width": 1, "height": 1}])
def test_percent_to_box_rejects_incomplete_values(bad):
    with pytest.raises(ValueError):
        percent_to_box(bad, 10, 10)


# -- region ids, tasks, config -----------------------------------------------------------------


@pytest.mark.parametrize("det_id, rid", [
    ("0001-3", "0001-3"),
    ("img 003-0", "img_003-0-" + hashlib.sha1(b"img 003-0").hexdigest()[:8]),
])
def test_region_id(det_id, rid):
    assert region_id(det_id) == rid


def test_region_ids_stay_unique():
    # "a b-0" and "a_b-0" both sanitise to "a_b-0"; the hash keeps them apart.
    dets = (Detection(id="a b-0", box=(0, 0, 5, 5), label="x", score=0.5, objectness=0.5),
            Detection(id="a_b-0", box=(1, 1, 5, 5), label="x", score=0.25, objectness=0.5))
    task = ls_task(ImageAnnotations("a.jpg", 10, 10, dets), "/u", "m1")
    ids = [r["id"] for r in task["predictions"][0]["result"]]
    assert len(set(ids)) == 2
    assert task["predictions"][0]["score"] == 0.25 and task["predictions"][0]["model_version"] == "m1"


def test_ls_config_escapes_labels():
    cfg = ls_config(["salt & pepper, shaker", "jack-o'-lantern"])
    assert 'value="salt &amp; pepper, shaker"' in cfg
    root = ET.fromstring(cfg)
    assert [lab.get("value") for lab in root.iter("Label")] == ["salt & pepper, shaker", "jack-o'-lantern"]
    assert root.find("Image").get("value") == "$image"


@pytest.mark.parametrize("det_id", ["0001-0", "img_003-12", "img 003-0", "cam#1-0", "é-1", "a/b-2", "x" * 80, "-", "0001-0#3"])
def test_region_id_is_safe_and_stable(det_id):
    rid = region_id(det_id)
    assert rid == region_id(det_id)
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in rid), rid
    assert clean_region_id(rid) == rid  # nothing Label Studio would rewrite


def test_task_regions_use_the_shared_names():
    image = ImageAnnotations("cam1/0001.jpg", 640, 480, (Detection(id="cam#1-0", box=(64.0, 48.0, 320.0, 240.0),
                                                                    label="person", score=0.5, objectness=0.5),))
    task = ls_task(image, image_url(image.path), "m1")
    (r,) = task["predictions"][0]["result"]
    assert task["data"] == {DATA_KEY: LOCAL_FILES_URL_PREFIX + "cam1/0001.jpg", "path": "cam1/0001.jpg"}
    assert (r["id"], r["from_name"], r["to_name"]) == (region_id("cam#1-0"), FROM_NAME, TO_NAME)
    assert percent_to_box(r["value"], 640, 480) == ((64.0, 48.0, 320.0, 240.0), False)


def test_clean_region_id_drops_the_suffix_label_studio_rewrites():
    assert clean_region_id("0001-0#3") == "0001-0"
    assert clean_region_id("0001-0") == "0001-0"
    assert clean_region_id(None) is None


def test_region_id_keeps_safe_ids_and_hashes_the_others():
    assert region_id("0001-0") == "0001-0"
    assert region_id("img_003-12") == "img_003-12"
    a, b = region_id("img 003-0"), region_id("img_003-0 ")
    assert a.startswith("img_003-0-") and len(a) == len("img_003-0-") + 8
    assert a != b and a != "img_003-0"
    assert "#" not in region_id("cam#1-0")
