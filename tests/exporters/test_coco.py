"""COCO exporter: converters table-tested; the export read back by pycocotools (COCO and
loadRes), fiftyone's COCODetectionDataset and datumaro."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autolabel.types import Detection
from exporters.coco import coco_annotation, coco_bbox, coco_category, coco_image, coco_result
from tests.exporters.sample import (IMAGES, RUN_CLASSES, assert_same_boxes, datumaro_boxes, expected_boxes,
                                      fiftyone_boxes)


def _det(box, score=0.5, objectness=0.25, label="person"):
    return Detection(id="a-0", box=box, label=label, score=score, objectness=objectness)


@pytest.mark.parametrize("box, bbox", [
    ((0.0, 0.0, 64.0, 48.0), [0.0, 0.0, 64.0, 48.0]),          # whole image
    ((10.3, 12.7, 40.9, 30.1), [10.3, 12.7, 30.6, 17.4]),      # float noise rounded away
    ((5.0, 6.0, 5.5, 6.25), [5.0, 6.0, 0.5, 0.25]),            # sub-pixel box
])
def test_coco_bbox_is_xywh(box, bbox):
    assert coco_bbox(box) == pytest.approx(bbox, abs=1e-9)
    assert coco_bbox(box)[0] + coco_bbox(box)[2] == pytest.approx(box[2])


def test_coco_category_is_one_based():
    assert coco_category(0, "salt & pepper, shaker") == {"id": 1, "name": "salt & pepper, shaker", "supercategory": ""}


def test_coco_image_sizes_are_ints():
    img = coco_image(3, "cam1/0001.jpg", 64, 48)
    assert img == {"id": 3, "file_name": "cam1/0001.jpg", "width": 64, "height": 48}
    assert all(type(img[k]) is int for k in ("id", "width", "height"))


def test_coco_annotation_fields():
    ann = coco_annotation(7, 2, 4, _det((1.0, 2.0, 11.0, 7.0), score=0.875, objectness=0.3))
    assert ann == {"id": 7, "image_id": 2, "category_id": 4, "bbox": [1.0, 2.0, 10.0, 5.0], "area": 50.0,
                   "iscrowd": 0, "segmentation": [], "score": 0.875, "objectness": 0.3,
                   "autolabel_id": "a-0"}
    assert coco_result(2, 4, _det((1.0, 2.0, 11.0, 7.0), score=0.875)) == {
        "image_id": 2, "category_id": 4, "bbox": [1.0, 2.0, 10.0, 5.0], "score": 0.875}


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
