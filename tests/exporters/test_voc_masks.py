"""VOC segmentation PNGs: read back with PIL (palette indices) and by datumaro's VOC importer."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from autolabel import masks
from autolabel.export import export
from autolabel.formats.voc import voc_colormap
from tests.exporters.masked_sample import CLASSES, SHAPES, image_record
from tests.exporters.sample import read_names_table


def _painted(path: str) -> tuple[np.ndarray, np.ndarray]:
    """What the PNGs must hold: larger masks painted first, so smaller ones stay on top."""
    w, h, _ = SHAPES[path]
    objects = np.zeros((h, w), np.uint8)
    classes = np.zeros((h, w), np.uint8)
    dets = [(k, masks.decode(d.mask), d.label) for k, d in enumerate(image_record(path).detections) if d.mask]
    for k, m, label in sorted(dets, key=lambda t: -int(t[1].sum())):
        objects[m] = k + 1
        classes[m] = CLASSES.index(label) + 1
    return objects, classes


def test_palette_pngs_hold_instances_and_classes(masked_run: Path, tmp_path: Path):
    export(masked_run, "voc", tmp_path)
    voc = tmp_path / "voc"
    names = {src: Path(n).stem for n, src in read_names_table(voc / "image_names.csv").items()}
    assert (voc / "ImageSets/Segmentation/default.txt").read_text().splitlines() == [names["a.jpg"], names["sub dir/b.png"]]
    assert (voc / "labelmap.txt").read_text(encoding="utf-8").splitlines()[0] == "background:::"
    for path, stem in names.items():
        seg = ET.parse(voc / "Annotations" / f"{stem}.xml").getroot().findtext("segmented")
        if not any(isinstance(m, np.ndarray) for _, _, m in SHAPES[path][2]):
            assert seg == "0" and not (voc / "SegmentationObject" / f"{stem}.png").exists()
            continue
        assert seg == "1"
        objects, classes = _painted(path)
        for folder, want in (("SegmentationObject", objects), ("SegmentationClass", classes)):
            img = Image.open(voc / folder / f"{stem}.png")
            assert img.mode == "P" and img.size == SHAPES[path][:2]
            assert (np.asarray(img) == want).all(), (folder, path)
            pal = img.getpalette()
            assert [tuple(pal[3 * i:3 * i + 3]) for i in range(4)] == voc_colormap(4)
    # the ring's hole is background, not the ring
    objects, _ = _painted("a.jpg")
    assert objects[22, 58] == 0 and objects[22, 58 + 10] == 3


def test_datumaro_reads_the_instance_masks(masked_run: Path, tmp_path: Path):
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset

    export(masked_run, "voc", tmp_path, copy_images=True)
    voc = tmp_path / "voc"
    names = {Path(n).stem: src for n, src in read_names_table(voc / "image_names.csv").items()}
    ds = Dataset.import_from(str(voc), "voc_instance_segmentation")
    labels = [c.name for c in ds.categories()[AnnotationType.label]]
    seen = 0
    for item in ds:
        path = names[item.id]
        objects, classes = _painted(path)
        got = [a for a in item.annotations if a.type == AnnotationType.mask and labels[a.label] != "background"]
        want = sorted((int(i), CLASSES[int(classes[objects == i][0]) - 1]) for i in np.unique(objects) if i)
        assert sorted((a.id if a.id else a.group, labels[a.label]) for a in got) == want, path
        for a in got:
            assert (a.image.astype(bool) == (objects == (a.id or a.group))).all()
        seen += len(got)
    assert seen == 5


def test_runs_without_masks_write_no_segmentation(sample_run: Path, tmp_path: Path):
    export(sample_run, "voc", tmp_path)
    voc = tmp_path / "voc"
    assert not (voc / "SegmentationObject").exists() and not (voc / "ImageSets/Segmentation").exists()
    assert not (voc / "labelmap.txt").read_text().startswith("background")
