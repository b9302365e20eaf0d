"""The run directory: the contract between annotating, exporting, reviewing and evaluating.

Layout::

    <run>/manifest.json          schema "autolabel.run/1": version, image root, resolved config,
                                 models and weight sources, class list, created (UTC, set once)
    <run>/predictions.jsonl      one ImageAnnotations per line, appended as images finish
    <run>/failures.jsonl         one ImageFailure per line
    <run>/revisions/NNN-<source>.jsonl   corrected copies of the predictions (review, imports)
    <run>/revisions/NNN-<source>.json    what the correction changed (counts)
    <run>/previews/              optional drawings of the boxes
    <run>/.lock                  held (flock) by the one process writing the run

Appending one line per image, flushed at once, makes a run crash-safe: a ``kill -9`` loses at
most the images in flight, and a torn last line is cut off when the run is opened again.
Readers yield every image once (the last record of a path wins) in sorted path order, so the
same run always exports to the same bytes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping

from autolabel.errors import RecordError, RunError, RunLockedError
from autolabel.names import json_line
from autolabel.types import ImageAnnotations, ImageFailure, RunInfo

log = logging.getLogger(__name__)

SCHEMA = "autolabel.run/1"
MANIFEST = "manifest.json"
PREDICTIONS = "predictions.jsonl"
FAILURES = "failures.jsonl"
REVISIONS = "revisions"
LOCK = ".lock"

ORIGINAL = "original"
"""Revision name that selects the pipeline's own predictions."""
LATEST = "latest"
"""Revision name that selects the newest corrected revision, or the original if none."""

