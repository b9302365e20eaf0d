"""YOLO exporter: the export read back by fiftyone's YOLOv5Dataset and datumaro (detected as
``yolo_ultralytics``); lines and ``data.yaml`` are tested in ``tests/formats/test_yolo.py``."""

from __future__ import annotations

from pathlib import Path

import yaml

from autolabel.export import export
from tests.exporters.sample import (
    IMAGES,
    RUN_CLASSES,
    assert_same_boxes,
    datumaro_boxes,
    expected_boxes,
    fiftyone_boxes,
    flat_names,
    read_names_table,
)


def test_layout(exported: Path):
    y = exported / "yolo"
    data = yaml.safe_load((y / "data.yaml").read_text(encoding="utf-8"))
    assert data["names"] == dict(enumerate(RUN_CLASSES)) and list(data["names"]) == list(range(len(RUN_CLASSES)))
    names = read_names_table(y / "image_names.csv")
    assert names == {flat: src for src, flat in flat_names().items()}
    for name, src in names.items():
        label = y / "labels/train" / f"{Path(name).stem}.txt"
        assert (y / "images/train" / name).is_file()
        lines = label.read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(IMAGES[src][2])  # empty file for the image without boxes
        for line in lines:
            f = line.split(" ")
            assert len(f) == 5 and 0 <= int(f[0]) < len(RUN_CLASSES)
            assert all(0.0 <= float(v) <= 1.0 for v in f[1:])
    assert (y / "labels/train/empty.txt").read_text() == ""


def test_fiftyone_reads_yolo(exported: Path, fo):
    y = exported / "yolo"
    names = read_names_table(y / "image_names.csv")
    got = fiftyone_boxes(fo, fo.types.YOLOv5Dataset, y / "images/train", names,
                         dataset_dir=str(y), yaml_path=str(y / "data.yaml"), split="train", include_all_data=True)
    assert_same_boxes(expected_boxes(), got, px=1e-3, score_tol=None, reader="fiftyone YOLOv5")


def test_datumaro_reads_yolo_ultralytics(exported: Path, dm_dataset):
    from datumaro.plugins.data_formats.yolo.importer import YoloImporter

    y = exported / "yolo"
    assert [(s["format"], s["options"]["subset"]) for s in YoloImporter.find_sources(str(y))] == [("yolo_ultralytics", "train")]
    names = read_names_table(y / "image_names.csv")
    ds = dm_dataset.import_from(str(y), "yolo")
    got = datumaro_boxes(ds, {Path(n).stem: src for n, src in names.items()})
    assert_same_boxes(expected_boxes(), got, px=1e-3, score_tol=None, reader="datumaro yolo_ultralytics")


def test_prediction_form_carries_scores(sample_run: Path, tmp_path: Path, fo):
    export(sample_run, "yolo", tmp_path, revision="original", yolo_scores=True, split="val", copy_images=True)
    y = tmp_path / "yolo"
    assert yaml.safe_load((y / "data.yaml").read_text())["val"] == "images/val"
    names = read_names_table(y / "image_names.csv")
    got = fiftyone_boxes(fo, fo.types.YOLOv5Dataset, y / "images/val", names,
                         dataset_dir=str(y), yaml_path=str(y / "data.yaml"), split="val", include_all_data=True)
    assert_same_boxes(expected_boxes(), got, px=1e-3, score_tol=1e-6, reader="fiftyone YOLOv5 (scores)")
