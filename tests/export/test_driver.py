"""The export driver: filters, options assigned per format, the atomic and deterministic
writing, and the clean-up on every failure (exporters aborted, scratch folders removed)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

import autolabel.export as ex
from autolabel.errors import ExportError, FormatLimitError
from autolabel.export import Exporter, export, filter_image, resolve_formats, run_export
from autolabel.types import Detection, ImageAnnotations
from tests.export.plugins import OPENED, with_plugins
from tests.exporters.sample import IMAGES, build_run, image_root_of
from tests.runs import write_run

BUILT_INS = ["coco", "cvat", "labelstudio", "voc", "yolo", "yolo-seg"]


def _all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


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
    with_plugins(monkeypatch, failing="tests.export.plugins:FailingExporter")
    with pytest.raises(RuntimeError, match="disk on fire"):
        export(run, ["coco", "failing"], out, revision="original")
    assert _all_files(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["coco", "yolo"]


def test_empty_run_exports_every_format(tmp_path):
    store = write_run(tmp_path / "run", [], image_root=tmp_path, classes=["person"])
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


# -- failures: every opened exporter aborted, nothing half-written left ------------------------
@pytest.fixture()
def aborted(monkeypatch: pytest.MonkeyPatch) -> list[Exporter]:
    """Every exporter instance whose abort() the driver calls, in call order."""
    seen: list[Exporter] = []
    real = Exporter.abort

    def spy(self: Exporter) -> None:
        seen.append(self)
        real(self)

    monkeypatch.setattr(Exporter, "abort", spy)
    OPENED.clear()
    return seen


def _left_behind(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def test_a_plugin_failing_in_write_is_aborted_with_every_other_format(run, tmp_path, monkeypatch, aborted):
    out = tmp_path / "out"
    export(run, ["labelstudio"], out)
    before = _all_files(out)
    with_plugins(monkeypatch, leaky="tests.export.plugins:LeakyExporter")
    with pytest.raises(OSError, match="disk full"):
        export(run, ["coco", "labelstudio", "leaky"], out, coco_results=True)
    assert [type(e).name for e in aborted] == ["coco", "labelstudio", "leaky"]
    leaky_file = OPENED[0]
    assert leaky_file.closed  # the plugin's handle, opened with open_file()
    coco, ls = aborted[0], aborted[1]
    assert coco._images.f.closed and coco._anns.f.closed and coco._results.f.closed
    assert ls._f.closed
    assert not Path(leaky_file.name).exists()  # its half-written file went with the scratch folder
    assert _left_behind(out) == ["labelstudio"] and _all_files(out) == before  # the older export untouched


@pytest.mark.parametrize("fail_at", [2, 0])
def test_a_format_that_cannot_carry_an_image_fails_alone(run, tmp_path, monkeypatch, aborted, fail_at):
    """A FormatLimitError (in write or close) drops that format; the others are written, and
    export() raises it afterwards, naming the format and what was written."""
    out = tmp_path / "out"
    with_plugins(monkeypatch, limited="tests.export.plugins:LimitedExporter")
    report = run_export(run, ["coco", "limited", "labelstudio"], out, fail_at=fail_at)
    assert [type(e).name for e in aborted] == ["limited"] and OPENED[0].closed
    assert list(report.failed) == ["limited"] and list(report.dirs) == ["coco", "labelstudio"]
    assert _left_behind(out) == ["coco", "labelstudio"]  # no scratch folder of the failed format
    why = f"{sorted(IMAGES)[1]}: too much for this format" if fail_at else "the class list is too long for this format"
    with pytest.raises(FormatLimitError, match=rf"^limited: {re.escape(why)} \(coco written\)$"):
        export(run, ["coco", "limited"], out, fail_at=fail_at)


def test_a_failing_open_is_aborted_too(run, tmp_path, monkeypatch, aborted):
    with_plugins(monkeypatch, leaky="tests.export.plugins:LeakyExporter")
    with pytest.raises(PermissionError):
        export(run, ["cvat", "leaky"], tmp_path / "out", format_options={"fail_at": "-1"})
    assert [type(e).name for e in aborted] == ["cvat", "leaky"]
    assert aborted[0]._body.closed and OPENED[0].closed
    assert _left_behind(tmp_path / "out") == []


def test_keyboard_interrupt_in_close_aborts_plain_file_handles(run, tmp_path, monkeypatch, aborted):
    with_plugins(monkeypatch, rawfile="tests.export.plugins:RawFileExporter")
    with pytest.raises(KeyboardInterrupt):
        export(run, ["voc", "rawfile"], tmp_path / "out")
    assert [type(e).name for e in aborted] == ["voc", "rawfile"]
    assert OPENED[0].closed and aborted[0]._list.closed and aborted[0]._names._f.closed
    assert _left_behind(tmp_path / "out") == []


def test_an_abort_that_raises_does_not_hide_the_error_or_stop_the_clean_up(run, tmp_path, monkeypatch, caplog):
    def broken_abort(self: Exporter) -> None:
        raise RuntimeError("abort broke")

    with_plugins(monkeypatch, failing="tests.export.plugins:FailingExporter")
    monkeypatch.setattr(Exporter, "abort", broken_abort)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export(run, ["yolo", "failing"], tmp_path / "out")
    assert _left_behind(tmp_path / "out") == [] and "abort() failed: RuntimeError: abort broke" in caplog.text


# -- format options ---------------------------------------------------------------------------
def test_format_options_by_bare_or_qualified_name(run, tmp_path, monkeypatch):
    with_plugins(monkeypatch, leaky="tests.export.plugins:LeakyExporter", shared="tests.export.plugins:SharedNameExporter")
    with pytest.raises(ExportError, match=r"option 'fail_at' is declared by leaky and shared; say which: leaky.fail_at="):
        resolve_formats(["leaky", "shared"], {"fail_at": "0"})
    plan = resolve_formats("leaky,shared", {"leaky.fail_at": "0", "shared.fail_at": "3", "level": "7"})
    assert {n: opts for n, (_, opts) in plan.items()} == {"leaky": {"fail_at": 0}, "shared": {"fail_at": 3, "level": 7}}
    export(run, ["leaky", "shared"], tmp_path, format_options={"leaky.fail_at": "0", "shared.fail_at": "3", "level": "7"})
    assert (tmp_path / "shared/opts.txt").read_text() == "3 7\n"
    assert len((tmp_path / "leaky/rows.txt").read_text().splitlines()) == len(IMAGES)
    with pytest.raises(ExportError, match="format 'voc' option 'voc_origin': 'two' is not one of 'one', 'zero'"):
        export(run, "voc", tmp_path / "x", format_options={"voc.voc_origin": "two"})
    with pytest.raises(ExportError, match="option 'yolo.yolo_scores' is for format 'yolo', which is not selected"):
        export(run, "voc", tmp_path / "x", format_options={"yolo.yolo_scores": "true"})
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_notes_come_from_the_exporter(run, tmp_path):
    report = run_export(run, ["labelstudio", "coco"], tmp_path / "a")
    root = image_root_of(run)
    assert list(report.notes) == ["labelstudio"]
    (line,) = report.notes["labelstudio"]
    assert f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root.parent} " in line and f"Local Storage with path {root} " in line
    report = run_export(run, "labelstudio", tmp_path / "b", format_options={"image_url_prefix": "https://h/i/"})
    assert report.notes == {}
    tasks = json.loads((tmp_path / "b/labelstudio/tasks.json").read_text(encoding="utf-8"))
    assert tasks[0]["data"]["image"].startswith("https://h/i/")