_REVISION_RE = re.compile(r"^(\d{3,})-([A-Za-z0-9_.-]+)$")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], binary: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on success it is fsynced and renamed
    onto ``path``, on any error removed. Readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` through a temporary sibling and a rename."""
    with atomic_write(path) as f:
        f.write(json_line(obj, indent=2, sort_keys=False) + "\n")


def _dumps(obj: Mapping[str, Any]) -> str:
    # json_line: a file name that is not UTF-8 is kept as \udcXY escapes (autolabel.names).
    return json_line(obj, separators=(",", ":"))


def repair_jsonl(path: Path) -> bool:
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


def _iter_jsonl(path: Path) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Yield ``(line_no, byte_offset, record)``; a torn last line is skipped with a warning."""
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
                raise RunError(f"{path}: line {line_no} is not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise RunError(f"{path}: line {line_no} is not a JSON object")
            yield line_no, start, rec


class JsonlAppender:
    """Appends records to a JSONL file, one flushed line each (crash-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        repair_jsonl(self.path)
        self._f: IO[str] = open(self.path, "a", encoding="utf-8")

    def append(self, record: Mapping[str, Any]) -> None:
        self._f.write(_dumps(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunStore:
    """Reads and writes one run directory. Cheap to construct; touches no file until used."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self._lock_fd: int | None = None

    # -- paths -----------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.run_dir / MANIFEST

    @property
    def predictions_path(self) -> Path:
        return self.run_dir / PREDICTIONS

    @property
    def failures_path(self) -> Path:
        return self.run_dir / FAILURES

    @property
    def revisions_dir(self) -> Path:
        return self.run_dir / REVISIONS

    @property
    def previews_dir(self) -> Path:
        return self.run_dir / "previews"

    def exists(self) -> bool:
        """True if the directory holds a manifest."""
        return self.manifest_path.is_file()

    # -- manifest --------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        """The manifest as a dict; :class:`RunError` if missing or not ours."""
        if not self.run_dir.exists():
            raise RunError(f"run directory {self.run_dir} does not exist")
        if not self.manifest_path.is_file():
            raise RunError(f"{self.run_dir} is not an autolabel run (no {MANIFEST})")
        try:
            m = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise RunError(f"{self.manifest_path}: cannot read the manifest ({e})") from None
        if not isinstance(m, dict) or m.get("schema") != SCHEMA:
            raise RunError(f"{self.manifest_path}: expected schema {SCHEMA!r}, got {m.get('schema') if isinstance(m, dict) else m!r}")
        return m

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Write the manifest atomically (schema key added)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.manifest_path, {"schema": SCHEMA, **{k: v for k, v in manifest.items() if k != "schema"}})

    # -- lock ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's exclusive lock; :class:`RunLockedError` if another process has it."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = os.read(fd, 64).decode().strip()
            os.close(fd)
            raise RunLockedError(
                f"run {self.run_dir} is in use by another process{f' (pid {holder})' if holder else ''}; "
                "wait for it to finish or stop it first"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- writing ---------------------------------------------------------------------------
    def prediction_writer(self) -> JsonlAppender:
        """Appender for ``predictions.jsonl`` (repairs a torn last line first)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return JsonlAppender(self.predictions_path)

    def failure_writer(self) -> JsonlAppender:
        """Appender for ``failures.jsonl`` (repairs a torn last line first)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return JsonlAppender(self.failures_path)

    # -- reading ---------------------------------------------------------------------------
    def done_paths(self) -> set[str]:
        """Relative paths that already have a prediction or a failure record."""
        done = {rec["path"] for _, _, rec in _iter_jsonl(self.predictions_path) if "path" in rec}
        done |= {rec["path"] for _, _, rec in _iter_jsonl(self.failures_path) if "path" in rec}
        return done

    def iter_failures(self) -> Iterator[ImageFailure]:
        """Failures, one per path (last wins), sorted by path, minus paths that later succeeded."""
        last: dict[str, ImageFailure] = {}
        for _, _, rec in _iter_jsonl(self.failures_path):
            f = ImageFailure.from_dict(rec)
            last[f.path] = f
        ok = {rec.get("path") for _, _, rec in _iter_jsonl(self.predictions_path)}
        for p in sorted(last):
            if p not in ok:
                yield last[p]

    def revisions(self) -> list[str]:
        """Names of the corrected revisions, oldest first (``001-fiftyone``, ...)."""
        if not self.revisions_dir.is_dir():
            return []
        names = [p.stem for p in self.revisions_dir.glob("*.jsonl") if _REVISION_RE.match(p.stem)]
        return sorted(names, key=lambda n: int(_REVISION_RE.match(n).group(1)))  # type: ignore[union-attr]

    def resolve_revision(self, revision: str | None = LATEST) -> str | None:
        """``None`` for the original predictions, else an existing revision's name."""
        if revision in (None, ORIGINAL):
            return None
        revs = self.revisions()
        if revision == LATEST:
            return revs[-1] if revs else None
        if revision in revs:
            return revision
        raise RunError(f"run {self.run_dir} has no revision {revision!r}; revisions: {', '.join(revs) or 'none'}")

    def _records_path(self, revision: str | None) -> Path:
        return self.predictions_path if revision is None else self.revisions_dir / f"{revision}.jsonl"

    def iter_images(self, revision: str | None = LATEST) -> Iterator[ImageAnnotations]:
        """Every image once (the last record of a path wins), sorted by path.

        A revision is a corrected copy of the run as it was when the correction was made;
        images annotated after that come from the original predictions, so a run that grows
        after a review still reads complete.

        Args:
            revision: ``"latest"`` (newest corrected revision, else the original), ``"original"``
                or ``None`` (the pipeline's predictions), or a revision's name.
        """
        rev = self.resolve_revision(revision)
        sources = [self.predictions_path] + ([self._records_path(rev)] if rev is not None else [])
        index: dict[str, tuple[int, int]] = {}  # path -> (source number, byte offset)
        in_order = len(sources) == 1
        prev: str | None = None
        for n, path in enumerate(sources):
            for line_no, offset, rec in _iter_jsonl(path):
                p = rec.get("path")
                if not isinstance(p, str):
                    raise RunError(f"{path}: line {line_no} has no image path")
                if p in index or (prev is not None and p < prev):
                    in_order = False
                index[p] = (n, offset)
                prev = p
        if in_order:  # the common case: one file, already sorted and unique -- just stream it
            for line_no, _, rec in _iter_jsonl(sources[0]):
                yield self._parse(sources[0], line_no, rec)
            return
        files = [open(p, "rb") for p in sources]
        try:
            for p in sorted(index):
                n, offset = index[p]
                files[n].seek(offset)
                yield self._parse(sources[n], None, json.loads(files[n].readline()))
        finally:
            for f in files:
                f.close()

    @staticmethod
    def _parse(path: Path, line_no: int | None, rec: dict[str, Any]) -> ImageAnnotations:
        try:
            return ImageAnnotations.from_dict(rec)
        except RecordError as e:
            where = f"line {line_no}" if line_no else f"record of {rec.get('path')!r}"
            raise RunError(f"{path}: {where}: {e}") from None

    def info(self, revision: str | None = LATEST) -> RunInfo:
        """The :class:`RunInfo` of the run as seen through ``revision``.

        The class list is the manifest's (a vocabulary's classes, in order) followed by any
        other label that occurs, sorted; with no vocabulary it is every label that occurs,
        sorted by name.
        """
        m = self.read_manifest()
        rev = self.resolve_revision(revision)
        declared = list(m.get("classes") or [])
        seen = set(declared)
        extra = set()
        for img in self.iter_images(rev if rev is not None else ORIGINAL):
            for d in img.detections:
                if d.label not in seen:
                    extra.add(d.label)
        models = m.get("models", {})
        parts = [str(models.get(role, {}).get("name", "")) for role in ("extractor", "classifier")]
        model_version = "autolabel-" + str(m.get("autolabel_version", "0")) + ":" + "+".join(p for p in parts if p)
        return RunInfo(
            name=self.run_dir.name,
            run_dir=self.run_dir,
            image_root=Path(m.get("image_root", ".")),
            classes=tuple(declared) + tuple(sorted(extra)),
            model_version=model_version,
            config=m.get("config", {}),
            revision=rev,
        )

    # -- revisions -------------------------------------------------------------------------
    def write_revision(self, source: str, images: Iterable[ImageAnnotations], summary: Mapping[str, Any]) -> str:
        """Store a corrected copy of the predictions as the next revision; returns its name.

        The original ``predictions.jsonl`` is never touched. Both files are written through a
        temporary sibling and renamed, the summary last.
        """
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", source):
            raise RunError(f"revision source must be letters, digits, '_', '.' or '-', got {source!r}")
        revs = self.revisions()
        n = int(_REVISION_RE.match(revs[-1]).group(1)) + 1 if revs else 1  # type: ignore[union-attr]
        name = f"{n:03d}-{source}"
        self.revisions_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.revisions_dir / f"{name}.jsonl") as f:
            for img in sorted(images, key=lambda i: i.path):
                f.write(_dumps(img.to_dict()) + "\n")
            # The summary goes first: the revision exists (is listed) only once both are whole.
            write_json_atomic(self.revisions_dir / f"{name}.json", {"revision": name, "source": source, **summary})
        return name

    def revision_summary(self, name: str) -> dict[str, Any]:
        """The summary stored beside revision ``name``."""
        p = self.revisions_dir / f"{name}.json"
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise RunError(f"{p}: cannot read the revision summary ({e})") from None


def open_run(run_dir: str | os.PathLike[str]) -> RunStore:
    """A :class:`RunStore` for an existing run; :class:`RunError` if it is not one."""
    store = RunStore(run_dir)
    store.read_manifest()
    return store
