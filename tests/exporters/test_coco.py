"""COCO exporter: the export read back by pycocotools (COCO and loadRes), fiftyone's
COCODetectionDataset and datumaro (the entries are tested in ``tests/formats/test_coco.py``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.exporters.sample import IMAGES, RUN_CLASSES, assert_same_boxes, datumaro_boxes, expected_boxes, fiftyone_boxes


def test_file_layout_and_ids(exported: Path):
    doc = json.loads((exported / "coco/annotations/instances_default.json").read_text(encoding="utf-8"))
    assert [c["name"] for c in doc["categories"]] == list(RUN_CLASSES)
    assert [c["id"] for c in doc["categories"]] == list(range(1, len(RUN_CLASSES) + 1))
    assert [a["id"] for a in doc["annotations"]] == list(range(1, len(doc["annotations"]) + 1))
    assert [i["file_name"] for i in doc["images"]] == sorted(IMAGES)
    for img in doc["images"]:  # the images sit where file_name says
        assert (exported / "coco/images/default" / img["file_name"]).is_file()
    for a in doc["annotations"]:
        img = doc["images"][a["image_id"] - 1]
        x, y, w, h = a["bbox"]
        assert x + w <= img["width"] + 1e-6 and y + h <= img["height"] + 1e-6
        assert a["area"] == pytest.approx(w * h) and a["iscrowd"] == 0 and a["segmentation"] == []
        assert 0.0 <= a["objectness"] <= 1.0


def test_pycocotools_reads_annotations_and_results(exported: Path):
    from pycocotools.coco import COCO

    gt = COCO(str(exported / "coco/annotations/instances_default.json"))
    got: dict[str, list] = {}
    for img_id, img in gt.imgs.items():
        rows = []
        for ann in gt.loadAnns(gt.getAnnIds(imgIds=[img_id])):
            x, y, w, h = ann["bbox"]
            rows.append((gt.cats[ann["category_id"]]["name"], (x, y, x + w, y + h), ann["score"]))
        got[img["file_name"]] = rows
    assert_same_boxes(expected_boxes(), got, reader="pycocotools")

    dt = gt.loadRes(str(exported / "coco/results-default.json"))
    res = {}
    for img_id, img in gt.imgs.items():
        res[img["file_name"]] = [
            (dt.cats[a["category_id"]]["name"], (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                                  a["bbox"][1] + a["bbox"][3]), a["score"])
            for a in dt.loadAnns(dt.getAnnIds(imgIds=[img_id]))
        ]
    assert_same_boxes(expected_boxes(), res, reader="pycocotools loadRes")


def test_pycocotools_evaluates_the_run_against_itself(exported: Path):
    """The results file is a valid detection result: the run scored against itself is perfect."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(exported / "coco/annotations/instances_default.json"))
        dt = gt.loadRes(str(exported / "coco/results-default.json"))
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # AP@[.5:.95]


def test_fiftyone_reads_coco(exported: Path, fo):
    got = fiftyone_boxes(
        fo, fo.types.COCODetectionDataset, exported / "coco/images/default",
        data_path=str(exported / "coco/images/default"),
        labels_path=str(exported / "coco/annotations/instances_default.json"),
        label_types="detections", include_id=False,
    )
    assert_same_boxes(expected_boxes(), got, px=1e-3, reader="fiftyone COCO")


def test_datumaro_reads_coco(exported: Path, dm_dataset):
    ds = dm_dataset.import_from(str(exported / "coco"), "coco")
    got = datumaro_boxes(ds, {os.path.splitext(p)[0]: p for p in IMAGES})
    assert_same_boxes(expected_boxes(), got, px=0.01, reader="datumaro coco")  # datumaro keeps 2 decimals
