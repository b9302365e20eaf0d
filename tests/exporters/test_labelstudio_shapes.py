"""``-O labelstudio.shapes=box|polygon``: a run with masks exported for a Label Studio object-detection
project (``RectangleLabels``, the default) or a segmentation project (``PolygonLabels``), checked
with label-studio-sdk's own ``LabelInterface`` in its interpreter, and read back by
``autolabel import labelstudio``."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.export import export
from autolabel.formats.labelstudio import FROM_NAME, percent_to_box, region_id
from autolabel.review.labelstudio import import_labelstudio
from autolabel.store import RunStore
from tests.exporters.masked_sample import CLASSES, SHAPES, build_masked_run, image_record
from tests.exporters.sample import ls_python

# Label Studio's own "Object Detection with Bounding Boxes" template, as a user creates the
# project: the config the predictions must show in, written here independently of the exporter.
DETECTION_TEMPLATE = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="label" toName="image">
{labels}
  </RectangleLabels>
</View>"""

SDK_SCRIPT = r"""
import json, sys
from label_studio_sdk.label_interface import LabelInterface

tasks = json.load(open(sys.argv[1], encoding="utf-8"))
out = {}
for name, path in [("written", sys.argv[2]), ("template", sys.argv[3])]:
    li = LabelInterface(open(path, encoding="utf-8").read())
    li.validate()
    out[name] = {"controls": sorted([c.name, c.tag, list(c.labels)] for c in li.controls),
                 "errors": [e for t in tasks for p in t["predictions"] for e in li.validate_prediction(p, return_errors=True)]}
print(json.dumps(out))
"""


