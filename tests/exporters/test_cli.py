"""``autolabel export`` and ``autolabel formats``: exit codes, output, options; a third-party
exporter installed through entry-point metadata and used from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from tests.exporters.sample import IMAGES, RUN_CLASSES

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _coco(out: Path) -> dict:
    return json.loads((out / "coco/annotations/instances_default.json").read_text(encoding="utf-8"))


def test_formats_lists_the_built_ins():
    r = invoke("formats")
    assert r.exit_code == 0
    lines = [line for line in r.output.splitlines() if line and not line.startswith(" ")]
    assert [line.split()[0] for line in lines] == ["coco", "cvat", "labelstudio", "voc", "yolo"]
    assert all(line.endswith("[built-in]") for line in lines)
    assert "voc_origin (one|zero)" in r.output and "yolo_scores" in r.output


def test_export_several_formats(sample_run, tmp_path):
    r = invoke("export", sample_run, "-f", "coco", "-f", "yolo,voc", "-o", tmp_path, "--copy-images")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "revision: 001-fiftyone (corrected)"
    assert f"{len(IMAGES)} images, 7 boxes, {len(RUN_CLASSES)} classes" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coco", "voc", "yolo"]
    assert (tmp_path / "yolo/images/train/cam1__0001.jpg").is_file()
    assert f"coco: {tmp_path / 'coco'}" in r.output and "  annotations/instances_default.json" in r.output


def test_original_and_named_revisions(sample_run, tmp_path):
    r = invoke("export", sample_run, "-f", "coco", "-o", tmp_path / "o", "--original")
    assert r.exit_code == 0 and r.output.startswith("revision: original")
    assert len(_coco(tmp_path / "o")["annotations"]) == 8
    r = invoke("export", sample_run, "-f", "coco", "-o", tmp_path / "r", "--revision", "001-fiftyone")
    assert r.exit_code == 0 and r.output.startswith("revision: 001-fiftyone")
    assert len(_coco(tmp_path / "r")["annotations"]) == 7


def test_filters_and_format_options(sample_run, tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("salt & pepper, shaker\n\nzebra\n", encoding="utf-8")
    r = invoke("export", sample_run, "-f", "coco,voc", "-o", tmp_path / "o", "--original", "--min-score", "0.1",
               "--classes", "person", "--classes", f"@{classes}", "-O", "voc-origin=zero")
    assert r.exit_code == 0, r.output
    assert "4 boxes, 4 left out by filters, 3 classes" in r.output
    doc = _coco(tmp_path / "o")
    assert [c["name"] for c in doc["categories"]] == ["person", "salt & pepper, shaker", "zebra"]
    xml = (tmp_path / "o/voc/Annotations/cam1__0001.xml").read_text(encoding="utf-8")
    assert "<xmin>0</xmin>" in xml  # voc_origin=zero reached the VOC exporter


@pytest.mark.parametrize("args, code, message", [
    (["-f", "cooc"], 1, "error: unknown format 'cooc'; available: coco, cvat, labelstudio, voc, yolo"),
    (["-f", "coco", "--yolo-scores"], 1, "error: option 'yolo_scores' is not understood by coco (it belongs to yolo"),
    (["-f", "coco", "--revision", "999-x"], 1, "has no revision '999-x'; revisions: 001-fiftyone"),
    (["-f", "coco", "--classes", "lion"], 1, "error: class(es) 'lion' are not in the run"),
    (["-f", "coco", "--original", "--revision", "001-fiftyone"], 2, "use either --original or --revision"),
    (["-f", "coco", "--copy-images", "--link-images"], 2, "use either --copy-images or --link-images"),
    (["-f", "voc", "--voc-origin", "two"], 2, "'two' is not one of 'one', 'zero'"),
    (["-f", "coco", "-O", "novalue"], 2, "expected KEY=VALUE"),
])
def test_errors_are_one_line_with_exit_codes(sample_run, tmp_path, args, code, message):
    r = CliRunner().invoke(main, ["export", str(sample_run), "-o", str(tmp_path), *args])
    assert r.exit_code == code, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_not_a_run(tmp_path):
    r = CliRunner().invoke(main, ["export", str(tmp_path), "-f", "coco", "-o", str(tmp_path / "o")])
    assert r.exit_code == 1 and "is not an autolabel run" in r.output


# -- a third-party plugin, installed the way pip would (dist-info with entry points) ----------
PLUGIN = '''
"""A tiny third-party exporter: one CSV row per box."""
import csv
from autolabel.export import Exporter, Option


class CsvBoxes(Exporter):
    name = "csvboxes"
    description = "one CSV row per box"
    options = {"sep": Option(",", "field separator")}

    def open(self):
        super().open()
        self._f = open(self.out_dir / "boxes.csv", "w", newline="", encoding="utf-8")
        self._w = csv.writer(self._f, delimiter=self.opts["sep"], lineterminator="\\n")

    def write(self, image):
        for d in image.detections:
            self._w.writerow([image.path, self.run.class_id(d.label), d.label, *(f"{v:.2f}" for v in d.box), d.score])

    def close(self):
        self._f.close()
        return [self.out_dir / "boxes.csv"]


class NotAnExporter:
    pass
'''


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    import os

    site = tmp_path_factory.mktemp("site")
    (site / "thirdparty_exporter.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    dist = site / "thirdparty_exporter-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-exporter\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        "[autolabel.exporters]\ncsvboxes = thirdparty_exporter:CsvBoxes\nnotone = thirdparty_exporter:NotAnExporter\n",
        encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(site)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autolabel", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=120)


def test_third_party_exporter_from_the_command_line(plugin_env, sample_run, tmp_path):
    r = _cli(plugin_env, "formats")
    assert r.returncode == 0, r.stderr
    assert "csvboxes" in r.stdout and "one CSV row per box  [thirdparty-exporter 0.1]" in r.stdout
    assert "notone" in r.stdout and "is not an autolabel Exporter subclass" in r.stdout
    assert "coco" in r.stdout  # the built-ins are still there

    r = _cli(plugin_env, "export", sample_run, "-f", "csvboxes", "-f", "yolo", "-o", tmp_path, "--original",
             "-O", "sep=;")
    assert r.returncode == 0, r.stderr
    rows = (tmp_path / "csvboxes/boxes.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "cam1/0001.jpg;0;person;0.00;0.00;20.50;15.25;0.91"
    assert len(rows) == 8
    assert (tmp_path / "yolo/data.yaml").is_file()

    r = _cli(plugin_env, "export", sample_run, "-f", "notone", "-o", tmp_path / "x")
    assert r.returncode == 1
    assert r.stderr.strip().startswith("error: format 'notone' (thirdparty_exporter:NotAnExporter, from "
                                       "thirdparty-exporter 0.1) is not an autolabel Exporter subclass")
