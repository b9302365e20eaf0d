"""Our CVAT export, checked the way CVAT reads it (no CVAT server can run here: it needs Docker).

* datumaro's ``cvat`` importer (what CVAT runs to import a dataset) reads every box, label and
  attribute back, on the right image;
* every label declaration builds as a cvat-sdk ``TaskWriteRequest`` (what creating the task
  sends), and every box as ``LabeledShapeRequest`` inside ``LabeledDataRequest`` (what
  uploading annotations amounts to), with label ids and attribute spec ids assigned the way a
  task assigns them: these models check field types and required fields;
* the rules of FORMATS.md §4 that make CVAT's own importer accept the file: labels declared
  before use (else "Label 'x' is not registered for this task"), every box attribute declared
  on its label (else dropped silently), frame ids in sorted-name order with exact names, one XML
  in the zip, ``<meta>`` present, no rotation.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tests.integration.runs import CLASSES, HandMadeRun, make_run
from tests.integration.servers import require_module

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOX_TOL = 0.005 + 1e-4
"""CVAT corners have 2 decimals (+ datumaro's float32)."""
SCORE_TOL = 0.0005 + 1e-9
"""Attributes have 3 decimals."""
CVAT_SOURCES = {"auto", "manual", "semi-auto", "file", "consensus"}


@pytest.fixture(scope="module")
def cvat_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[HandMadeRun, Path]:
    from autolabel.export import export

    base = tmp_path_factory.mktemp("cvat")
    run = make_run(base / "run", base / "images")
    export(run.run_dir, ["cvat"], base / "out", images="link")
    return run, base / "out" / "cvat"


def parse_xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def declared_labels(root: ET.Element) -> list[dict[str, Any]]:
    """``<meta><task><labels>`` as label-constructor dicts (what CVAT's Raw editor takes)."""
    out = []
    for label in root.findall("./meta/task/labels/label"):
        attrs = []
        for a in label.findall("./attributes/attribute"):
            attrs.append(
                {
                    "name": a.findtext("name"),
                    "mutable": a.findtext("mutable") == "True",
                    "input_type": a.findtext("input_type"),
                    "default_value": a.findtext("default_value") or "",
                    "values": (a.findtext("values") or "").split("\n"),
                }
            )
        out.append({"name": label.findtext("name"), "color": label.findtext("color"), "type": label.findtext("type"), "attributes": attrs})
    return out


def test_zip_holds_exactly_the_one_annotations_xml(cvat_export):
    _, out = cvat_export
    with zipfile.ZipFile(out / "annotations.zip") as z:
        names = z.namelist()
        assert names == ["annotations.xml"], names  # CVAT loads every *.xml in the zip
        assert z.read("annotations.xml") == (out / "annotations.xml").read_bytes()


def test_xml_follows_cvat_rules(cvat_export):
    run, out = cvat_export
    root = parse_xml(out / "annotations.xml")
    assert root.tag == "annotations" and root.findtext("version") == "1.1"
    assert root.find("meta") is not None, "datumaro: CVAT XML file should have <meta> tag"
    labels = declared_labels(root)
    assert [lab["name"] for lab in labels] == list(CLASSES)  # all classes, in order, unused ones too
    assert all(lab["type"] in ("rectangle", "any") for lab in labels)
    images = root.findall("image")
    # frame ids follow the sorted task file names; names are the exact relative paths
    names = [im.get("name") for im in images]
    assert names == sorted(img.path for img in run.images)
    assert [int(im.get("id")) for im in images] == list(range(len(images)))
    assert int(root.findtext("./meta/task/size")) == len(images)
    by_path = run.by_path()
    for im in images:
        rec = by_path[im.get("name")]
        assert (int(im.get("width")), int(im.get("height"))) == (rec.width, rec.height)
        label_attrs = {lab["name"]: {a["name"] for a in lab["attributes"]} for lab in labels}
        for box in im.findall("box"):
            assert box.get("label") in label_attrs, f"label {box.get('label')!r} is not declared (CVAT: not registered)"
            used = {a.get("name") for a in box.findall("attribute")}
            assert used <= label_attrs[box.get("label")], f"undeclared attributes {used - label_attrs[box.get('label')]} would be dropped"
            assert float(box.get("rotation", "0")) == 0.0
            assert box.get("source") in CVAT_SOURCES
        assert len(im.findall("box")) == len(rec.detections)


def test_number_attributes_are_consistent(cvat_export):
    """A ``number`` attribute is ``min, max, step``; the default and every value fit in it."""
    _, out = cvat_export
    root = parse_xml(out / "annotations.xml")
    specs = {}
    for lab in declared_labels(root):
        for a in lab["attributes"]:
            if a["input_type"] != "number":
                continue
            lo, hi, step = (float(v) for v in a["values"])
            assert len(a["values"]) == 3 and lo < hi and step > 0, a
            n = (hi - lo) / step
            assert abs(n - round(n)) < 1e-6, f"step {step} does not divide [{lo}, {hi}]"
            assert lo <= float(a["default_value"]) <= hi
            specs[(lab["name"], a["name"])] = (lo, hi, step)
    assert specs, "no number attribute declared (the score would be lost)"
    for box in root.iter("box"):
        for attr in box.findall("attribute"):
            lo, hi, step = specs[(box.get("label"), attr.get("name"))]
            v = float(attr.text)
            k = (v - lo) / step
            assert lo <= v <= hi and abs(k - round(k)) < 1e-6, (box.attrib, attr.text)


def test_labels_json_matches_the_xml_declarations(cvat_export):
    _, out = cvat_export
    specs = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    xml_labels = declared_labels(parse_xml(out / "annotations.xml"))
    assert [s["name"] for s in specs] == [lab["name"] for lab in xml_labels]
    for s, lab in zip(specs, xml_labels):
        assert {a["name"]: a for a in s["attributes"]} == {a["name"]: a for a in lab["attributes"]}


def test_cvat_sdk_request_models_accept_every_label_box_and_attribute(cvat_export):
    require_module("cvat_sdk", "pip install cvat-sdk (it is in the test extra)")
    from cvat_sdk.api_client import models

    run, out = cvat_export
    root = parse_xml(out / "annotations.xml")
    specs = json.loads((out / "labels.json").read_text(encoding="utf-8"))

    # creating the task: the label constructor JSON as the API's request model
    labels = [
        models.PatchedLabelRequest(
            name=s["name"],
            color=s["color"],
            type=s["type"],
            attributes=[
                models.AttributeRequest(
                    name=a["name"],
                    mutable=a["mutable"],
                    input_type=models.InputTypeEnum(a["input_type"]),
                    default_value=a["default_value"],
                    values=list(a["values"]),
                )
                for a in s["attributes"]
            ],
        )
        for s in specs
    ]
    task = models.TaskWriteRequest(name=run.run_dir.name, labels=labels)
    assert [lab.name for lab in task.labels] == list(CLASSES)

    # the ids a new task hands out: labels in order, then attribute specs in order
    label_id: dict[str, int] = {}
    spec_id: dict[tuple[str, str], int] = {}
    next_spec = 1
    for n, s in enumerate(specs, start=1):
        label_id[s["name"]] = n
        for a in s["attributes"]:
            spec_id[(s["name"], a["name"])] = next_spec
            next_spec += 1

    shapes = []
    for im in root.findall("image"):
        for box in im.findall("box"):
            name = box.get("label")
            shapes.append(
                models.LabeledShapeRequest(
                    type=models.ShapeType("rectangle"),
                    frame=int(im.get("id")),
                    label_id=label_id[name],  # KeyError = CVAT's "not registered for this task"
                    points=[float(box.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")],
                    occluded=box.get("occluded") == "1",
                    outside=False,
                    z_order=int(box.get("z_order", "0")),
                    rotation=float(box.get("rotation", "0")),
                    source=box.get("source"),
                    attributes=[
                        models.AttributeValRequest(spec_id=spec_id[(name, a.get("name"))], value=a.text)
                        for a in box.findall("attribute")
                    ],
                )
            )
    data = models.LabeledDataRequest(version=0, tags=[], shapes=shapes, tracks=[])
    assert len(data.shapes) == sum(len(img.detections) for img in run.images)
    # the request serialises to the JSON the server gets, with every box's corners intact
    payload = data.to_dict()
    frames = {int(im.get("id")): im.get("name") for im in root.findall("image")}
    by_path = run.by_path()
    for s in payload["shapes"]:
        x1, y1, x2, y2 = s["points"]
        rec = by_path[frames[s["frame"]]]
        assert any(
            all(abs(a - b) <= BOX_TOL for a, b in zip((x1, y1, x2, y2), d.box)) and specs[s["label_id"] - 1]["name"] == d.label
            for d in rec.detections
        ), s


def test_datumaro_cvat_importer_reads_every_box_on_its_image(cvat_export):
    require_module("datumaro", "pip install datumaro (it is in the test extra)")
    from datumaro.components.annotation import AnnotationType, Bbox
    from datumaro.components.dataset import Dataset

    run, out = cvat_export
    ds = Dataset.import_from(str(out), "cvat")
    cats = ds.categories()[AnnotationType.label]
    assert [c.name for c in cats.items] == list(CLASSES)
    for c in cats.items:
        assert {"score", "objectness"} <= set(c.attributes), c
    by_path = run.by_path()
    seen = set()
    for item in ds:
        rel = PurePosixPath(Path(item.media.path).relative_to(out / "images")).as_posix()
        rec = by_path[rel]
        seen.add(rel)
        assert item.media.size == (rec.height, rec.width)
        boxes = [a for a in item.annotations if isinstance(a, Bbox)]
        assert len(boxes) == len(item.annotations) == len(rec.detections)
        remaining = list(rec.detections)
        for b in boxes:
            x, y, w, h = b.get_bbox()
            got = (x, y, x + w, y + h)
            label = cats[b.label].name
            hits = [
                d
                for d in remaining
                if d.label == label
                and all(abs(p - q) <= BOX_TOL for p, q in zip(got, d.box))
                and math.isclose(b.attributes["score"], d.score, abs_tol=SCORE_TOL)
                and math.isclose(b.attributes["objectness"], d.objectness, abs_tol=SCORE_TOL)
            ]
            assert len(hits) == 1, f"{rel}: datumaro box {label} {got} {b.attributes} matches {hits} of {remaining}"
            remaining.remove(hits[0])
    assert seen == set(by_path)
