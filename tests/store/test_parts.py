"""Part files of a distributed engine: writing, merging into the run, torn and duplicate lines."""

from __future__ import annotations

import json
from pathlib import Path

from autolabel.store import PARTS, RunStore
from autolabel.store.parts import PartWriter, merge_parts, part_files
from autolabel.types import Alternative, Detection, ImageAnnotations, ImageFailure
from tests.runs import write_run


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _image(path: str, n: int = 1) -> ImageAnnotations:
    dets = tuple(
        Detection(id=f"{Path(path).stem}-{i}", box=(1.0 + i, 2.0, 10.0 + i, 12.0), label="cat", score=0.5,
                  objectness=0.25, label_id="n02123045", topk=(Alternative("cat", "n02123045", 0.5),))
        for i in range(n)
    )
    return ImageAnnotations(path, 20, 20, dets)


def _new_run(tmp_path: Path) -> RunStore:
    store = write_run(tmp_path / "run", [], image_root=tmp_path)
    (store.run_dir / PARTS).mkdir()
    return store


def test_merge_sorts_dedupes_skips_present_and_removes_parts(tmp_path: Path) -> None:
    store = _new_run(tmp_path)
    with store.prediction_writer() as w:
        w.append(_image("b.jpg", 3).to_dict())
    parts = store.run_dir / PARTS
    with PartWriter(parts) as p:
        for r in (_image("d.jpg", 2), ImageFailure("c.jpg", "empty file (0 bytes)"), _image("b.jpg", 1)):
            p.add(r)
    with PartWriter(parts) as p:  # a retried task: d.jpg again, and a.jpg
        p.add(_image("d.jpg", 2))
        p.add(_image("a.jpg", 1))
    with PartWriter(parts) as p:  # a killed worker: one whole line, one torn line
        p.add(_image("e.jpg", 4))
    with open(p.path, "a") as f:
        f.write('{"kind":"prediction","record":{"path":"f.jp')
    res = merge_parts(store)
    assert (res.parts, res.processed, res.failed, res.boxes, res.duplicates) == (3, 4, 1, 7, 2)
    assert [f.path for f in res.failures] == ["c.jpg"]
    lines = _lines(store.predictions_path)
    assert [r["path"] for r in lines] == ["b.jpg", "a.jpg", "d.jpg", "e.jpg"]  # appended, sorted within the merge
    assert len(lines[0]["detections"]) == 3  # the run's own record of b.jpg is kept
    assert [r["path"] for r in _lines(store.failures_path)] == ["c.jpg"]
    assert not parts.exists()
    assert [i.path for i in store.iter_images()] == ["a.jpg", "b.jpg", "d.jpg", "e.jpg"]
    assert merge_parts(store).processed == 0  # nothing left: a second merge is a no-op


def test_merge_prefers_a_prediction_over_a_failure_of_the_same_image(tmp_path: Path) -> None:
    store = _new_run(tmp_path)
    with PartWriter(store.run_dir / PARTS) as p:
        p.add(ImageFailure("a.jpg", "cannot read the file (Stale file handle)"))
    with PartWriter(store.run_dir / PARTS) as p:
        p.add(_image("a.jpg", 2))
    res = merge_parts(store)
    assert (res.processed, res.failed, res.boxes) == (1, 0, 2)
    assert [i.path for i in store.iter_images()] == ["a.jpg"] and list(store.iter_failures()) == []


def test_a_part_line_that_is_not_a_part_record_is_skipped(tmp_path: Path) -> None:
    store = _new_run(tmp_path)
    with PartWriter(store.parts_dir) as p:
        p.add(_image("a.jpg"))
        p.append({"kind": "something else", "record": {"path": "x.jpg"}})
        p.append({"kind": "prediction"})
    with open(p.path, "a") as f:
        f.write("not json\n")
        f.write(json.dumps({"kind": "prediction", "record": _image("b.jpg").to_dict()}) + "\n")
    assert part_files(store) == [p.path]
    res = merge_parts(store)
    assert (res.parts, res.processed) == (1, 2)
    assert [i.path for i in store.iter_images()] == ["a.jpg", "b.jpg"]
    assert part_files(store) == []
