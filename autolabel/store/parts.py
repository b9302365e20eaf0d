"""Part files: where the workers of a distributed engine write results until they are merged.

Each worker call writes a new ``RUN/parts/<uuid>.jsonl`` through :class:`PartWriter`, one
flushed line per image: ``{"kind": "prediction"|"failure", "record": <to_dict()>}``. The process
that holds the run's lock merges them into ``predictions.jsonl`` / ``failures.jsonl`` with
:func:`merge_parts` and removes them. A killed worker leaves whole lines and at most one torn
last line (skipped); a killed merge leaves the parts, and the next merge skips what it already
appended, so a path is never written twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from autolabel.errors import RecordError, RunError
from autolabel.store.jsonl import JsonlAppender, LineReader, iter_jsonl
from autolabel.store.run_store import PARTS, RunStore
from autolabel.types import ImageAnnotations, ImageFailure

log = logging.getLogger(__name__)

__all__ = ["FAILURE", "PARTS", "PREDICTION", "MergeResult", "PartWriter", "merge_parts", "part_files"]

PREDICTION = "prediction"
FAILURE = "failure"


class PartWriter(JsonlAppender):
    """Writes one worker call's results to a new ``<parts_dir>/<uuid>.jsonl``."""

    def __init__(self, parts_dir: str | os.PathLike[str]) -> None:
        path = Path(parts_dir) / f"{uuid.uuid4().hex}.jsonl"
        open(path, "x").close()  # a fresh name per call: never append to another call's part
        super().__init__(path)

    def add(self, result: ImageAnnotations | ImageFailure) -> None:
        kind = FAILURE if isinstance(result, ImageFailure) else PREDICTION
        self.append({"kind": kind, "record": result.to_dict()})


@dataclass
class MergeResult:
    """What one merge added to the run."""

    parts: int = 0
    """Part files merged (and removed)."""
    processed: int = 0
    """Images added (annotated + failed)."""
    failed: int = 0
    boxes: int = 0
    duplicates: int = 0
    """Records dropped because their image was already in the run or in another part."""
    failures: list[ImageFailure] = field(default_factory=list)


def part_files(store: RunStore) -> list[Path]:
    """The part files waiting in ``store``'s run, sorted by name."""
    d = store.parts_dir
    return sorted(d.glob("*.jsonl")) if d.is_dir() else []


def _scan_part(path: Path) -> Iterator[tuple[int, str, str]]:
    """``(byte offset, kind, image path)`` of every whole part record of ``path``."""
    for line_no, offset, obj in iter_jsonl(path, strict=False):
        record = obj.get("record")
        kind = obj.get("kind")
        rel = record.get("path") if isinstance(record, dict) else None
        if kind not in (PREDICTION, FAILURE) or not isinstance(rel, str):
            log.warning("%s: line %d is not a part record; ignored", path, line_no)
            continue
        yield offset, kind, rel


def merge_parts(store: RunStore) -> MergeResult:
    """Append every part's results to ``predictions.jsonl`` / ``failures.jsonl``, then remove the parts.

    Images are appended sorted by path, each once: a path already in the run is skipped, a path
    in several parts (a task retried) is written once, a prediction winning over a failure.
    The caller holds the run's lock.

    Raises:
        RunError: a part record does not validate as a prediction or failure.
    """
    result = MergeResult()
    parts = part_files(store)
    if not parts:
        with contextlib.suppress(OSError):
            store.parts_dir.rmdir()  # an empty folder left by a job that wrote nothing
        return result
    done = store.done_paths()
    chosen: dict[str, tuple[str, Path, int]] = {}
    for part in parts:
        for offset, kind, rel in _scan_part(part):
            if rel in done:
                result.duplicates += 1
                continue
            prev = chosen.get(rel)
            if prev is not None:
                result.duplicates += 1
                if not (prev[0] == FAILURE and kind == PREDICTION):
                    continue
            chosen[rel] = (kind, part, offset)
    with LineReader() as reader, store.prediction_writer() as preds, store.failure_writer() as fails:
        for rel in sorted(chosen):
            kind, part, offset = chosen[rel]
            record = reader.read(part, offset)["record"]
            try:
                if kind == FAILURE:
                    failure = ImageFailure.from_dict(record)
                    fails.append(failure.to_dict())
                    result.failed += 1
                    result.failures.append(failure)
                else:
                    image = ImageAnnotations.from_dict(record)
                    preds.append(image.to_dict())
                    result.boxes += len(image.detections)
            except RecordError as e:
                raise RunError(f"{part}: the record of {rel!r} does not validate ({e})") from None
            result.processed += 1
    for part in parts:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
    with contextlib.suppress(OSError):
        store.parts_dir.rmdir()
    result.parts = len(parts)
    log.info("merged %d part(s) into %s: %d image(s), %d duplicate(s) dropped",
             result.parts, store.run_dir, result.processed, result.duplicates)
    return result
