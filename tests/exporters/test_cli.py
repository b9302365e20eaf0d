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


def test_formats_lists_the_built_ins_with_every_option():
    r = invoke("formats")
    assert r.exit_code == 0
    lines = [line for line in r.output.splitlines() if line and not line.startswith(" ")]
    assert [line.split()[0] for line in lines] == ["coco", "cvat", "labelstudio", "voc", "yolo", "yolo-seg"]
    assert all(line.endswith("[built-in]") for line in lines)
    options = [line.strip() for line in r.output.splitlines() if line.startswith(" ")]
    tolerance = "-O polygon_tolerance=PIXELS  [default: 1.0]  polygon simplification tolerance in pixels"
    assert options[0].startswith("-O coco_results=BOOLEAN  [default: false, flag --coco-results]  also write results-")
    assert options[1].startswith("-O segmentation=polygon|rle  [default: polygon]  how instance masks are written")
    assert options[2].startswith(tolerance)
    assert options[3].startswith("-O cvat_shapes=polygon|box  [default: polygon]  how a detection with a mask")
    assert options[4].startswith(tolerance)
    assert options[5].startswith('-O image_url_prefix=TEXT  [default: "", flag --image-url-prefix]  prefix of image URLs')
    assert options[6].startswith("-O shapes=box|polygon  [default: box]  how a detection with a mask is predicted")
    assert options[7].startswith(tolerance)
    assert options[8].startswith("-O voc_origin=one|zero  [default: one, flag --voc-origin]  pixel origin of bndbox")
    assert options[9].startswith("-O voc_masks=BOOLEAN  [default: true]  write SegmentationObject/SegmentationClass "
                                 "PNGs for objects with masks (false: boxes only); a PNG holds at most 254 objects")
    assert options[10].startswith("-O yolo_scores=BOOLEAN  [default: false, flag --yolo-scores]  add the score")
    assert options[11].startswith(tolerance)
    assert len(options) == 12


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
               "--classes", "person", "--classes", f"@{classes}", "-O", "voc-origin=zero", "-O", "coco.coco_results=1")
    assert r.exit_code == 0, r.output
    assert "4 boxes, 4 left out by filters, 3 classes" in r.output
    doc = _coco(tmp_path / "o")
    assert [c["name"] for c in doc["categories"]] == ["person", "salt & pepper, shaker", "zebra"]
    xml = (tmp_path / "o/voc/Annotations/cam1__0001.xml").read_text(encoding="utf-8")
    assert "<xmin>0</xmin>" in xml  # voc_origin=zero reached the VOC exporter
    assert (tmp_path / "o/coco/results-default.json").is_file()  # and coco_results=1 the COCO one


def test_a_declared_flag_and_its_dash_o_form_write_the_same_bytes(sample_run, tmp_path):
    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    by_flag = ["--coco-results", "--voc-origin", "zero", "--yolo-scores", "--image-url-prefix", "https://h/x/"]
    by_o = ["-O", "coco_results=true", "-O", "voc.voc_origin=zero", "-O", "yolo_scores=yes", "-O",
            "labelstudio.image-url-prefix=https://h/x/"]
    for name, extra in (("flags", by_flag), ("dash-o", by_o)):
        r = invoke("export", sample_run, "-f", "all", "-o", tmp_path / name, *extra)
        assert r.exit_code == 0, r.output
        assert "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT" not in r.output  # no setup note with a URL prefix
    assert files(tmp_path / "flags") == files(tmp_path / "dash-o")
    assert (tmp_path / "flags/coco/results-default.json").is_file()
    assert "https://h/x/cam1/0001.jpg" in (tmp_path / "flags/labelstudio/tasks.json").read_text(encoding="utf-8")
    assert (tmp_path / "flags/yolo/labels/train/cam1__0001.txt").read_text().split("\n")[0].count(" ") == 5


def test_label_studio_setup_is_the_exporters_note(sample_run, tmp_path):
    from autolabel.store import open_run

    root = open_run(sample_run).info().image_root
    r = invoke("export", sample_run, "-f", "labelstudio,coco", "-o", tmp_path)
    assert r.exit_code == 0, r.output
    notes = [line for line in r.output.splitlines() if "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT" in line]
    assert notes == [("labelstudio: start Label Studio with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true "
                      f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root.parent} and add a Local Storage with path {root} "
                      "(treat every file as a source: off; do not sync), then import tasks.json.")]


def test_the_cli_names_no_built_in_format():
    """Formats reach the command line only through the registry: no module of the export commands
    names one (or branches on one)."""
    import ast
    import re

    from autolabel import cli

    def code_of(path: Path) -> str:
        """The module's code without its docstrings (a command's help may name formats)."""
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                node.body = body[1:] or [ast.Pass()]
        return ast.unparse(tree)

    folder = Path(cli.__file__).parent
    for module in ("export.py", "formats.py", "annotate.py", "__init__.py"):
        assert not re.search(r"\b(coco|voc|yolo|cvat|labelstudio|label studio)\b", code_of(folder / module), re.IGNORECASE), module