def sdk_check(folder: Path, tmp_path: Path) -> dict:
    """What label-studio-sdk says of the export's predictions, against the config written with
    them and against Label Studio's object-detection template with the run's classes."""
    from xml.sax.saxutils import quoteattr

    template = tmp_path / "detection_template.xml"
    labels = "\n".join(f"    <Label value={quoteattr(c)}/>" for c in CLASSES)
    template.write_text(DETECTION_TEMPLATE.format(labels=labels), encoding="utf-8")
    proc = subprocess.run([ls_python(), "-c", SDK_SCRIPT, str(folder / "tasks.json"), str(folder / "labeling_config.xml"),
                           str(template)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tasks_of(folder: Path) -> list[dict]:
    return json.loads((folder / "tasks.json").read_text(encoding="utf-8"))


@pytest.fixture
def masked(tmp_path: Path) -> Path:
    return build_masked_run(tmp_path / "run")


def test_default_is_one_box_per_detection_that_a_detection_project_shows(masked, tmp_path):
    export(masked, "labelstudio", tmp_path / "out")
    folder = tmp_path / "out/labelstudio"
    masked_ids = set()
    for t in tasks_of(folder):
        path = t["data"]["path"]
        w, h, _ = SHAPES[path]
        result = t["predictions"][0]["result"]
        dets = image_record(path).detections
        masked_ids |= {d.id for d in dets if d.mask is not None}
        assert [r["id"] for r in result] == [region_id(d.id) for d in dets]
        for r, d in zip(result, dets):
            assert r["type"] == "rectanglelabels" and r["from_name"] == FROM_NAME
            assert r["value"]["rectanglelabels"] == [d.label] and r["score"] == d.score
            box, rotated = percent_to_box(r["value"], w, h)
            assert not rotated and box == pytest.approx(d.box, abs=1e-9)
    assert len(masked_ids) == 5  # the boxes of masked detections are what was written
    config = (folder / "labeling_config.xml").read_text(encoding="utf-8")
    assert "PolygonLabels" not in config
    sdk = sdk_check(folder, tmp_path)
    assert sdk["written"]["controls"] == sdk["template"]["controls"] == [["label", "RectangleLabels", CLASSES]]
    assert sdk["written"]["errors"] == [] and sdk["template"]["errors"] == []


def test_polygon_mode_is_for_a_segmentation_project_and_a_detection_project_refuses_it(masked, tmp_path):
    export(masked, "labelstudio", tmp_path / "out", shapes="polygon")
    folder = tmp_path / "out/labelstudio"
    types = [r["type"] for t in tasks_of(folder) for r in t["predictions"][0]["result"]]
    assert types.count("rectanglelabels") == 1  # a-3, the one detection without a mask
    assert types.count("polygonlabels") == 6  # five masks, one of them in two parts
    sdk = sdk_check(folder, tmp_path)
    assert sdk["written"]["controls"] == [["label", "RectangleLabels", CLASSES], ["polygon", "PolygonLabels", CLASSES]]
    assert sdk["written"]["errors"] == []
    # the problem the default avoids: polygons are not predictions a RectangleLabels project can show
    errors = sdk["template"]["errors"]
    assert len(errors) == 6 and all("'from_name' 'polygon' not found" in e for e in errors)


def test_the_option_on_the_command_line(masked, tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["export", str(masked), "-f", "labelstudio", "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert "5 detection(s) with a mask are predicted as their boxes" in r.output
    assert "-O labelstudio.shapes=polygon" in r.output
    r = runner.invoke(main, ["export", str(masked), "-f", "labelstudio,coco", "-o", str(tmp_path / "b"),
                             "-O", "labelstudio.shapes=polygon"])
    assert r.exit_code == 0, r.output
    assert "PolygonLabels" in (tmp_path / "b/labelstudio/labeling_config.xml").read_text(encoding="utf-8")
    assert "predicted as their boxes" not in r.output
    r = runner.invoke(main, ["export", str(masked), "-f", "labelstudio", "-o", str(tmp_path / "c"),
                             "-O", "labelstudio.shapes=circle"])
    assert r.exit_code != 0
    assert "shapes" in r.output and "box" in r.output and "polygon" in r.output
    assert not (tmp_path / "c/labelstudio").exists()


def _accepted(folder: Path, tmp_path: Path, edit=None) -> Path:
    """A Label Studio export in which every prediction was accepted as it is (then ``edit`` ed)."""
    tasks = tasks_of(folder)
    for n, t in enumerate(tasks, 1):
        t["id"] = n
        t["annotations"] = [{"id": n, "was_cancelled": False, "updated_at": "2024-05-01T10:00:00Z",
                             "result": copy.deepcopy(t["predictions"][0]["result"])}]
    if edit is not None:
        edit(tasks)
    p = tmp_path / f"project-export-{len(list(tmp_path.glob('project-export-*')))}.json"
    p.write_text(json.dumps(tasks), encoding="utf-8")
    return p


@pytest.mark.parametrize("shapes", ["box", "polygon"])
def test_import_labelstudio_reads_both(masked, tmp_path, shapes):
    export(masked, "labelstudio", tmp_path / "out", shapes=shapes)
    folder = tmp_path / "out/labelstudio"
    store = RunStore(masked)
    before = {i.path: i for i in store.iter_images("original")}
    res = import_labelstudio(store, _accepted(folder, tmp_path), dry_run=True)
    c = res.corrections
    assert (c.kept, c.moved, c.relabeled, c.rejected, c.added) == (6, 0, 0, 0, 0)
    for img in res.images:  # boxes, labels and exact masks as they were: accepting changes nothing
        assert img.detections == tuple(d.with_(reviewed=True) for d in before[img.path].detections)


def test_import_reads_a_moved_and_relabelled_box(masked, tmp_path):
    export(masked, "labelstudio", tmp_path / "out")
    w, h, _ = SHAPES["a.jpg"]

    def edit(tasks):
        result = next(t for t in tasks if t["data"]["path"] == "a.jpg")["annotations"][0]["result"]
        r = next(r for r in result if r["id"] == region_id("a-0"))
        r["value"]["x"] += 10.0  # percent of the width
        r["value"]["rectanglelabels"] = ["zebra"]

    res = import_labelstudio(RunStore(masked), _accepted(tmp_path / "out/labelstudio", tmp_path, edit), dry_run=True)
    c = res.corrections
    assert (c.kept, c.moved, c.relabeled) == (5, 1, 1)
    det = next(d for img in res.images if img.path == "a.jpg" for d in img.detections if d.id == "a-0")
    was = image_record("a.jpg").detections[0].box
    assert det.label == "zebra"
    assert det.box == pytest.approx((was[0] + 0.1 * w, was[1], was[2] + 0.1 * w, was[3]), abs=1e-6)
