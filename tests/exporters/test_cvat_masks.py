"""CVAT masks as ``<polygon>`` elements: read back by datumaro's ``cvat`` importer (what CVAT runs
on import) and built as cvat-sdk request models (what creating the task and uploading shapes send)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from autolabel import masks
from autolabel.export import export
from autolabel.formats.polygons import polygons_to_mask
from tests.exporters.masked_sample import CLASSES, SHAPES, filled, image_record


def test_polygons_replace_the_boxes_of_masked_detections(masked_run: Path, tmp_path: Path):
    export(masked_run, "cvat", tmp_path)
    root = ET.parse(tmp_path / "cvat/annotations.xml").getroot()
    assert {t.text for t in root.iter("type")} == {"any"}  # a label takes boxes and polygons
    specs = json.loads((tmp_path / "cvat/labels.json").read_text(encoding="utf-8"))
    assert [s["type"] for s in specs] == ["any"] * len(CLASSES)
    a = root.find("image[@name='a.jpg']")
    assert [b.get("label") for b in a.findall("box")] == ["zebra"]  # the one box without a mask
    polys = a.findall("polygon")
    assert [p.get("label") for p in polys] == ["person", "traffic light", "traffic light", "salt & pepper, shaker"]
    assert [p.get("group_id") for p in polys] == [None, "2", "2", None]  # the two parts of one object
    for p in polys:
        assert p.get("source") == "auto" and p.get("occluded") == "0" and p.get("z_order") == "0"
        assert [x.get("name") for x in p.findall("attribute")] == ["score", "objectness"]
        assert len(p.get("points").split(";")) >= 3


def test_box_mode_keeps_boxes_only(masked_run: Path, tmp_path: Path):
    export(masked_run, "cvat", tmp_path, cvat_shapes="box")
    root = ET.parse(tmp_path / "cvat/annotations.xml").getroot()
    assert not root.findall(".//polygon")
    assert len(root.findall(".//box")) == sum(len(d) for _, _, d in SHAPES.values())
    assert {t.text for t in root.iter("type")} == {"rectangle"}


def test_datumaro_reads_the_polygons(masked_run: Path, tmp_path: Path):
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset

    export(masked_run, "cvat", tmp_path, copy_images=True)
    ds = Dataset.import_from(str(tmp_path / "cvat"), "cvat")
    labels = [c.name for c in ds.categories()[AnnotationType.label]]
    assert labels == CLASSES
    n = 0
    for item in ds:
        path = next(p for p in SHAPES if p.rsplit(".", 1)[0] == item.id)
        w, h, _ = SHAPES[path]
        polys = [a for a in item.annotations if a.type == AnnotationType.polygon]
        for det in image_record(path).detections:
            if det.mask is None:
                continue
            mine = [p for p in polys if labels[p.label] == det.label
                    and abs(p.attributes["score"] - det.score) < 5e-4]
            assert mine, (path, det.id)
            assert len({p.group for p in mine}) == 1  # parts grouped as one object
            got = polygons_to_mask([np.asarray(p.points).reshape(-1, 2) for p in mine], h, w)
            iou = masks.mask_iou(got, filled(masks.decode(det.mask)))
            assert iou >= 0.95, (path, det.id, iou)
            n += 1
    assert n == sum(1 for _, _, d in SHAPES.values() for x in d if isinstance(x[2], np.ndarray))


def test_cvat_sdk_models_accept_labels_and_polygons(masked_run: Path, tmp_path: Path):
    from cvat_sdk.api_client import models

    export(masked_run, "cvat", tmp_path)
    specs = json.loads((tmp_path / "cvat/labels.json").read_text(encoding="utf-8"))
    labels = [models.PatchedLabelRequest(name=s["name"], color=s["color"], type=s["type"], attributes=[
        models.AttributeRequest(name=a["name"], mutable=a["mutable"], input_type=models.InputTypeEnum(a["input_type"]),
                                default_value=a["default_value"], values=list(a["values"])) for a in s["attributes"]])
              for s in specs]
    models.TaskWriteRequest(name="t", labels=labels)
    root = ET.parse(tmp_path / "cvat/annotations.xml").getroot()
    label_id = {s["name"]: i for i, s in enumerate(specs, 1)}
    shapes = []
    for im in root.findall("image"):
        for p in im.findall("polygon"):
            points = [float(v) for xy in p.get("points").split(";") for v in xy.split(",")]
            shapes.append(models.LabeledShapeRequest(
                type=models.ShapeType("polygon"), frame=int(im.get("id")), label_id=label_id[p.get("label")],
                points=points, occluded=False, z_order=0, source=p.get("source"),
                group=int(p.get("group_id", "0")), attributes=[]))
    models.LabeledDataRequest(shapes=shapes)
    assert len(shapes) == 6  # 5 masks, one of them in two parts
