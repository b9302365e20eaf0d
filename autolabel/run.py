"""The run lifecycle: create a run directory, or check that an existing one may be resumed.

Everything here reads the configuration, never a model: the manifest's model names and weight
sources come from the config, its classes from the classifier's head as timm configures it
(see :func:`autolabel.classify.label_space_of`). So any process can start a run, the driver of
a distributed engine included, without loading weights.

An engine calls :func:`start_run` under the run's lock, then computes and appends the images it
returns; :class:`RunSummary` is what it reports back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from autolabel import __version__
from autolabel.config import PipelineConfig
from autolabel.errors import ResumeMismatchError
from autolabel.intake import ImageSource
from autolabel.store import RunStore
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

    @property
    def images_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


def run_labeler(config: PipelineConfig) -> Labeler:
    """The labeler ``config`` describes (classifier's label space + vocabulary), built without
    the classifier.

    Raises:
        ModelError: unknown classifier or one without a head. ConfigError: bad vocabulary.
    """
    from autolabel.classify import label_space_of
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
    summary = RunSummary(store.run_dir, len(source.paths), len(source.paths) - len(todo))
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
