"""VOC exporter: the export read back by ElementTree, fiftyone's VOCDetectionDataset and
datumaro (both pixel-origin modes); the origin rules are tested in ``tests/formats/test_voc.py``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from autolabel.export import export
from tests.exporters.sample import (
    IMAGES,
    RUN_CLASSES,
    assert_same_boxes,
    datumaro_boxes,
    expected_boxes,
    fiftyone_boxes,
    flat_names,
    image_root_of,
    read_names_table,
)


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
