"""VOC exporter: converters table-tested; the export read back by ElementTree, fiftyone's
VOCDetectionDataset and datumaro (both pixel-origin modes)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autolabel.errors import ExportError
from autolabel.export import export
from autolabel.types import Detection, ImageAnnotations
from exporters.voc import voc_annotation, voc_bndbox, voc_labelmap_line, voc_truncated
from tests.exporters.sample import (IMAGES, RUN_CLASSES, assert_same_boxes, datumaro_boxes, expected_boxes,
                                      fiftyone_boxes, flat_names, image_root_of, read_names_table)


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


def test_layout_names_and_labelmap(exported: Path):
    voc = exported / "voc"
    names = read_names_table(voc / "image_names.csv")
    assert names == {flat: src for src, flat in flat_names().items()}
    stems = (voc / "ImageSets/Main/default.txt").read_text(encoding="utf-8").splitlines()
    assert stems == [Path(n).stem for n in names]  # one line per image, in run order
    for name in names:
        assert (voc / "JPEGImages" / name).is_file()
        root = ET.parse(voc / "Annotations" / f"{Path(name).stem}.xml").getroot()
        assert root.findtext("filename") == name
        w, h, _ = IMAGES[names[name]]
        assert (int(root.findtext("size/width")), int(root.findtext("size/height"))) == (w, h)
    assert (voc / "labelmap.txt").read_text(encoding="utf-8") == "".join(f"{c}:::\n" for c in RUN_CLASSES)
    raw = (voc / "Annotations/cam1__0001.xml").read_text(encoding="utf-8")
    assert "<name>salt &amp; pepper, shaker</name>" in raw


def test_truncated_marks_border_boxes(exported: Path):
    got = {}
    for xml in (exported / "voc/Annotations").glob("*.xml"):
        for obj in ET.parse(xml).getroot().iter("object"):
            got[(xml.stem, obj.findtext("name"))] = obj.findtext("truncated")
    assert got[("cam1__0001", "person")] == "1"            # left + top
    assert got[("cam1__0001", "salt & pepper, shaker")] == "0"
    assert got[("cam2__0001", "traffic light")] == "1"     # right + bottom
    assert got[("ünïcode_ß__fötö_1+2", "zebra")] == "0"


def _shift(rows, dx):
    """Readers that take VOC values as they are: undo the documented 1-based origin."""
    return {p: [(lab, (b[0] - dx, b[1] - dx, b[2], b[3]), s) for lab, b, s in r] for p, r in rows.items()}


def test_fiftyone_reads_voc(exported: Path, fo):
    voc = exported / "voc"
    names = read_names_table(voc / "image_names.csv")
    got = fiftyone_boxes(fo, fo.types.VOCDetectionDataset, voc / "JPEGImages", names, score_attr="score",
                         data_path=str(voc / "JPEGImages"), labels_path=str(voc / "Annotations"))
    # fiftyone reads bndbox as 0-based: minus the devkit's 1, every edge is within 1 px.
    assert_same_boxes(expected_boxes(), _shift(got, 1), px=1.0, reader="fiftyone VOC")


def test_datumaro_reads_voc_one_based(exported: Path, dm_dataset):
    voc = exported / "voc"
    names = read_names_table(voc / "image_names.csv")
    ds = dm_dataset.import_from(str(voc), "voc", coordinate_mode="voc-one-based")
    got = datumaro_boxes(ds, {Path(n).stem: src for n, src in names.items()})
    assert_same_boxes(expected_boxes(), got, px=1.0, reader="datumaro voc (one-based)")


def test_zero_origin_reads_as_is(sample_run: Path, tmp_path: Path, fo, dm_dataset):
    export(sample_run, "voc", tmp_path, revision="original", voc_origin="zero", link_images=True)
    voc = tmp_path / "voc"
    names = read_names_table(voc / "image_names.csv")
    # --link-images makes hard links (datumaro refuses symlinks that leave the export folder)
    linked = voc / "JPEGImages" / "cam1__0001.jpg"
    assert not linked.is_symlink() and linked.samefile(image_root_of(sample_run) / "cam1/0001.jpg")
    got = fiftyone_boxes(fo, fo.types.VOCDetectionDataset, voc / "JPEGImages", names, score_attr="score",
                         data_path=str(voc / "JPEGImages"), labels_path=str(voc / "Annotations"))
    assert_same_boxes(expected_boxes(), got, px=1.0, reader="fiftyone VOC (zero)")
    ds = dm_dataset.import_from(str(voc), "voc")  # datumaro's default mode is 0-based
    got = datumaro_boxes(ds, {Path(n).stem: src for n, src in names.items()})
    assert_same_boxes(expected_boxes(), got, px=1.0, reader="datumaro voc (zero)")
