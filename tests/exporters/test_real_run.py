"""A real run (the bundled photos annotated with the ``lite`` preset, which needs no download)
exported in all five formats from the command line and read back by every independent reader:
each gives the boxes, labels and scores the run store holds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from tests.exporters.sample import assert_same_boxes, datumaro_boxes, fiftyone_boxes, read_names_table, store_boxes, validate_with_ls_sdk

pytestmark = pytest.mark.slow

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("real")
    images = root / "images"
    shutil.copytree(SAMPLE_DATA, images / "photos", ignore=shutil.ignore_patterns("*.md"))
    shutil.copy(SAMPLE_DATA / "coffee.jpg", images / "coffee.jpg")  # a duplicate basename one level up
    run = root / "run"
    r = CliRunner().invoke(main, ["annotate", str(images), "-o", str(run), "--preset", "lite", "--quiet"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = root / "out"
    r = CliRunner().invoke(main, ["export", str(run), "-f", "all", "-o", str(out), "--copy-images", "--coco-results"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("revision: original")
    return run, out


def test_the_run_has_boxes(real):
    rows, _ = store_boxes(real[0])
    assert len(rows) == 5 and sum(len(r) for r in rows.values()) > 0


def test_coco_readers(real, fo, dm_dataset):
    from pycocotools.coco import COCO

    run, out = real
    expected, sizes = store_boxes(run)
    gt = COCO(str(out / "coco/annotations/instances_default.json"))
    got = {img["file_name"]: [(gt.cats[a["category_id"]]["name"], (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                                                  a["bbox"][1] + a["bbox"][3]), a["score"])
                              for a in gt.loadAnns(gt.getAnnIds(imgIds=[i]))] for i, img in gt.imgs.items()}
    assert_same_boxes(expected, got, reader="pycocotools")
    assert len(gt.loadRes(str(out / "coco/results-default.json")).anns) == sum(len(r) for r in expected.values())
    got = fiftyone_boxes(fo, fo.types.COCODetectionDataset, out / "coco/images/default", sizes=sizes,
                         data_path=str(out / "coco/images/default"),
                         labels_path=str(out / "coco/annotations/instances_default.json"), label_types="detections")
    assert_same_boxes(expected, got, reader="fiftyone COCO")
    got = datumaro_boxes(dm_dataset.import_from(str(out / "coco"), "coco"), {os.path.splitext(p)[0]: p for p in expected})
    assert_same_boxes(expected, got, px=0.01, reader="datumaro coco")  # datumaro keeps 2 decimals


def test_voc_readers(real, fo, dm_dataset):
    run, out = real
    expected, sizes = store_boxes(run)
    names = read_names_table(out / "voc/image_names.csv")
    got = datumaro_boxes(dm_dataset.import_from(str(out / "voc"), "voc", coordinate_mode="voc-one-based"),
                         {Path(n).stem: src for n, src in names.items()})
    assert_same_boxes(expected, got, px=1.0, reader="datumaro voc")
    got = fiftyone_boxes(fo, fo.types.VOCDetectionDataset, out / "voc/JPEGImages", names, score_attr="score", sizes=sizes,
                         data_path=str(out / "voc/JPEGImages"), labels_path=str(out / "voc/Annotations"))
    got = {p: [(lab, (b[0] - 1, b[1] - 1, b[2], b[3]), s) for lab, b, s in r] for p, r in got.items()}  # devkit origin
    assert_same_boxes(expected, got, px=1.0, reader="fiftyone VOC")


def test_yolo_readers(real, fo, dm_dataset):
    run, out = real
    expected, sizes = store_boxes(run)
    names = read_names_table(out / "yolo/image_names.csv")
    got = datumaro_boxes(dm_dataset.import_from(str(out / "yolo"), "yolo"), {Path(n).stem: src for n, src in names.items()})
    assert_same_boxes(expected, got, px=1e-2, score_tol=None, reader="datumaro yolo")
    got = fiftyone_boxes(fo, fo.types.YOLOv5Dataset, out / "yolo/images/train", names, sizes=sizes,
                         dataset_dir=str(out / "yolo"), yaml_path=str(out / "yolo/data.yaml"), split="train",
                         include_all_data=True)
    assert_same_boxes(expected, got, px=1e-2, score_tol=None, reader="fiftyone YOLOv5")


def test_cvat_readers(real, fo, dm_dataset):
    run, out = real
    expected, sizes = store_boxes(run)
    got = datumaro_boxes(dm_dataset.import_from(str(out / "cvat"), "cvat"), {os.path.splitext(p)[0]: p for p in expected})
    assert_same_boxes(expected, got, px=0.005, score_tol=5e-4, reader="datumaro cvat")
    got = fiftyone_boxes(fo, fo.types.CVATImageDataset, out / "cvat/images", score_attr="score", sizes=sizes,
                         data_path=str(out / "cvat/images"), labels_path=str(out / "cvat/annotations.xml"))
    assert_same_boxes(expected, got, px=0.5, score_tol=5e-4, reader="fiftyone CVAT")


def test_label_studio_sdk(real):
    run, out = real
    res = validate_with_ls_sdk(out / "labelstudio")
    assert res["errors"] == [] and all(res["data_ok"]) and len(res["data_ok"]) == 5
