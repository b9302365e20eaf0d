"""CVAT exporter: the export read back by ElementTree, fiftyone's CVATImageDataset and
datumaro; the upload zip and the label constructor JSON checked (the elements are tested in
``tests/formats/test_cvat.py``)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from tests.exporters.sample import IMAGES, RUN_CLASSES, assert_same_boxes, datumaro_boxes, expected_boxes, fiftyone_boxes


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
