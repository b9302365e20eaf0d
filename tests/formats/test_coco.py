import json

import pytest

from autolabel.formats import GroundTruthError
from autolabel.formats.coco import read_coco
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
