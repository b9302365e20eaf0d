"""JSON Lines files written one flushed line per record, so a kill loses at most one line.

* :class:`JsonlAppender` appends (after cutting a torn last line off with :func:`repair_jsonl`);
* :func:`iter_jsonl` reads records with their line numbers and byte offsets, skipping a torn
  last line;
* :class:`LineReader` reads single lines back at those offsets from many files.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import IO, Any, Iterator, Mapping

from autolabel.errors import RunError
from autolabel.names import json_line

log = logging.getLogger(__name__)


def dumps_line(obj: Mapping[str, Any]) -> str:
    """``obj`` as one compact JSON line (no trailing newline)."""
    # json_line: a file name that is not UTF-8 is kept as \udcXY escapes (autolabel.names).
    return json_line(obj, separators=(",", ":"))


def repair_jsonl(path: str | os.PathLike[str]) -> bool:
    """Cut a torn last line (no trailing newline) off ``path``. Returns True if it cut."""
    path = Path(path)
    if not path.exists():
        return False
    size = path.stat().st_size
    if size == 0:
        return False
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return False
        # Walk back to the last newline; everything after it is a partial record.
        pos = size
        chunk = 1 << 16
        keep = 0
        while pos > 0:
            start = max(0, pos - chunk)
            f.seek(start)
            buf = f.read(pos - start)
            i = buf.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            pos = start
        f.truncate(keep)
    log.warning("%s: removed a torn last line (%d bytes) left by an interrupted run", path, size - keep)
    return True


def iter_jsonl(path: str | os.PathLike[str], strict: bool = True) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Yield ``(line_no, byte_offset, record)`` of every JSON object line of ``path``.

    A torn last line (not valid JSON, no trailing newline) is skipped with a warning; a missing
    file reads as empty.

    Args:
        strict: a bad line elsewhere (not JSON, not an object) raises :class:`RunError` naming
            it; with ``strict=False`` it is skipped with a warning instead.
    """
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        offset = 0
        line_no = 0
        for raw in f:
            line_no += 1
            start = offset
            offset += len(raw)
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as e:
                if not raw.endswith(b"\n"):
                    log.warning("%s: ignoring torn last line %d", path, line_no)
                    return
                if not strict:
                    log.warning("%s: line %d is not valid JSON; ignored", path, line_no)
                    continue
                raise RunError(f"{path}: line {line_no} is not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                if not strict:
                    log.warning("%s: line %d is not a JSON object; ignored", path, line_no)
                    continue
                raise RunError(f"{path}: line {line_no} is not a JSON object")
            yield line_no, start, rec


class JsonlAppender:
    """Appends records to a JSONL file, one flushed line each (crash-safe)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        repair_jsonl(self.path)
        self._f: IO[str] = open(self.path, "a", encoding="utf-8")

    def append(self, record: Mapping[str, Any]) -> None:
        self._f.write(dumps_line(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LineReader:
    """Reads the JSON line at a byte offset (from :func:`iter_jsonl`) of many files, keeping at
    most ``max_open`` of them open (least recently used closed first)."""

    def __init__(self, max_open: int = 64) -> None:
        self._open: dict[Path, IO[bytes]] = {}
        self._max = max(1, max_open)

    def read(self, path: str | os.PathLike[str], offset: int) -> dict[str, Any]:
        path = Path(path)
        f = self._open.pop(path, None)
        if f is None:
            if len(self._open) >= self._max:
                oldest = next(iter(self._open))
                self._open.pop(oldest).close()
            f = open(path, "rb")
        self._open[path] = f  # most recently used last
        f.seek(offset)
        return json.loads(f.readline())

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()

    def __enter__(self) -> LineReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