@pytest.mark.parametrize("args, code, message", [
    (["-f", "cooc"], 1, "error: unknown format 'cooc'; available: coco, cvat, labelstudio, voc, yolo, yolo-seg"),
    (["-f", "coco", "--yolo-scores"], 1, "error: option 'yolo.yolo_scores' is for format 'yolo', which is not selected"),
    (["-f", "coco", "-O", "yolo_scores=1"], 1, "error: option 'yolo_scores' is not understood by coco (it belongs to yolo"),
    (["-f", "voc", "-O", "voc_origin=two"], 1, "error: format 'voc' option 'voc_origin': 'two' is not one of 'one', 'zero'."),
    (["-f", "coco", "-O", "coco_results=maybe"], 1, "error: format 'coco' option 'coco_results': 'maybe' is not a valid boolean"),
    (["-f", "coco", "-O", "voc.voc_origin=zero"], 1, "error: option 'voc.voc_origin' is for format 'voc', which is not selected"),
    (["-f", "coco", "-O", "coco.origin=zero"], 1, "error: format 'coco' has no option 'origin'; its options: coco_results"),
    (["-f", "coco", "--revision", "999-x"], 1, "has no revision '999-x'; revisions: 001-fiftyone"),
    (["-f", "coco", "--classes", "lion"], 1, "error: class(es) 'lion' are not in the run"),
    (["-f", "coco", "--original", "--revision", "001-fiftyone"], 2, "use either --original or --revision"),
    (["-f", "coco", "--copy-images", "--link-images"], 2, "use either --copy-images or --link-images"),
    (["-f", "voc", "--voc-origin", "two"], 2, "'two' is not one of 'one', 'zero'"),
    (["-f", "coco", "-O", "novalue"], 2, "expected NAME=VALUE or FORMAT.NAME=VALUE, got 'novalue'"),
])
def test_errors_are_one_line_with_exit_codes(sample_run, tmp_path, args, code, message):
    r = CliRunner().invoke(main, ["export", str(sample_run), "-o", str(tmp_path), *args])
    assert r.exit_code == code, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_not_a_run(tmp_path):
    r = CliRunner().invoke(main, ["export", str(tmp_path), "-f", "coco", "-o", str(tmp_path / "o")])
    assert r.exit_code == 1 and "is not an autolabel run" in r.output


# -- third-party plugins, installed the way pip would (dist-info with entry points) -----------
def readme_plugin() -> tuple[str, dict[str, str]]:
    """The docs' plugin example as written (docs/plugins.md): the Python module and its setup.cfg
    entry points."""
    import configparser
    import re

    section = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    ini = configparser.ConfigParser()
    ini.read_string(re.search(r"```ini\n(.*?)```", section, re.DOTALL).group(1))
    eps = dict(line.split(" = ") for line in ini["options.entry_points"]["autolabel.exporters"].strip().splitlines())
    return code, {k.strip(): v.strip() for k, v in eps.items()}


