"""Pascal VOC: the origin rules both ways, the elements the exporter writes, the ground-truth reader."""

import xml.etree.ElementTree as ET

import pytest

from autolabel.errors import ConfigError, ExportError
from autolabel.formats import GroundTruthError
from autolabel.formats.voc import (
    ORIGINS,
    bndbox_to_box,
    first_pixel,
    read_labelmap,
    read_voc,
    read_voc_xml,
    voc_annotation,
    voc_bndbox,
    voc_labelmap_line,
    voc_truncated,
)
from autolabel.types import Detection, ImageAnnotations
from tests.formats.conftest import CLASSES, FLAT, NESTED, boxes_of, expected_boxes
from tests.formats.writers import write_voc


def test_devkit_one_based_boxes_become_exclusive_pixel_boxes(tmp_path):
    write_voc(tmp_path / "voc", FLAT, CLASSES, origin="one")
    gt = read_voc(tmp_path / "voc")
    assert boxes_of(gt) == expected_boxes(FLAT)
    assert gt.classes == tuple(CLASSES)  # from labelmap.txt, the unused class included
    assert [(i.path, i.width, i.height) for i in gt.images] == [("a.jpg", 64, 48), ("b.png", 50, 40), ("c.jpg", 32, 32)]


def test_the_raw_file_really_is_one_based(tmp_path):
    write_voc(tmp_path / "voc", FLAT, CLASSES, origin="one")
    text = (tmp_path / "voc" / "Annotations" / "b.xml").read_text()
    assert "<xmin>1</xmin>" in text and "<xmax>10</xmax>" in text
    assert "salt &amp; pepper, shaker" in (tmp_path / "voc" / "Annotations" / "a.xml").read_text()


def test_zero_origin_reads_values_as_they_are(tmp_path):
    write_voc(tmp_path / "voc", FLAT, CLASSES, origin="zero")
    assert boxes_of(read_voc(tmp_path / "voc", origin="zero")) == expected_boxes(FLAT)
    shifted = boxes_of(read_voc(tmp_path / "voc", origin="one"))
    assert shifted["b.png"] == [("traffic light", (-1.0, -1.0, 10.0, 10.0))]


@pytest.mark.parametrize("origin,dm_mode", [("one", "voc-one-based"), ("zero", "dm-zero-based")])
def test_same_boxes_as_datumaro(tmp_path, origin, dm_mode):
    import datumaro as dm

    write_voc(tmp_path / "voc", FLAT, CLASSES, origin=origin)
    ds = dm.Dataset.import_from(str(tmp_path / "voc"), "voc_detection", coordinate_mode=dm_mode)
    cats = ds.categories()[dm.AnnotationType.label]
    theirs = {item.id: sorted((cats[a.label].name, (a.x, a.y, a.x + a.w, a.y + a.h)) for a in item.annotations) for item in ds}
    ours = {k.rsplit(".", 1)[0]: v for k, v in boxes_of(read_voc(tmp_path / "voc", origin=origin)).items()}
    assert ours == theirs


def test_subfolders_of_annotations_are_part_of_the_path(tmp_path):
    write_voc(tmp_path / "voc", NESTED, CLASSES, flat=False)
    gt = read_voc(tmp_path / "voc")
    assert [i.path for i in gt.images] == ["cam1/0001.jpg", "cam2/0001.jpg"]
    assert boxes_of(gt) == expected_boxes(NESTED)


def test_without_labelmap_classes_are_the_used_labels(tmp_path):
    write_voc(tmp_path / "voc", FLAT, CLASSES)
    (tmp_path / "voc" / "labelmap.txt").unlink()
    assert read_voc(tmp_path / "voc").classes == ("dog", "salt & pepper, shaker", "traffic light")


def test_bad_files_are_named(tmp_path):
    with pytest.raises(GroundTruthError, match="no Annotations/"):
        read_voc(tmp_path)
    write_voc(tmp_path / "voc", FLAT, CLASSES)
    (tmp_path / "voc" / "Annotations" / "b.xml").write_text("<annotation><object><name>x</name>")
    with pytest.raises(GroundTruthError, match=r"b\.xml: cannot parse VOC XML"):
        read_voc(tmp_path / "voc")
    (tmp_path / "voc" / "Annotations" / "b.xml").write_text(
        "<annotation><object><name>x</name><bndbox><xmin>a</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>")
    with pytest.raises(GroundTruthError, match=r"b\.xml: object 0: <xmin> must be a number, got 'a'"):
        read_voc(tmp_path / "voc")


# -- the origin rule, both ways, and the elements the exporter writes -----------------------


