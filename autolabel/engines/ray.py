"""Run the pipeline on a Ray cluster with Ray Data; the run directory comes out the same.

How a job runs (the driver is the process that calls :func:`annotate`)::

    driver: lock RUN -> merge leftover parts of a killed job -> list the images once ->
            create or check the run (autolabel.run.start_run; no model is loaded here) ->
            images still to do
    Ray Data: from_items(paths) split into blocks
              -> map_batches(AnnotateActor, actor pool of N, CPU or GPU per actor)
                 each actor builds the models once; each call runs Annotator.process on a
                 batch of paths (decoding in the actor's background threads) and writes the
                 results to a part file (autolabel.store.parts), one flushed line per image
    driver: progress as small per-image rows come back -> merge every part into
            predictions.jsonl / failures.jsonl (sorted by path, each image once) -> remove parts

Only paths and per-image counts travel through Ray's object store; images are read where the
models run, so the input folder and the run directory must be on storage that every node
mounts at the same path (NFS, a shared volume...). A job killed at any point loses at most the
images in flight: finished parts stay on disk and the next job merges them before it decides
what is left to do; a path is never written twice.

Ray is an optional dependency (``pip install 'autolabel-dino[ray]'``) and is imported only
inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from autolabel.config import PipelineConfig
from autolabel.engines import EngineOptions
from autolabel.errors import AutolabelError, ConfigError, RunError
from autolabel.images import find_images
from autolabel.pipeline import Annotator
from autolabel.run import ProgressFn, RunInterrupted, RunSummary, StartFn, check_run_dir, count_done, locked_run, start_run
from autolabel.store import RunStore
from autolabel.store.parts import PartWriter, merge_parts
from autolabel.types import ImageFailure

log = logging.getLogger(__name__)

INSTALL_HINT = "--engine ray needs Ray: pip install 'autolabel-dino[ray]'"


def require_ray() -> Any:
    """Import and return the ``ray`` module (with ``ray.data``).

    Raises:
        ConfigError: Ray (or Ray Data) is not installed; the message says how to install it.
    """
    try:
        import ray
        import ray.data  # noqa: F401 - the engine needs the Data library, not only the core
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a Ray job runs.

    Attributes:
        address: cluster to join (``auto``, ``ray://head:10001``, ``head:6379``); None joins the
            cluster in ``RAY_ADDRESS`` or one started on this machine, else starts a local Ray.
            Ignored when this process is already connected (``ray.init`` was called).
        workers: number of actors (each holds one copy of the models); None = as many as the
            cluster holds when the job starts (its CPUs / cpus_per_worker, or GPUs /
            gpus_per_worker), never more than there are batches.
        gpus_per_worker: GPUs reserved per actor (fractions share a GPU: 0.5 = two actors per
            GPU); 0 runs the models on CPU.
        cpus_per_worker: CPUs reserved per actor; also its torch threads unless the config sets
            ``threads`` (decoding threads are the config's ``workers``).
        batch_images: images per actor call, i.e. per part file and per progress step.
    """

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    batch_images: int = 64

    def __post_init__(self) -> None:
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise ConfigError(f"option --workers: expected a number of Ray actors >= 1, got {self.workers!r}")
        if not isinstance(self.gpus_per_worker, (int, float)) or self.gpus_per_worker < 0:
            raise ConfigError(f"option --gpus-per-worker: expected a number >= 0, got {self.gpus_per_worker!r}")
        if not isinstance(self.cpus_per_worker, (int, float)) or self.cpus_per_worker <= 0:
            raise ConfigError(f"cpus_per_worker: expected a number > 0, got {self.cpus_per_worker!r}")
        if not isinstance(self.batch_images, int) or self.batch_images < 1:
            raise ConfigError(f"batch_images: expected an integer >= 1, got {self.batch_images!r}")


# -- the actor ---------------------------------------------------------------------------------
ACTOR_DECODE_WORKERS = 2
"""Decode threads per actor when the config says ``workers: 0`` (auto): one per core in every
actor would oversubscribe a node that runs several actors. Set ``workers`` to override."""


