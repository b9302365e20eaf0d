"""CVAT exporter: converters table-tested; the export read back by ElementTree, fiftyone's
CVATImageDataset and datumaro; the upload zip and the label constructor JSON checked."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from autolabel.types import Detection, ImageAnnotations
from exporters.cvat import cvat_box, cvat_image, cvat_label_specs, cvat_meta
from tests.exporters.sample import IMAGES, RUN_CLASSES, assert_same_boxes, datumaro_boxes, expected_boxes, fiftyone_boxes


@pytest.mark.parametrize("box, corners", [
    ((0.0, 0.0, 320.0, 240.0), ("0.00", "0.00", "320.00", "240.00")),
    ((10.254, 3.3333, 20.5, 7.125), ("10.25", "3.33", "20.50", "7.12")),
])
def test_cvat_box(box, corners):
    det = Detection(id="a-0", box=box, label="salt & pepper, shaker", score=0.9876, objectness=0.25)
    el = ET.fromstring(ET.tostring(cvat_box(det)))
    assert (el.get("xtl"), el.get("ytl"), el.get("xbr"), el.get("ybr")) == corners
    assert el.get("label") == "salt & pepper, shaker" and el.get("source") == "auto" and el.get("occluded") == "0"
    assert el.get("rotation") is None
    assert {a.get("name"): a.text for a in el.findall("attribute")} == {"score": "0.988", "objectness": "0.250"}


def test_human_boxes_are_manual():
    det = Detection(id="a-0", box=(0, 0, 1, 1), label="x", score=1.0, objectness=1.0, source="human")
    assert cvat_box(det).get("source") == "manual"


def test_cvat_image_keeps_relative_name():
    img = ImageAnnotations("cam1/img 1.jpg", 64, 48)
    el = cvat_image(3, img)
    assert (el.get("id"), el.get("name"), el.get("width"), el.get("height")) == ("3", "cam1/img 1.jpg", "64", "48")


def test_meta_declares_every_label_with_score_attributes():
    meta = ET.fromstring(ET.tostring(cvat_meta(["a & b", "c'd"], "task", 2)))
    labels = meta.findall("task/labels/label")
    assert [lab.findtext("name") for lab in labels] == ["a & b", "c'd"]
    for lab in labels:
        attrs = {a.findtext("name"): (a.findtext("input_type"), a.findtext("values")) for a in lab.iter("attribute")}
        assert attrs == {"score": ("number", "0\n1\n0.001"), "objectness": ("number", "0\n1\n0.001")}
    assert meta.findtext("task/size") == "2"


def test_label_specs_for_the_raw_editor():
    specs = cvat_label_specs(["person", "salt & pepper, shaker"])
    assert [s["name"] for s in specs] == ["person", "salt & pepper, shaker"]
    assert all(s["type"] == "rectangle" and [a["name"] for a in s["attributes"]] == ["score", "objectness"] for s in specs)
    assert specs[0]["attributes"][0] == {"name": "score", "mutable": False, "input_type": "number",
                                         "default_value": "0", "values": ["0", "1", "0.001"]}


def test_layout_zip_and_labels(exported: Path):
    c = exported / "cvat"
    root = ET.parse(c / "annotations.xml").getroot()
    assert root.findtext("version") == "1.1"
    assert [lab.findtext("name") for lab in root.findall("meta/task/labels/label")] == list(RUN_CLASSES)
    images = root.findall("image")
    assert [i.get("name") for i in images] == sorted(IMAGES)
    assert [i.get("id") for i in images] == [str(k) for k in range(len(IMAGES))]
    assert all(b.get("source") == "auto" for b in root.iter("box"))
    with zipfile.ZipFile(c / "annotations.zip") as zf:
        assert zf.namelist() == ["annotations.xml"]  # exactly one XML, or CVAT loads boxes twice
        assert zf.read("annotations.xml") == (c / "annotations.xml").read_bytes()
    specs = json.loads((c / "labels.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in specs] == list(RUN_CLASSES)
    assert "salt &amp; pepper, shaker" in (c / "annotations.xml").read_text(encoding="utf-8")


def test_fiftyone_reads_cvat(exported: Path, fo):
    c = exported / "cvat"
    got = fiftyone_boxes(fo, fo.types.CVATImageDataset, c / "images", score_attr="score",
                         data_path=str(c / "images"), labels_path=str(c / "annotations.xml"))
    # fiftyone rounds CVAT corners to whole pixels; scores have 3 decimals.
    assert_same_boxes(expected_boxes(), got, px=0.5, score_tol=5e-4, reader="fiftyone CVAT")


def test_datumaro_reads_cvat(exported: Path, dm_dataset):
    ds = dm_dataset.import_from(str(exported / "cvat"), "cvat")
    got = datumaro_boxes(ds, {os.path.splitext(p)[0]: p for p in IMAGES})
    assert_same_boxes(expected_boxes(), got, px=0.005, score_tol=5e-4, reader="datumaro cvat")
    for item in ds:
        for a in item.annotations:
            assert 0.0 <= a.attributes["objectness"] <= 1.0
