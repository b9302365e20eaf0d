"""The run lifecycle: create a run directory, or check that an existing one may be resumed.

Everything here reads the configuration, never a model: the manifest's model names and weight
sources come from the config, its classes from the classifier's head as timm configures it
(see :func:`autolabel.models.label_space_of`). So any process can start a run, the driver of
a distributed engine included, without loading weights.

An engine calls :func:`start_run` under the run's lock, then computes and appends the images it
returns; :class:`RunSummary` is what it reports back.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from autolabel import __version__
from autolabel.config import PipelineConfig
from autolabel.errors import ResumeMismatchError, RunError
from autolabel.images import ImageSource
from autolabel.store import RunStore
from autolabel.store.run_store import LOCK
from autolabel.types import ImageFailure
from autolabel.vocabulary import Labeler

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, int], None]
"""``progress(images_finished, boxes_written, images_failed)`` increments, called per image."""

StartFn = Callable[[int, int], None]
"""``on_start(images_to_process, images_skipped)``, called once before the work begins."""


@dataclass
class RunSummary:
    """What one ``annotate`` call did."""

    run_dir: Path
    total: int
    """Images found in the input."""
    skipped: int
    """Already in the run (done or failed earlier) and not processed again."""
    processed: int = 0
    """Images finished in this call, failed ones included."""
    failed: int = 0
    boxes: int = 0
    seconds: float = 0.0
    failures: list[ImageFailure] = field(default_factory=list)
    unreadable: tuple[tuple[str, str], ...] = ()
    """Input folders that could not be listed, ``(relative path, reason)``: not in the run."""
    previews: int = 0
    """Previews drawn in this call (new images' and those the run lacked)."""
    to_do: int = 0
    """Images this call set out to process (``total - skipped``)."""

    @property
    def images_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (``KeyboardInterrupt``) during a run, after its work began.

    Attributes:
        summary: what this call finished before it stopped (``processed``, ``failed`` read
            back from the run, so exact); every finished image is in the run, and rerunning
            the same command resumes with the rest.
    """

    def __init__(self, summary: RunSummary) -> None:
        super().__init__(f"interrupted after {summary.processed} image(s)")
        self.summary = summary


def check_run_dir(run_dir: str | os.PathLike[str], input_path: str | os.PathLike[str]) -> None:
    """Refuse an output that is not a place for a run: before anything is created in it.

    A run directory may be a new folder (its parents are created), an empty folder, or an
    existing run (resumed). Refused: a file (or a path through a file), the input folder
    itself, and a folder of other files (the run would be written among them).

    Raises:
        RunError: naming ``run_dir`` and what it is.
    """
    run_dir = Path(run_dir)
    where = f"-o {run_dir}"
    for p in (run_dir, *run_dir.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                what = "a file" if p.is_file() else "not a folder"
                if p == run_dir:
                    raise RunError(f"{where} is {what}: name a new folder for the run (or an existing run)")
                raise RunError(f"{where}: {p} is {what}, so no run folder can be made under it")
            break
    if not run_dir.is_dir():
        return
    if Path(input_path).is_dir() and run_dir.resolve() == Path(input_path).resolve():
        raise RunError(f"{where} is the input folder itself: name a new folder for the run "
                       f"(e.g. {run_dir.resolve().parent / (run_dir.resolve().name + '-run')})")
    if RunStore(run_dir).exists():
        return
    try:
        entries = sorted(e.name for e in os.scandir(run_dir) if e.name != LOCK)
    except OSError as e:
        raise RunError(f"{where}: cannot read the folder ({e.strerror or e})") from None
    if entries:
        from autolabel.names import display_name

        shown = ", ".join(display_name(n) for n in entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise RunError(f"{where} is a folder of other files ({len(entries)} entries: {shown}), not an autolabel "
                       "run: name a new or empty folder for the run")


@contextlib.contextmanager
def locked_run(store: RunStore) -> Iterator[None]:
    """Hold ``store``'s lock while a run is started (or resumed) and computed.

    If the block ends (by error or Ctrl-C) with no manifest in the folder, what this call
    created is removed: the lock file, and the run folder and any missing parents it made. A
    failed start leaves nothing behind (never a folder holding only ``.lock``); an empty folder
    the user made stays, empty.

    Raises:
        RunLockedError: another process holds the lock.
    """
    created: list[Path] = []
    p = store.run_dir
    while not (p.exists() or p.is_symlink()) and p != p.parent:
        created.append(p)
        p = p.parent
    new_lock = not (store.run_dir / LOCK).exists()
    try:
        with store.lock():
            try:
                yield
            finally:
                if new_lock and not store.exists():
                    with contextlib.suppress(OSError):
                        (store.run_dir / LOCK).unlink()
    finally:
        if created and not store.exists():
            for folder in created:  # innermost first; stops at the first one that is not empty
                try:
                    folder.rmdir()
                except OSError:
                    break


def count_done(store: RunStore, todo: list[str]) -> tuple[int, int]:
    """``(images of todo now in the run, of them failures)``: what a call finished, read back."""
    wanted = set(todo)
    failed = {f.path for f in store.iter_failures()} & wanted
    return len(store.done_paths() & wanted), len(failed)


def run_labeler(config: PipelineConfig) -> Labeler:
    """The labeler ``config`` describes (classifier's label space + vocabulary), built without
    the classifier.

    Raises:
        ModelError: unknown classifier or one without a head. ConfigError: bad vocabulary.
    """
    from autolabel.models import label_space_of
    from autolabel.vocabulary import build_labeler

    return build_labeler(label_space_of(config.classifier), config.vocabulary, config.topk)


def build_manifest(config: PipelineConfig, source: ImageSource, input_path: Path, labeler: Labeler) -> dict[str, Any]:
    """The manifest of a new run of ``config`` over ``source`` (schema added by the store).

    Raises:
        ModelError: unknown model name. WeightsError: a weights file that does not exist.
    """
    from autolabel.models import check_model_name, weight_source

    check_model_name(config.extractor, "extractor")
    return {
        "autolabel_version": __version__,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "input": str(Path(input_path).resolve()),
        "image_root": str(source.root),
        "config": config.to_dict(),
        "models": {
            "extractor": {"name": config.extractor, "weights": weight_source(config.extractor_weights, "extractor")},
            "classifier": {"name": config.classifier, "weights": weight_source(config.classifier_weights, "classifier")},
        },
        "label_space": labeler.space.subset,
        "classes": list(labeler.classes) if labeler.classes is not None else None,
        "vocabulary": labeler.describe(),
    }


def check_resume(store: RunStore, config: PipelineConfig, source: ImageSource, allow_config_change: bool = False) -> None:
    """Refuse to resume ``store``'s run with another image folder, or with other
    result-affecting settings unless ``allow_config_change`` (then it only warns).

    Raises:
        ResumeMismatchError: with what differs and how to go on. RunError: not a run.
    """
    manifest = store.read_manifest()
    if Path(manifest.get("image_root", "")) != source.root:
        raise ResumeMismatchError(
            f"run {store.run_dir} holds images from {manifest.get('image_root')}, not {source.root}; "
            "use another -o to annotate a different folder"
        )
    stored = manifest.get("config", {})
    diffs = config.differences(stored)
    if diffs and not allow_config_change:
        detail = "; ".join(f"{k}: {stored.get(k)!r} in the run, {getattr(config, k)!r} now" for k in diffs)
        raise ResumeMismatchError(
            f"run {store.run_dir} was made with other settings ({detail}). Resume with the same "
            "options, start over with a new -o directory (or delete this one), or pass "
            "--allow-config-change to continue with mixed settings"
        )
    if diffs:
        log.warning("continuing run %s with changed settings: %s", store.run_dir, ", ".join(diffs))


def check_vocabulary(store: RunStore, config: PipelineConfig, labeler: Labeler) -> None:
    """Refuse to resume if the vocabulary resolves to other classes than the run's (its option
    is a path: the file may have been edited since the run began).

    Raises:
        ResumeMismatchError
    """
    stored = store.read_manifest().get("vocabulary")
    if stored != labeler.describe():
        raise ResumeMismatchError(
            f"run {store.run_dir} was made with another class vocabulary than "
            f"{config.vocabulary or 'none'} resolves to now (was the file edited?); start "
            "over with a new -o, or pass --allow-config-change to continue with mixed classes"
        )


def start_run(
    store: RunStore,
    config: PipelineConfig,
    source: ImageSource,
    input_path: str | Path,
    *,
    allow_config_change: bool = False,
    prepare: Callable[[], Any] | None = None,
) -> tuple[list[str], RunSummary]:
    """Create the run (its manifest) or check that it may be resumed; the caller holds the lock.

    Args:
        store: the run directory.
        config: the settings of this call.
        source: the images found in ``input_path``.
        input_path: what the user named (recorded in a new manifest).
        allow_config_change: resume even if result-affecting settings or the vocabulary differ.
        prepare: called once when there is work, before a new run's manifest is written (an
            engine that loads models here leaves no run behind if they fail to load).

    Returns:
        The images still to do, in input order, and a summary counting the skipped ones.

    Raises:
        ResumeMismatchError, ModelError, WeightsError, ConfigError (vocabulary), RunError.
    """
    resuming = store.exists()
    if resuming:
        check_resume(store, config, source, allow_config_change)
    done = store.done_paths() if resuming else set()
    todo = [p for p in source.paths if p not in done]
    summary = RunSummary(store.run_dir, len(source.paths), len(source.paths) - len(todo), to_do=len(todo))
    if not todo:
        return todo, summary
    manifest = None
    if not resuming:
        manifest = build_manifest(config, source, Path(input_path), run_labeler(config))
    elif not allow_config_change:
        check_vocabulary(store, config, run_labeler(config))
    if prepare is not None:
        prepare()
    if manifest is not None:
        store.write_manifest(manifest)
    return todo, summary
