"""CVAT for images 1.1: the elements the exporter writes (table-tested) and the ground-truth reader."""

import xml.etree.ElementTree as ET

import pytest

from autolabel.formats import GroundTruthError
from autolabel.formats.cvat import cvat_box, cvat_image, cvat_label_specs, cvat_meta, read_cvat
from autolabel.types import Detection, ImageAnnotations
from tests.formats.conftest import CLASSES, FLAT, NESTED, boxes_of, datumaro_boxes, expected_boxes
from tests.formats.writers import write_cvat


def test_reads_boxes_sizes_and_meta_classes(tmp_path):
    p = write_cvat(tmp_path / "annotations.xml", FLAT + NESTED, CLASSES)
    gt = read_cvat(p)
    assert gt.classes == tuple(CLASSES)
    assert boxes_of(gt) == expected_boxes(FLAT + NESTED)
    assert {i.path: (i.width, i.height) for i in gt.images}["cam2/0001.jpg"] == (64, 40)


def test_same_boxes_as_datumaro(tmp_path):
    write_cvat(tmp_path / "cvat" / "annotations.xml", FLAT, CLASSES, images=True)
    ours = {k.rsplit(".", 1)[0]: v for k, v in boxes_of(read_cvat(tmp_path / "cvat")).items()}
    assert ours == datumaro_boxes(tmp_path / "cvat", "cvat")


def test_other_shapes_are_skipped_with_a_note(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text('<annotations><version>1.1</version><image id="0" name="x.jpg" width="10" height="10">'
                 '<box label="cat" xtl="1" ytl="1" xbr="5" ybr="5" rotation="30"/>'
                 '<polyline label="cat" points="1,1;2,2;3,1"/></image></annotations>')
    gt = read_cvat(p)
    assert gt.images[0].boxes == ((1.0, 1.0, 5.0, 5.0),)
    assert any("skipped 1 shape" in n for n in gt.notes) and any("rotated" in n for n in gt.notes)


def test_polygons_count_as_their_bounds_and_grouped_parts_as_one(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text('<annotations><version>1.1</version><image id="0" name="x.jpg" width="50" height="50">'
                 '<polygon label="cat" points="1,1;4,2;3,6"/>'
                 '<polygon label="dog" group_id="2" points="10,10;12,10;12,12"/>'
                 '<polygon label="dog" group_id="2" points="20,30;25,30;25,35"/>'
                 '<polygon label="dog" points="40,40;41,40;41,41"/></image></annotations>')
    gt = read_cvat(p)
    assert gt.images[0].boxes == ((1.0, 1.0, 4.0, 6.0), (10.0, 10.0, 25.0, 35.0), (40.0, 40.0, 41.0, 41.0))
    assert gt.images[0].labels == ("cat", "dog", "dog")
    assert any("read 4 polygon(s) as their bounding boxes" in n for n in gt.notes)


def test_video_export_is_refused_with_advice(tmp_path):
    p = tmp_path / "v.xml"
    p.write_text('<annotations><track id="0" label="cat"><box frame="0" xtl="1" ytl="1" xbr="2" ybr="2"/></track></annotations>')
    with pytest.raises(GroundTruthError, match="CVAT for video.*CVAT for images 1.1"):
        read_cvat(p)


def test_bad_coordinates_are_named(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text('<annotations><image id="0" name="x.jpg"><box label="cat" xtl="one" ytl="1" xbr="5" ybr="5"/></image></annotations>')
    with pytest.raises(GroundTruthError, match=r"a\.xml: image 'x.jpg': attribute xtl must be a number"):
        read_cvat(p)


# -- the elements the exporter writes -------------------------------------------------------


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


def test_written_elements_read_back_as_ground_truth(tmp_path):
    img = ImageAnnotations("cam1/img 1.jpg", 64, 48, (
        Detection(id="a-0", box=(1.5, 2.25, 30.0, 48.0), label="a & b", score=0.5, objectness=0.5),))
    root = ET.Element("annotations")
    root.append(cvat_meta(["a & b", "unused"], "task", 1))
    root.append(cvat_image(0, img))
    ET.ElementTree(root).write(tmp_path / "annotations.xml", encoding="utf-8")
    gt = read_cvat(tmp_path)
    assert gt.classes == ("a & b", "unused")
    (rec,) = gt.images
    assert (rec.path, rec.width, rec.height, rec.labels) == ("cam1/img 1.jpg", 64, 48, ("a & b",))
    assert rec.boxes == ((1.5, 2.25, 30.0, 48.0),)


def test_a_zipped_export_is_named_by_the_users_file_in_its_notes_and_logs_nothing(tmp_path, caplog):
    """The notes of a CVAT zip name ``gt.zip/annotations.xml``, never the unpacked temporary copy,
    and are returned once (the CLI prints them), not also logged."""
    import zipfile

    from autolabel.formats import read_groundtruth

    xml = ('<annotations><version>1.1</version><image id="0" name="x.jpg" width="50" height="50">'
           '<polygon label="cat" points="1,1;4,2;3,6"/></image></annotations>')
    with zipfile.ZipFile(tmp_path / "gt.zip", "w") as zf:
        zf.writestr("annotations.xml", xml)
    gt = read_groundtruth(tmp_path / "gt.zip")
    assert gt.notes == (f"{tmp_path / 'gt.zip' / 'annotations.xml'}: read 1 polygon(s) as their bounding boxes",)
    assert not [r for r in caplog.records if "polygon" in r.getMessage()]
