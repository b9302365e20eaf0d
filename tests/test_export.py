"""The exporter seam: registry over entry points, options, filters, and the driver's atomic,
deterministic writing."""

from __future__ import annotations

import json
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import autolabel.export as ex
from autolabel.errors import ExportError
from autolabel.export import Exporter, Option, export, filter_image, get_exporter, list_exporters, run_export
from autolabel.store import RunStore
from autolabel.types import Detection, ImageAnnotations
from tests.exporters.sample import IMAGES, build_run, image_root_of

BUILT_INS = ["coco", "cvat", "labelstudio", "voc", "yolo"]


class FailingExporter(Exporter):
    """Writes a file per image and fails on the third image."""

    name = "failing"

    def write(self, image: ImageAnnotations) -> None:
        n = len(list(self.out_dir.iterdir()))
        if n == 2:
            raise RuntimeError("disk on fire")
        (self.out_dir / f"{n}.txt").write_text(image.path)


class NotAnExporter:
    pass


def _with_extra_entry_points(monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    real = ex._entry_points()
    fake = [EntryPoint(name=n, value=v, group=ex.ENTRY_POINT_GROUP) for n, v in extra.items()]
    monkeypatch.setattr(ex, "_entry_points", lambda: real + fake)


def _all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- registry ---------------------------------------------------------------------------------
def test_built_ins_are_registered_through_entry_points_and_listing_imports_nothing(monkeypatch):
    for name in BUILT_INS:
        monkeypatch.delitem(sys.modules, f"exporters.{name}", raising=False)
    assert list_exporters() == BUILT_INS
    assert not any(f"exporters.{name}" in sys.modules for name in BUILT_INS)
    eps = ex.exporter_entry_points()
    assert {n: ex.entry_point_origin(ep) for n, ep in eps.items()} == {n: "built-in" for n in BUILT_INS}
    cls = get_exporter("coco")
    assert issubclass(cls, Exporter) and cls.name == "coco" and "exporters.coco" in sys.modules


def test_every_built_in_names_itself_and_describes_itself():
    for name in BUILT_INS:
        cls = get_exporter(name)
        assert cls.name == name and cls.description


def test_unknown_format_lists_the_available_ones():
    with pytest.raises(ExportError, match=r"unknown format 'cooc'; available: coco, cvat, labelstudio, voc, yolo"):
        get_exporter("cooc")


def test_plugin_that_is_not_an_exporter(monkeypatch):
    _with_extra_entry_points(monkeypatch, notone="tests.test_export:NotAnExporter", broken="no_such_module_xyz:Thing")
    assert "notone" in list_exporters() and "broken" in list_exporters()
    with pytest.raises(ExportError, match="'notone'.*is not an autolabel Exporter subclass"):
        get_exporter("notone")
    with pytest.raises(ExportError, match="'broken'.*failed to load: ModuleNotFoundError"):
        get_exporter("broken")


# -- options and filters ----------------------------------------------------------------------
@pytest.mark.parametrize("opt, given, expected", [
    (Option(False), "true", True), (Option(False), "0", False), (Option(True), False, False),
    (Option(1), "3", 3), (Option(0.5), "0.25", 0.25), (Option("one", choices=("one", "zero")), "zero", "zero"),
])
def test_option_converts(opt, given, expected):
    assert opt.convert("x", given) == expected


@pytest.mark.parametrize("opt, given, match", [
    (Option(False), "maybe", "expects a bool"), (Option(1), "x", "expects a int"),
    (Option("one", choices=("one", "zero")), "two", "must be one of 'one', 'zero'"),
])
def test_option_rejects(opt, given, match):
    with pytest.raises(ExportError, match=match):
        opt.convert("x", given)


def test_exporter_rejects_options_it_does_not_declare(tmp_path):
    run = RunStore(build_run(tmp_path)).info()
    with pytest.raises(ExportError, match="does not take option.*voc_origin"):
        get_exporter("coco")(tmp_path / "o", run, voc_origin="zero")


def test_filter_image():
    img = ImageAnnotations("a.jpg", 10, 10, (
        Detection(id="a-0", box=(0, 0, 5, 5), label="cat", score=0.9, objectness=0.5),
        Detection(id="a-1", box=(2, 2, 10.0005, 9), label="cat", score=0.5, objectness=0.5),   # clipped
        Detection(id="a-2", box=(1, 1, 4, 4), label="dog", score=0.95, objectness=0.5),       # class left out
        Detection(id="a-3", box=(1, 1, 4, 4), label="cat", score=0.05, objectness=0.5),       # below min score
        Detection(id="a-4", box=(10.0002, 1, 10.0009, 4), label="cat", score=0.9, objectness=0.5),  # empty once clipped
    ))
    out, dropped = filter_image(img, frozenset({"cat"}), 0.1)
    assert [d.id for d in out.detections] == ["a-0", "a-1"] and dropped == 3
    assert out.detections[1].box == (2.0, 2.0, 10.0, 9.0)
    same, zero = filter_image(img.__class__("b.jpg", 10, 10, img.detections[:1]), frozenset({"cat"}), 0.0)
    assert zero == 0 and same.detections == img.detections[:1]


# -- driver -----------------------------------------------------------------------------------
@pytest.fixture()
def run(tmp_path: Path) -> Path:
    return build_run(tmp_path / "src")


def _coco(out: Path) -> dict:
    return json.loads((out / "coco/annotations/instances_default.json").read_text(encoding="utf-8"))


def test_latest_revision_by_default_original_on_request(run, tmp_path):
    report = run_export(run, "coco", tmp_path / "a")
    assert report.revision == "001-fiftyone"
    doc = _coco(tmp_path / "a")
    cam2 = next(i["id"] for i in doc["images"] if i["file_name"] == "cam2/0001.jpg")
    assert [a["category_id"] for a in doc["annotations"] if a["image_id"] == cam2] == [1]  # corrected to "person"
    assert run_export(run, "coco", tmp_path / "b", revision="original").revision == "original"
    doc = _coco(tmp_path / "b")
    assert len([a for a in doc["annotations"] if a["image_id"] == cam2]) == 2
    assert run_export(run, "coco", tmp_path / "c", revision="001-fiftyone").revision == "001-fiftyone"


def test_min_score_and_class_subset(run, tmp_path):
    report = run_export(run, "coco", tmp_path, revision="original", min_score=0.1,
                        classes=["traffic light", "person"])
    doc = _coco(tmp_path)
    assert [c["name"] for c in doc["categories"]] == ["person", "traffic light"]  # the run's order
    names = {c["id"]: c["name"] for c in doc["categories"]}
    got = sorted((names[a["category_id"]], a["score"]) for a in doc["annotations"])
    assert got == [("person", 0.5), ("person", 0.91), ("traffic light", 0.25), ("traffic light", 0.777)]
    assert report.boxes == 4 and report.dropped == 4 and report.images == len(IMAGES)


def test_bad_requests_are_clear(run, tmp_path):
    with pytest.raises(ExportError, match="class.*'lion'.*not in the run; its classes: 'person'"):
        export(run, "coco", tmp_path, classes=["lion"])
    with pytest.raises(ExportError, match="option 'voc_origin' is not understood by coco.*belongs to voc"):
        export(run, "coco", tmp_path, voc_origin="zero")
    with pytest.raises(ExportError, match="min_score must be in"):
        export(run, "coco", tmp_path, min_score=2)
    with pytest.raises(ExportError, match="split must be a plain name"):
        export(run, "coco", tmp_path, split="a/b")
    with pytest.raises(ExportError, match="choose one of copy_images"):
        export(run, "coco", tmp_path, copy_images=True, link_images=True)
    assert not list(tmp_path.glob(".*"))


def test_missing_image_is_named(run, tmp_path):
    (image_root_of(run) / "empty.png").unlink()
    with pytest.raises(ExportError, match=r"image .*empty\.png not found"):
        export(run, "voc", tmp_path / "out", copy_images=True)
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written


def test_same_run_same_bytes_and_replacement_in_place(run, tmp_path):
    first = export(run, "all", tmp_path / "a", coco_results=True, copy_images=True)
    export(run, "all", tmp_path / "b", coco_results=True, copy_images=True)
    assert sorted(first) == BUILT_INS
    assert all(p.exists() and tmp_path / "a" in p.parents for paths in first.values() for p in paths)
    a, b = _all_files(tmp_path / "a"), _all_files(tmp_path / "b")
    assert a == b and len(a) > 30
    # exporting again into the same folder replaces each format and leaves no temporary folder
    export(run, "all", tmp_path / "a", coco_results=True, copy_images=True)
    assert _all_files(tmp_path / "a") == b
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == BUILT_INS


def test_a_failed_export_keeps_the_previous_one(run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    export(run, ["coco", "yolo"], out)
    before = _all_files(out)
    _with_extra_entry_points(monkeypatch, failing="tests.test_export:FailingExporter")
    with pytest.raises(RuntimeError, match="disk on fire"):
        export(run, ["coco", "failing"], out, revision="original")
    assert _all_files(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["coco", "yolo"]


def test_empty_run_exports_every_format(tmp_path):
    store = RunStore(tmp_path / "run")
    store.write_manifest({"image_root": str(tmp_path), "classes": ["person"], "config": {}})
    store.prediction_writer().close()
    files = export(store, "all", tmp_path / "out")
    assert sorted(files) == BUILT_INS
    doc = _coco(tmp_path / "out")
    assert doc["images"] == [] and doc["annotations"] == [] and doc["categories"][0]["name"] == "person"
    assert json.loads((tmp_path / "out/labelstudio/tasks.json").read_text()) == []


def _dead_pid() -> int:
    import subprocess

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_killed_export_is_recovered_by_the_next_one(run, tmp_path):
    import subprocess

    out = tmp_path / "out"
    export(run, ["coco"], out)
    previous = _all_files(out / "coco")
    dead = _dead_pid()
    # Killed while replacing: the older export moved aside, the new one half-written.
    (out / "coco").rename(out / f".coco.old-{dead}-abc")
    (out / f".coco.tmp-{dead}-def").mkdir()
    (out / f".coco.tmp-{dead}-def" / "annotations.json").write_text("{half")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / f".coco.tmp-{live.pid}-ghi").mkdir()  # another export still running
        (out / ".coco.tmp-nopid").mkdir()  # made by an older version: not ours to judge
        restored = ex.recover_interrupted(out, "coco")
        assert [p.name for p in restored] == [f".coco.old-{dead}-abc", f".coco.tmp-{dead}-def"]
        assert _all_files(out / "coco") == previous  # the user's export is back where it was
        assert sorted(p.name for p in out.iterdir()) == [f".coco.tmp-{live.pid}-ghi", ".coco.tmp-nopid", "coco"]
        export(run, ["coco"], out)
        assert (out / f".coco.tmp-{live.pid}-ghi").is_dir()
    finally:
        live.kill()
        live.wait()
