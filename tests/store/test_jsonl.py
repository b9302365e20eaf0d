"""Crash-safe JSON Lines: appends, torn-line repair, reading with offsets, lines read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autolabel.errors import RunError
from autolabel.store.atomic import atomic_write, write_json_atomic
from autolabel.store.jsonl import JsonlAppender, LineReader, iter_jsonl, repair_jsonl


def test_append_repairs_a_torn_tail_and_offsets_read_lines_back(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    with JsonlAppender(path) as w:
        w.append({"path": "a", "n": 1})
        w.append({"path": "é", "n": 2})
    with open(path, "a") as f:
        f.write('{"path": "c", "n"')  # killed mid-line
    assert [r["path"] for _, _, r in iter_jsonl(path)] == ["a", "é"]
    with JsonlAppender(path) as w:
        w.append({"path": "d", "n": 4})
    rows = list(iter_jsonl(path))
    assert [(n, r["path"]) for n, _, r in rows] == [(1, "a"), (2, "é"), (3, "d")]
    with LineReader(max_open=1) as reader:
        for _, offset, rec in reversed(rows):
            assert reader.read(path, offset) == rec
    assert repair_jsonl(path) is False and repair_jsonl(tmp_path / "missing.jsonl") is False
    assert list(iter_jsonl(tmp_path / "missing.jsonl")) == []


def test_a_bad_middle_line_raises_when_strict_and_is_skipped_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\nnot json\n{"a": 4}\n')
    with pytest.raises(RunError, match="line 2 is not a JSON object"):
        list(iter_jsonl(path))
    assert [(n, r) for n, _, r in iter_jsonl(path, strict=False)] == [(1, {"a": 1}), (4, {"a": 4})]


def test_line_reader_keeps_a_bounded_number_of_files_open(tmp_path: Path) -> None:
    files = []
    for i in range(5):
        p = tmp_path / f"{i}.jsonl"
        p.write_text(json.dumps({"i": i}) + "\n")
        files.append(p)
    reader = LineReader(max_open=2)
    for p in files + files[::-1]:
        assert reader.read(p, 0) == {"i": int(p.stem)}
        assert len(reader._open) <= 2
    reader.close()
    assert reader._open == {}


def test_atomic_write_leaves_the_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(ValueError), atomic_write(target) as f:
        f.write("half")
        raise ValueError("boom")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
