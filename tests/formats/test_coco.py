"""COCO: the entries the exporter writes (table-tested) and the ground-truth reader."""

import json

import pytest

from autolabel.formats import GroundTruthError
from autolabel.formats.coco import (
    category_id,
    coco_annotation,
    coco_bbox,
    coco_category,
    coco_image,
    coco_result,
    instances_filename,
    read_coco,
)
from autolabel.geometry import xywh_to_xyxy
from autolabel.types import Detection
from tests.formats.conftest import CLASSES, FLAT, boxes_of, datumaro_boxes, expected_boxes
from tests.formats.writers import write_coco


def test_reads_boxes_sizes_and_declared_classes(tmp_path):
    p = write_coco(tmp_path / "gt.json", FLAT, CLASSES)
    gt = read_coco(p)
    assert gt.format == "coco" and gt.source == p
    assert gt.classes == tuple(CLASSES)  # the unused class is declared too, in file order
    assert boxes_of(gt) == expected_boxes(FLAT)
    assert [(i.path, i.width, i.height) for i in gt.images] == [("a.jpg", 64, 48), ("b.png", 50, 40), ("c.jpg", 32, 32)]
    assert gt.images[2].boxes == ()  # listed without annotations: labelled, nothing to find


def test_same_boxes_as_datumaro(tmp_path):
    write_coco(tmp_path / "coco" / "annotations" / "instances_default.json", FLAT, CLASSES, images=True)
    gt = read_coco(tmp_path / "coco")  # the folder: its one annotations/*.json
    ours = {k.rsplit(".", 1)[0]: v for k, v in boxes_of(gt).items()}
    assert ours == datumaro_boxes(tmp_path / "coco", "coco_instances")


def test_crowd_regions_are_ignore_boxes(tmp_path):
    p = write_coco(tmp_path / "gt.json", FLAT, CLASSES, crowd=[("a.jpg", (40, 10, 60, 40), "dog")])
    a = read_coco(p).images[0]
    assert a.ignore == (False, False, True)
    assert a.boxes[2] == (40.0, 10.0, 60.0, 40.0)


def test_results_list_is_refused(tmp_path):
    p = tmp_path / "res.json"
    p.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]))
    with pytest.raises(GroundTruthError, match="results list"):
        read_coco(p)


def test_unknown_category_names_the_file_and_annotation(tmp_path):
    p = write_coco(tmp_path / "gt.json", FLAT, CLASSES)
    data = json.loads(p.read_text())
    data["annotations"][1]["category_id"] = 99
    p.write_text(json.dumps(data))
    with pytest.raises(GroundTruthError, match=r"gt\.json: annotation 2 has category_id 99"):
        read_coco(p)


def test_broken_json_names_the_file(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(GroundTruthError, match="broken.json: cannot read COCO JSON"):
        read_coco(p)


# -- the entries the exporter writes --------------------------------------------------------


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


def test_category_ids_start_at_one_and_name_the_file():
    assert [category_id(i) for i in range(3)] == [1, 2, 3]
    assert instances_filename("val") == "instances_val.json"


@pytest.mark.parametrize("box", [(0.0, 0.0, 64.0, 48.0), (10.25, 12.5, 40.75, 30.125), (5.0, 6.0, 5.5, 6.25)])
def test_bbox_reads_back_as_the_same_box(box):
    assert xywh_to_xyxy(coco_bbox(box)) == pytest.approx(box, abs=1e-9)