@pytest.mark.parametrize("box, one, zero", [
    ((0.0, 0.0, 64.0, 48.0), (1, 1, 64, 48), (0, 0, 64, 48)),          # whole image
    ((0.0, 0.0, 20.5, 15.25), (1, 1, 21, 16), (0, 0, 21, 16)),         # left/top border: never 0 in devkit
    ((10.3, 12.7, 40.9, 30.1), (11, 13, 41, 31), (10, 12, 41, 31)),
    ((30.2, 20.6, 64.0, 48.0), (31, 21, 64, 48), (30, 20, 64, 48)),    # right/bottom border: <= W, H
    ((5.2, 5.2, 5.6, 5.7), (6, 6, 6, 6), (5, 5, 6, 6)),                # sub-pixel box keeps one pixel
    ((63.5, 47.5, 64.0, 48.0), (64, 48, 64, 48), (63, 47, 64, 48)),    # last pixel
])
def test_voc_bndbox(box, one, zero):
    assert voc_bndbox(box, 64, 48, "one") == one
    assert voc_bndbox(box, 64, 48, "zero") == zero


@pytest.mark.parametrize("bb, origin, expected", [
    ((1, 5, 10, 20), "one", 1), ((2, 1, 10, 20), "one", 1), ((2, 2, 64, 20), "one", 1),
    ((2, 2, 10, 48), "one", 1), ((2, 2, 63, 47), "one", 0),
    ((0, 5, 10, 20), "zero", 1), ((1, 1, 63, 47), "zero", 0), ((1, 1, 64, 47), "zero", 1),
])
def test_voc_truncated(bb, origin, expected):
    assert voc_truncated(bb, 64, 48, origin) == expected


def test_voc_annotation_escapes_and_carries_scores():
    img = ImageAnnotations("a/b & c.jpg", 64, 48, (
        Detection(id="x-0", box=(0.0, 0.0, 10.0, 10.0), label="salt & pepper, shaker", score=0.125, objectness=0.5),))
    root = voc_annotation(img, "a__b_&_c.jpg")
    text = ET.tostring(root, encoding="unicode")
    assert "salt &amp; pepper, shaker" in text and "a__b_&amp;_c.jpg" in text
    obj = ET.fromstring(text).find("object")
    assert obj.findtext("name") == "salt & pepper, shaker"
    assert {a.findtext("name"): float(a.findtext("value")) for a in obj.iter("attribute")} == {"score": 0.125, "objectness": 0.5}
    assert [obj.findtext(k) for k in ("truncated", "difficult", "occluded")] == ["1", "0", "0"]


def test_voc_labelmap_rejects_colons():
    assert voc_labelmap_line("salt & pepper, shaker") == "salt & pepper, shaker:::\n"
    with pytest.raises(ExportError, match="labelmap"):
        voc_labelmap_line("ratio 1:2")


def test_first_pixel_names_the_origin():
    assert [first_pixel(o) for o in ORIGINS] == [1, 0]
    with pytest.raises(ConfigError, match="origin"):
        first_pixel("two")


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("box", [(0.0, 0.0, 64.0, 48.0), (10.3, 12.7, 40.9, 30.1), (5.2, 5.2, 5.6, 5.7), (63.5, 47.5, 64.0, 48.0)])
def test_written_bndbox_reads_back_as_the_pixels_the_box_touches(box, origin):
    back = bndbox_to_box(voc_bndbox(box, 64, 48, origin), origin)
    assert back[0] <= box[0] < back[0] + 1 and back[1] <= box[1] < back[1] + 1
    assert back[2] - 1 < box[2] <= back[2] and back[3] - 1 < box[3] <= back[3]


def test_written_annotation_and_labelmap_read_back_as_ground_truth(tmp_path):
    img = ImageAnnotations("a/b & c.jpg", 64, 48, (
        Detection(id="x-0", box=(0.0, 0.0, 10.0, 10.0), label="salt & pepper, shaker", score=0.125, objectness=0.5),))
    for origin in ORIGINS:
        xml = tmp_path / f"{origin}.xml"
        ET.ElementTree(voc_annotation(img, "a__b_&_c.jpg", origin)).write(xml, encoding="utf-8")
        rec = read_voc_xml(xml, origin=origin)
        assert (rec.path, rec.width, rec.height, rec.labels) == ("a__b_&_c.jpg", 64, 48, ("salt & pepper, shaker",))
        assert rec.boxes == ((0.0, 0.0, 10.0, 10.0),)
    labelmap = tmp_path / "labelmap.txt"
    labelmap.write_text("".join(voc_labelmap_line(c) for c in ("person", "salt & pepper, shaker")), encoding="utf-8")
    assert read_labelmap(labelmap) == ["person", "salt & pepper, shaker"]