class AnnotateActor:
    """One Ray Data actor: builds the models once, then annotates batches of paths.

    An :class:`~autolabel.errors.AutolabelError` here (weights missing on this node, a folder
    not mounted) is not raised into Ray (which would retry and print tracebacks): it comes back
    in the ``error`` column and the driver raises it, naming the node.

    Args:
        config: ``PipelineConfig.to_dict()`` of the run.
        root: the image root (absolute; must exist on this node).
        parts_dir: where to write part files (inside the run directory; must exist on this node).
    """

    def __init__(self, config: dict[str, Any], root: str, parts_dir: str) -> None:
        self.root = Path(root)
        self.parts_dir = Path(parts_dir)
        self.error = ""
        try:
            for what, p in (("image folder", self.root), ("run's parts folder", self.parts_dir)):
                if not p.is_dir():
                    raise RunError(f"the {what} {p} is not visible there; the input and the run directory "
                                   "must be on storage every node mounts at the same path")
            cfg = PipelineConfig.from_dict(config)
            if cfg.workers == 0:  # auto = one decode thread per core: several actors share a node
                cfg = cfg.replace(workers=ACTOR_DECODE_WORKERS)
            self.annotator = Annotator(cfg)
            self.annotator.models  # noqa: B018 - load once, before the first batch
        except AutolabelError as e:
            self.error = _error_text(e)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``batch["path"]``: relative paths. Returns per path: ``path``, ``boxes`` (count),
        ``failed`` (bool) and ``error`` (empty, or the error that stopped this actor)."""
        import numpy as np

        paths = [str(p) for p in batch["path"]]
        boxes: list[int] = []
        failed: list[bool] = []
        error = self.error
        if not error:
            try:
                with PartWriter(self.parts_dir) as part:
                    for rel, result in zip(paths, self.annotator.process(self.root, paths)):
                        if result.path != rel:  # pragma: no cover - process() keeps input order
                            raise RunError(f"pipeline returned {result.path!r} for {rel!r}")
                        part.add(result)
                        is_failure = isinstance(result, ImageFailure)
                        failed.append(is_failure)
                        boxes.append(0 if is_failure else len(result.detections))
            except AutolabelError as e:
                error = _error_text(e)
        rest = len(paths) - len(boxes)
        return {
            "path": np.array(paths, dtype=object),
            "boxes": np.array(boxes + [0] * rest, dtype=np.int64),
            "failed": np.array(failed + [False] * rest, dtype=bool),
            "error": np.array([""] * len(boxes) + [error] * rest, dtype=object),
        }


def _error_text(e: AutolabelError) -> str:
    import socket

    return f"{type(e).__name__}\t{socket.gethostname()}\t{e}"


def _error_from_text(text: str) -> AutolabelError:
    """The error an actor reported (see :class:`AnnotateActor`), naming the node."""
    from autolabel import errors

    name, host, message = (text.split("\t", 2) + ["", ""])[:3]
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, AutolabelError)) or cls is errors.ImageError:
        cls = RunError
    return cls(f"on Ray node {host}: {message}")


# -- the driver --------------------------------------------------------------------------------
def check_driver_weights(config: PipelineConfig) -> None:
    """Check on the driver what it can: both model names, and weight files (which every node
    must see at the same path, so the driver sees them too). Hub weights are left to the
    actors, whose caches and network may differ from the driver's; an actor that cannot get
    them stops the job with an error naming its node.

    Raises:
        ModelError: an unknown model name. WeightsError: a weights file that does not exist.
    """
    from autolabel.models import HUB, check_model_name, check_weights

    models = [("extractor", config.extractor, config.extractor_weights),
              ("classifier", config.classifier, config.classifier_weights)]
    for role, name, _ in models:
        check_model_name(name, role)
    check_weights([m for m in models if m[2] not in (None, "", HUB)])


def _from_items(ray: Any, items: list[dict[str, str]], blocks: int) -> Any:
    import inspect

    params = inspect.signature(ray.data.from_items).parameters
    key = "override_num_blocks" if "override_num_blocks" in params else "parallelism"  # Ray < 2.10
    return ray.data.from_items(items, **{key: blocks})


def _pool_size(ray: Any, opts: RayOptions, batches: int) -> tuple[int, int]:
    """``(min_size, max_size)`` of the actor pool: what fits now, up to what was asked."""
    res = ray.cluster_resources()
    if opts.gpus_per_worker > 0:
        gpus = float(res.get("GPU", 0.0))
        fits = int(gpus // opts.gpus_per_worker + 1e-9)
        if gpus <= 0 or (fits < 1 and opts.workers is None):
            raise ConfigError(
                f"--gpus-per-worker {opts.gpus_per_worker:g}: the Ray cluster has {gpus:g} GPU(s); "
                "use --gpus-per-worker 0 to run on CPUs"
            )
    else:
        cpus = float(res.get("CPU", 0.0))
        fits = int(cpus // opts.cpus_per_worker + 1e-9)
    fits = min(max(fits, 0), batches)
    if opts.workers is None:
        n = max(1, fits)
        return n, n
    want = min(opts.workers, batches)
    if fits < want:
        log.warning("asked for %d Ray actors, the cluster has room for %d now; starting with %d and "
                    "growing if the cluster does", want, fits, max(1, fits))
    return max(1, min(fits, want)), want


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail fast with :class:`RunError` if ``host:port`` / ``ray://host:port`` does not answer
    (``ray.init`` would retry for minutes). ``auto`` and None are left to Ray."""
    import socket

    if not address or address == "auto":
        return
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = hostport.rstrip("/").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise RunError(
            f"--ray-address {address}: nothing answers there ({e.strerror or e}); start the cluster "
            "(ray start --head) or check the address (ray://HEAD:10001 for Ray Client, HEAD:6379 on a node)"
        ) from None