# A second package: a format declaring the README plugin's option name too, a flag, and a note.
OTHER = '''
"""Another third-party package."""
import click
from autolabel.export import Exporter, Option


class TsvBoxes(Exporter):
    name = "tsvboxes"
    description = "boxes as text"
    options = {
        "sep": Option("\\t", "field separator"),
        "header": Option(False, "write a header row", flag="--tsv-header"),
        "digits": Option(2, "decimals", type=click.IntRange(0, 6)),
    }

    def open(self):
        super().open()
        self._f = self.open_file(self.out_dir / "boxes.txt")
        if self.opts["header"]:
            self._f.write(self.opts["sep"].join(["path", "label", "x1"]) + "\\n")

    def write(self, image):
        for d in image.detections:
            self._f.write(self.opts["sep"].join([image.path, d.label, f"{d.box[0]:.{self.opts['digits']}f}"]) + "\\n")

    def close(self):
        self._f.close()
        return [self.out_dir / "boxes.txt"]

    def notes(self):
        return ["open boxes.txt in a spreadsheet"]


class NotAnExporter:
    pass
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """A site folder holding two third-party packages with their dist-info, as pip leaves them."""
    site = tmp_path_factory.mktemp("site")
    code, eps = readme_plugin()
    assert eps == {"csvboxes": "my_package.csv_exporter:CsvBoxes"}
    (site / "my_package").mkdir()
    (site / "my_package" / "__init__.py").write_text("", encoding="utf-8")
    (site / "my_package" / "csv_exporter.py").write_text(code, encoding="utf-8")
    dist = site / "my_package-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-package\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        "[autolabel.exporters]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()), encoding="utf-8")

    (site / "thirdparty_exporter.py").write_text(textwrap.dedent(OTHER), encoding="utf-8")
    dist = site / "thirdparty_exporter-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-exporter\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        "[autolabel.exporters]\ntsvboxes = thirdparty_exporter:TsvBoxes\nnotone = thirdparty_exporter:NotAnExporter\n",
        encoding="utf-8")
    return site


@pytest.fixture()
def installed(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plugin site on this process's sys.path: entry points are found through the dist-info."""
    monkeypatch.syspath_prepend(str(plugin_site))
    return plugin_site


@pytest.fixture(scope="module")
def plugin_env(plugin_site: Path) -> dict[str, str]:
    """The environment of a fresh ``python -m autolabel`` that sees the plugin site."""
    import os

    site = plugin_site
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(site)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autolabel", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_readme_plugin_as_written_from_the_command_line(plugin_env, sample_run, tmp_path):
    r = _cli(plugin_env, "formats")
    assert r.returncode == 0, r.stderr
    assert "csvboxes     one CSV row per box  [my-package 1.0]" in r.stdout  # what the README says it lists
    assert "    -O sep=TEXT  [default: ,]  field separator" in r.stdout
    assert "notone       [thirdparty-exporter 0.1] cannot be loaded" in r.stdout
    assert "is not an autolabel Exporter subclass" in r.stdout
    assert "tsvboxes     boxes as text  [thirdparty-exporter 0.1]" in r.stdout
    assert "-O header=BOOLEAN  [default: false, flag --tsv-header]  write a header row" in r.stdout
    assert "-O digits=INTEGER RANGE  [default: 2]  decimals" in r.stdout
    assert "coco" in r.stdout  # the built-ins are still there

    # the README's command: autolabel export RUN -f csvboxes -o OUT -O sep=';'
    r = _cli(plugin_env, "export", sample_run, "-f", "csvboxes", "-f", "yolo", "-o", tmp_path, "--original",
             "-O", "sep=;", "--copy-images")
    assert r.returncode == 0, r.stderr
    rows = (tmp_path / "csvboxes/boxes.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "cam1/0001.jpg;0;person;0.0;0.0;20.5;15.25;0.91"
    assert len(rows) == 8
    assert (tmp_path / "csvboxes/images/cam1/0001.jpg").is_file()  # place_image honours --copy-images
    assert (tmp_path / "yolo/data.yaml").is_file()



def test_a_plugin_that_is_not_an_exporter_is_one_clear_error(installed, sample_run, tmp_path):
    r = CliRunner().invoke(main, ["export", str(sample_run), "-f", "notone", "-o", str(tmp_path / "x")])
    assert r.exit_code == 1
    assert r.output.strip().startswith("error: format 'notone' (thirdparty_exporter:NotAnExporter, from "
                                       "thirdparty-exporter 0.1) is not an autolabel Exporter subclass")


def test_plugin_options_flags_and_notes_like_the_built_ins(installed, sample_run, tmp_path):
    def run(*args: str):
        return CliRunner().invoke(main, [str(a) for a in args])

    r = run("export", "--help")
    assert r.exit_code == 0 and "--tsv-header" in r.output and "tsvboxes: write a header row" in r.output

    # two selected formats declare "sep": bare is refused, qualified goes to one
    r = run("export", sample_run, "-f", "csvboxes,tsvboxes", "-o", tmp_path, "--original", "-O", "sep=|")
    assert r.exit_code == 1
    assert r.output.strip() == ("error: option 'sep' is declared by csvboxes and tsvboxes; "
                                "say which: csvboxes.sep=... or tsvboxes.sep=...")
    r = run("export", sample_run, "-f", "csvboxes,tsvboxes", "-o", tmp_path, "--original",
            "-O", "csvboxes.sep=|", "-O", "tsvboxes.sep=,", "--tsv-header", "-O", "digits=3")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "csvboxes/boxes.csv").read_text(encoding="utf-8").startswith("cam1/0001.jpg|0|person|")
    tsv = (tmp_path / "tsvboxes/boxes.txt").read_text(encoding="utf-8").splitlines()
    assert tsv[:2] == ["path,label,x1", "cam1/0001.jpg,person,0.000"]
    assert "tsvboxes: open boxes.txt in a spreadsheet" in r.output

    r = run("export", sample_run, "-f", "tsvboxes", "-o", tmp_path / "y", "-O", "digits=9")
    assert r.exit_code == 1
    assert r.output.strip() == "error: format 'tsvboxes' option 'digits': 9 is not in the range 0<=x<=6."
    assert not (tmp_path / "y").exists()


def test_the_readme_plugin_closes_its_file_when_an_export_fails(installed, sample_run, tmp_path, monkeypatch):
    """The README's example keeps a plain open() file in an attribute; abort() closes it."""
    from autolabel.export import Exporter, export, get_exporter

    cls = get_exporter("csvboxes")
    seen: list = []
    real_open = cls.open

    def spy_open(self) -> None:
        real_open(self)
        seen.append(self)

    monkeypatch.setattr(cls, "open", spy_open)
    def failing_write(self, image) -> None:
        raise OSError("quota exceeded")

    monkeypatch.setattr(cls, "write", failing_write)
    with pytest.raises(OSError, match="quota exceeded"):
        export(sample_run, ["csvboxes"], tmp_path)
    assert seen and seen[0]._f.closed and isinstance(seen[0], Exporter)
    assert list(tmp_path.iterdir()) == []
