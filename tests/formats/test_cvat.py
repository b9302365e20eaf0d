import pytest

from autolabel.formats import GroundTruthError
from autolabel.formats.cvat import read_cvat
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
                 '<polygon label="cat" points="1,1;2,2;3,1"/></image></annotations>')
    gt = read_cvat(p)
    assert gt.images[0].boxes == ((1.0, 1.0, 5.0, 5.0),)
    assert any("skipped 1 shape" in n for n in gt.notes) and any("rotated" in n for n in gt.notes)


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