@contextlib.contextmanager
def _connected(ray: Any, address: str | None) -> Iterator[None]:
    """Join (or start) Ray unless this process already is connected; disconnect if we joined."""
    if ray.is_initialized():
        if address:
            log.info("Ray is already initialised in this process; --ray-address %s is not used", address)
        yield
        return
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "Ray"
        raise RunError(f"cannot connect to {where}: {e}") from None
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _quiet_ray_data(ray: Any) -> Iterator[None]:
    """Ray Data's console: no progress bars and no INFO lines (its own log file keeps them);
    the caller shows progress. Left alone when autolabel logs at DEBUG (``autolabel -vv``)."""
    ctx = ray.data.DataContext.get_current()
    bars = ctx.enable_progress_bars
    ctx.enable_progress_bars = False
    consoles = [] if log.isEnabledFor(logging.DEBUG) else [
        h for h in logging.getLogger("ray.data").handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    levels = [h.level for h in consoles]
    for h in consoles:
        h.setLevel(max(h.level, logging.WARNING))
    try:
        yield
    finally:
        ctx.enable_progress_bars = bars
        for h, level in zip(consoles, levels):
            h.setLevel(level)


def _run_dataset(ray: Any, cfg: PipelineConfig, root: Path, store: RunStore, todo: list[str], opts: RayOptions,
                 progress: ProgressFn | None) -> None:
    """Annotate ``todo`` on the cluster; results land in ``RUN/parts/``."""
    parts_dir = store.parts_dir
    parts_dir.mkdir(parents=True, exist_ok=True)
    batches = math.ceil(len(todo) / opts.batch_images)
    min_size, max_size = _pool_size(ray, opts, batches)
    log.info("Ray: %d image(s) in %d batch(es) on %d-%d actor(s)", len(todo), batches, min_size, max_size)
    if opts.gpus_per_worker == 0 and cfg.device == "auto":
        cfg = cfg.replace(device="cpu")  # an actor without a GPU share must not take one of the node's
    if cfg.threads == 0:
        cfg = cfg.replace(threads=max(1, int(opts.cpus_per_worker)))  # torch uses the CPUs Ray reserved
    if cfg.refine_processes == -1:  # auto: refinement processes only on the CPUs Ray reserved beyond two
        cfg = cfg.replace(refine_processes=max(0, int(opts.cpus_per_worker) - 2))
    ds = _from_items(ray, [{"path": p} for p in todo], batches)
    ds = ds.map_batches(
        AnnotateActor,
        fn_constructor_args=(cfg.to_dict(), str(root), str(parts_dir.resolve())),
        batch_size=opts.batch_images,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=min_size, max_size=max_size),
        num_cpus=opts.cpus_per_worker,
        num_gpus=opts.gpus_per_worker,
    )
    try:
        with _quiet_ray_data(ray):
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                errors = [e for e in batch["error"] if e]
                if errors:
                    raise _error_from_text(errors[0])
                if progress is not None:
                    for boxes, failed in zip(batch["boxes"], batch["failed"]):
                        progress(1, int(boxes), int(bool(failed)))
    except AutolabelError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise RunError(f"the Ray job failed: {type(e).__name__}: {first}") from e


