"""The run store: append, torn-line repair, dedupe + sorted reads, revisions, the lock."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from autolabel.errors import RunError, RunLockedError
from autolabel.store import RunStore, open_run
from autolabel.store.jsonl import repair_jsonl
from autolabel.types import Detection, ImageAnnotations, ImageFailure


def rec(path: str, n: int = 1, label: str = "cat") -> ImageAnnotations:
    dets = tuple(Detection(f"{Path(path).stem}-{i}", (i, i, i + 10, i + 10), label, 0.5, 0.5) for i in range(n))
    return ImageAnnotations(path, 100, 100, dets)


def test_reads_every_image_once_sorted_last_wins(make_run) -> None:
    s = make_run([rec("b.jpg"), rec("a.jpg"), rec("b.jpg", 3)])
    imgs = list(s.iter_images())
    assert [i.path for i in imgs] == ["a.jpg", "b.jpg"]
    assert len(imgs[1].detections) == 3


def test_torn_last_line_is_repaired_on_append_and_ignored_on_read(make_run) -> None:
    s = make_run([rec("a.jpg"), rec("b.jpg")])
    with open(s.predictions_path, "a") as f:
        f.write(json.dumps(rec("c.jpg").to_dict())[:25])  # a kill -9 mid-write
    assert [i.path for i in s.iter_images()] == ["a.jpg", "b.jpg"]
    assert s.done_paths() == {"a.jpg", "b.jpg"}
    with s.prediction_writer() as w:  # opening for append cuts the torn tail
        w.append(rec("c.jpg").to_dict())
    lines = s.predictions_path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)
    assert repair_jsonl(s.predictions_path) is False


def test_corrupt_middle_line_is_an_error_naming_the_line(make_run) -> None:
    s = make_run([rec("a.jpg")])
    with open(s.predictions_path, "a") as f:
        f.write("{not json}\n")
        f.write(json.dumps(rec("b.jpg").to_dict()) + "\n")
    with pytest.raises(RunError, match="line 2 is not valid JSON"):
        list(s.iter_images())


def test_failures_and_done_paths(make_run) -> None:
    s = make_run([rec("a.jpg")])
    with s.failure_writer() as w:
        w.append(ImageFailure("bad.jpg", "empty file (0 bytes)").to_dict())
    assert s.done_paths() == {"a.jpg", "bad.jpg"}
    assert [f.path for f in s.iter_failures()] == ["bad.jpg"]


def test_info_open_vocabulary_and_declared_classes(make_run) -> None:
    s = make_run([rec("a.jpg", label="tabby"), rec("b.jpg", label="espresso")])
    assert s.info().classes == ("espresso", "tabby")
    s2 = make_run([rec("a.jpg", label="cat")], name="x", classes=["dog", "cat"])
    assert s2.info().classes == ("dog", "cat")


def test_revisions_never_touch_the_original(make_run) -> None:
    s = make_run([rec("a.jpg", 2)])
    before = s.predictions_path.read_bytes()
    fixed = rec("a.jpg", 1, label="dog")
    name = s.write_revision("fiftyone", [fixed], {"rejected": 1})
    assert name == "001-fiftyone"
    assert s.write_revision("labelstudio", [fixed], {}) == "002-labelstudio"
    assert s.predictions_path.read_bytes() == before
    assert [len(i.detections) for i in s.iter_images("original")] == [2]
    assert [i.detections[0].label for i in s.iter_images()] == ["dog"]  # latest
    assert s.info().revision == "002-labelstudio"
    assert s.revision_summary("001-fiftyone")["rejected"] == 1
    with pytest.raises(RunError, match="no revision"):
        s.resolve_revision("009-x")


def test_open_run_errors(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="does not exist"):
        open_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="not an autolabel run"):
        open_run(tmp_path / "empty")


def _hold_lock(run_dir: str, ready, release) -> None:
    with RunStore(run_dir).lock():
        ready.set()
        release.wait(10)


def test_second_process_is_refused_the_lock(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(str(tmp_path / "run"), ready, release))
    p.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RunLockedError, match=f"pid {p.pid}"), RunStore(tmp_path / "run").lock():
            pass
    finally:
        release.set()
        p.join(10)
    with RunStore(tmp_path / "run").lock():  # free again once the holder is gone
        pass


def test_images_added_after_a_revision_still_read(make_run) -> None:
    s = make_run([rec("a.jpg", 2)])
    s.write_revision("fiftyone", [rec("a.jpg", 1, label="dog")], {})
    with s.prediction_writer() as w:  # annotate grew the run after the review
        w.append(rec("b.jpg", 3).to_dict())
    got = {i.path: i for i in s.iter_images()}
    assert sorted(got) == ["a.jpg", "b.jpg"]
    assert [d.label for d in got["a.jpg"].detections] == ["dog"]  # corrected
    assert len(got["b.jpg"].detections) == 3                      # new, from the original
