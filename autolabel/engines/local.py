"""The local engine: annotate in this process, appending each image's result as it finishes.

Streams the images still to do through :class:`~autolabel.pipeline.Annotator` and appends
every result (flushed) to ``predictions.jsonl`` or ``failures.jsonl`` in input order, so a
killed run loses at most the images in flight, and re-running resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable

from autolabel.config import PipelineConfig
from autolabel.devices import resolve_device
from autolabel.engines import EngineOptions
from autolabel.errors import ConfigError
from autolabel.images import DecodedImage, find_images
from autolabel.models import check_weights
from autolabel.pipeline import Annotator, Result
from autolabel.run import ProgressFn, RunInterrupted, RunSummary, StartFn, check_run_dir, count_done, locked_run, start_run
from autolabel.store import ORIGINAL, JsonlAppender, RunStore
from autolabel.store.previews import draw_missing_previews, save_preview
from autolabel.types import ImageFailure

log = logging.getLogger(__name__)


def annotate(
    config: PipelineConfig,
    input_path: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    options: EngineOptions | None = None,
    *,
    progress: ProgressFn | None = None,
    on_start: StartFn | None = None,
    annotator: Annotator | None = None,
) -> RunSummary:
    """Annotate every image under ``input_path`` into ``run_dir`` here (see :class:`~autolabel.engines.Engine`).

    Args:
        config: the pipeline settings.
        input_path: folder (searched recursively) or one image file.
        run_dir: the run directory; an existing run is resumed (done and failed images
            skipped) if its settings match.
        options: ``previews`` (also draws, from the stored records, the previews that images
            done earlier lack), ``allow_config_change``; ``workers`` = decoding threads.
        progress: called once per finished image.
        on_start: called once with ``(images to process, images skipped)``.
        annotator: the compute to use (its models and stage clock), e.g. one already warm;
            built from ``config`` by default.

    Raises:
        ConfigError (an option only another engine takes), InputError, ResumeMismatchError,
        RunLockedError, ModelError, WeightsError, RunError (``run_dir`` is a file, the input
        folder itself, or a folder of other files). RunInterrupted: Ctrl-C once the work
        began (every finished image kept; carries the summary).
    """
    options = options or EngineOptions()
    if options.address or options.gpus_per_worker:
        raise ConfigError("the local engine runs in this process: a cluster address and GPUs per worker "
                          "are for --engine ray")
    if options.workers is not None:
        config = config.replace(workers=options.workers)
    check_run_dir(run_dir, input_path)  # a file, the input itself or a folder of other files: refused
    ann = annotator if annotator is not None else Annotator(config)
    input_path = Path(input_path)
    source = find_images(input_path, exclude=[run_dir])  # a run inside its input is not input
    store = RunStore(run_dir)

    def check() -> None:  # in seconds, before a model is built
        resolve_device(config.device)
        check_weights([("extractor", config.extractor, config.extractor_weights),
                       ("classifier", config.classifier, config.classifier_weights)])

    if annotator is None and not store.exists():
        check()  # a new run: before its folder exists

    def prepare() -> None:  # only when there is work
        if annotator is None and store.exists():
            check()
        ann.models  # noqa: B018 - models load before a new run's manifest: a bad model leaves no run

    with locked_run(store):
        todo, summary = start_run(store, config, source, input_path,
                                  allow_config_change=options.allow_config_change, prepare=prepare)
        summary.unreadable = source.unreadable
        if on_start:
            on_start(len(todo), summary.skipped)
        t0 = time.perf_counter()
        try:
            if todo:
                with store.prediction_writer() as preds, store.failure_writer() as fails:

                    def write(entry: tuple[Result, DecodedImage | None]) -> None:
                        with ann.clock("write"):
                            _append(store, summary, preds, fails, entry[0], entry[1], progress)

                    with OrderedWriter(write, depth=WRITE_QUEUE) as writer:
                        for result, decoded in ann.stream(source.root, todo):
                            writer.put((result, decoded if options.previews else None))
            if options.previews:  # the ones the run lacks (images done before, without --previews)
                drawn, _ = draw_missing_previews(store.previews_dir, source.root, store.iter_images(ORIGINAL),
                                                 max_pixels=config.max_pixels)
                summary.previews += drawn
        except KeyboardInterrupt as e:
            summary.processed, summary.failed = count_done(store, todo)
            summary.seconds = time.perf_counter() - t0
            raise RunInterrupted(summary) from e
        finally:
            if annotator is None:
                ann.close()  # its refinement processes; a caller's annotator stays warm
        summary.seconds = time.perf_counter() - t0
    return summary


WRITE_QUEUE = 16
"""Results waiting for the writer thread at most (the compute blocks when it is full). A
killed run loses these besides the images in the models; each holds its decoded image only
when previews are drawn."""


class OrderedWriter:
    """Runs ``write`` on every item :meth:`put`, in order, on one background thread behind a
    bounded queue, so writing overlaps the compute. The first error ``write`` raises is raised
    again by the next :meth:`put` or on leaving the ``with`` block (after which nothing more
    is written); leaving the block waits until every item put is written."""

    def __init__(self, write: Callable[[Any], None], depth: int = WRITE_QUEUE) -> None:
        self._write = write
        self._q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="autolabel-writer", daemon=True)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                return
            if self._error is None:
                try:
                    self._write(item)
                except BaseException as e:  # handed to the producer
                    self._error = e

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, item: Any) -> None:
        """Queue ``item`` for writing (blocks while the queue is full)."""
        self._check()
        self._q.put(item)

    def __enter__(self) -> OrderedWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._q.put(_STOP)
        self._thread.join()
        if exc[0] is None:
            self._check()


_STOP = object()


def _append(store: RunStore, summary: RunSummary, preds: JsonlAppender, fails: JsonlAppender, result: Result,
            preview_of: DecodedImage | None, progress: ProgressFn | None) -> None:
    """Append one image's result, count it, and draw its preview if ``preview_of`` is given."""
    if isinstance(result, ImageFailure):
        fails.append(result.to_dict())
        summary.failed += 1
        summary.failures.append(result)
        log.warning("skipped %s: %s", result.path, result.reason)
        n_boxes = 0
    else:
        preds.append(result.to_dict())
        n_boxes = len(result.detections)
        if preview_of is not None and save_preview(store.previews_dir, preview_of.image, result):
            summary.previews += 1
    summary.processed += 1
    summary.boxes += n_boxes
    if progress:
        progress(1, n_boxes, 1 if isinstance(result, ImageFailure) else 0)