def annotate_ray(
    config: PipelineConfig,
    input_path: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    *,
    options: RayOptions | None = None,
    allow_config_change: bool = False,
    progress: ProgressFn | None = None,
    on_start: StartFn | None = None,
) -> RunSummary:
    """Annotate every image under ``input_path`` into ``run_dir`` on a Ray cluster.

    The run is the one the local engine writes for the same images and settings (created, or
    resumed with done and failed images skipped). The driver loads no model: a new run's
    manifest comes from the config, and the actors build the models.

    Args:
        config: the pipeline settings (``workers`` = decoding threads inside each actor).
        input_path: folder (searched recursively) or one image file, visible to every node.
        run_dir: the run directory, visible to every node.
        options: cluster address and actor pool (:class:`RayOptions`).
        allow_config_change: resume even if result-affecting settings differ.
        progress: called once per finished image as results come back.
        on_start: called once with ``(images to process, images skipped)``.

    Raises:
        ConfigError (Ray missing, bad option), InputError, ResumeMismatchError, RunLockedError,
        ModelError, WeightsError, RunError (cluster unreachable, job failed; ``run_dir`` a file,
        the input folder itself or a folder of other files). RunInterrupted: Ctrl-C once the
        job began (finished parts merged first; carries the summary).
    """
    opts = options or RayOptions()
    ray = require_ray()
    check_run_dir(run_dir, input_path)  # a file, the input itself or a folder of other files: refused
    if not ray.is_initialized():
        check_reachable(opts.address)
    input_path = Path(input_path)
    source = find_images(input_path, exclude=[run_dir])  # a run inside its input is not input
    store = RunStore(run_dir)
    if not store.exists():
        check_driver_weights(config)  # a new run: before its folder exists
    with locked_run(store):
        if store.exists():
            leftover = merge_parts(store)
            if leftover.parts:
                log.info("kept %d image(s) that a previous job finished before it stopped", leftover.processed)
        todo, summary = start_run(store, config, source, input_path, allow_config_change=allow_config_change)
        summary.unreadable = source.unreadable
        if on_start:
            on_start(len(todo), summary.skipped)
        if not todo:
            return summary
        t0 = time.perf_counter()
        try:
            try:
                with _connected(ray, opts.address):
                    _run_dataset(ray, config, source.root, store, todo, opts, progress)
            finally:
                merged = merge_parts(store)  # also after a failure or Ctrl-C: finished work is kept
                summary.processed += merged.processed
                summary.failed += merged.failed
                summary.boxes += merged.boxes
                summary.failures.extend(merged.failures)
                summary.seconds = time.perf_counter() - t0
        except KeyboardInterrupt as e:
            summary.processed, summary.failed = count_done(store, todo)
            raise RunInterrupted(summary) from e
    return summary



def annotate(
    config: PipelineConfig,
    input_path: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    options: EngineOptions | None = None,
    *,
    progress: ProgressFn | None = None,
    on_start: StartFn | None = None,
) -> RunSummary:
    """The ``ray`` engine's entry (see :class:`~autolabel.engines.Engine`): :func:`annotate_ray`
    with ``options.workers`` actors (None or 0: as many as the cluster holds),
    ``options.gpus_per_worker`` and ``options.address``.

    Raises:
        ConfigError: ``options.previews`` (not available on Ray), and as :func:`annotate_ray`.
    """
    options = options or EngineOptions()
    if options.previews:
        raise ConfigError("--previews is not available with --engine ray; run without it")
    ray_options = RayOptions(address=options.address, workers=options.workers or None,
                             gpus_per_worker=options.gpus_per_worker)
    return annotate_ray(config, input_path, run_dir, options=ray_options,
                        allow_config_change=options.allow_config_change, progress=progress, on_start=on_start)
