import pytest

from autolabel.formats import GroundTruthError
from autolabel.formats.voc import read_voc
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
