"""Pipeline stage: pixel-level refinement of a chunk's regions, in the calling thread or in worker
processes, into :class:`~autolabel.pipeline.work.Found` objects placed in the displayed image.

Refinement (:mod:`autolabel.discovery.refine`) costs a millisecond or a few per region on the
CPU, in numpy and scipy calls that mostly hold the GIL: threads do not run it in parallel
(measured on 2 cores: 2 threads used 1.0 CPU). On a GPU server the models take a few ms per
image, so refinement on one thread caps a run at roughly 50-100 images/s. A
:class:`Refiner` with ``processes > 0`` runs it in a pool of worker processes instead, one
job per view: the job carries the view's resized ``uint8`` pixels (0.9 MB at 640x480) and
its regions' patch masks, and returns the pixel masks, each also encoded as the RLE the run
writes (mask encoding works on the mask's own cells, :func:`~autolabel.masks.from_frame`: about
a millisecond per object whatever the photo's size, and otherwise runs on the thread that
writes results; a region that is not kept wastes its encoding, in a worker).

A region that is a ring around other things (:func:`autolabel.discovery.sides.encloses_objects`:
a photo's frame) is left out before refinement and never exported.

Results do not depend on where a job runs: the same function (:func:`refine_view`) on the
same arrays, in the parent or a worker.

Workers are started with ``spawn`` (never ``fork``: the parent holds CUDA state and threads)
on the first job, and import only numpy, scipy and torch's CPU part.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from autolabel.discovery.refine import PixelMask, grid_mask, refine_region, work_image
from autolabel.discovery.regions import Region
from autolabel.discovery.shifted import ShiftedMask
from autolabel.discovery.sides import encloses_objects
from autolabel.geometry import clip_box
from autolabel.masks import from_frame
from autolabel.pipeline.work import Encoded, Found, Item

log = logging.getLogger(__name__)

MAX_AUTO_PROCESSES = 16
"""Most refinement processes ``refine_processes: -1`` (auto) starts."""


def resolve_refine_processes(processes: int, device_type: str, cpu_count: int | None = None) -> int:
    """Worker processes for the config's ``refine_processes``: itself if >= 0; for ``-1``
    (auto), on CUDA one per core beyond the two the pipeline's own threads keep busy (at most
    :data:`MAX_AUTO_PROCESSES`; none on machines of fewer than 4 cores), and none on a CPU
    device, where the models already use every core."""
    if processes >= 0:
        return processes
    if device_type != "cuda":
        return 0
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return 0 if cores < 4 else min(MAX_AUTO_PROCESSES, cores - 2)


@dataclass(frozen=True)
class RefinedView:
    """What :func:`refine_view` returns for one view."""

    masks: list[PixelMask]
    """Each region's pixel mask."""
    seconds: float
    """Time the refinement (and encoding) took, where it ran."""
    encoded: list[Encoded] | None = None
    """With ``frame``: each mask encoded over the displayed image, cut to its clipped box (what
    the pipeline writes for a kept object); None without."""


def encode_found(mask: PixelMask, width: int, height: int) -> Encoded:
    """``mask`` as written for an object whose box is its bounds clipped to the ``width x height``
    displayed image: :func:`~autolabel.masks.from_frame` with ``box = clip_box(mask.box)``."""
    return from_frame(mask.mask, mask.origin, mask.scale, width, height, box=clip_box(mask.box, width, height))


def refine_view(pixels: np.ndarray, patch: int, origin: tuple[float, float], scale: tuple[float, float],
                regions: Sequence[Region], frame: tuple[int, int] | None = None,
                shifted: Sequence[Sequence[ShiftedMask]] | None = None) -> RefinedView:
    """Refine ``regions`` of one view (and encode their masks with ``frame``).

    Args:
        pixels: ``(H, W, 3)`` uint8 RGB of the view at the extractor's resolution (``H``, ``W``
            multiples of ``patch``).
        patch: extractor patch size in ``pixels`` pixels.
        origin: displayed-image pixels of ``pixels``' top-left corner.
        scale: ``(sx, sy)`` displayed-image pixels per ``pixels`` pixel.
        regions: the view's regions on its patch grid.
        frame: the displayed image's ``(width, height)``: also encode each mask
            (:func:`encode_found`), so that a worker process does that too.
        shifted: per region, its masks on shifted readings of the view (``mask_readings``,
            :func:`autolabel.discovery.shifted.shifted_masks`); None without.
    """
    t0 = time.perf_counter()
    work = work_image(pixels, patch, origin, scale)
    per_region = shifted if shifted is not None else [()] * len(regions)
    masks = [refine_region(work, r, shifted=s) for r, s in zip(regions, per_region, strict=True)]
    encoded = None if frame is None else [encode_found(m, *frame) for m in masks]
    return RefinedView(masks, time.perf_counter() - t0, encoded)


def _ready() -> bool:
    """A worker's first job: it has imported this module (and so numpy and scipy)."""
    return True


PARENT_POLL_S = 0.5
"""How often a worker checks that the process that started it is still alive, in seconds."""


def _watch_parent(parent: int) -> None:
    """A worker's initializer: a daemon thread ends the worker soon after its parent dies (a
    ``kill -9`` of ``annotate`` or the out-of-memory killer), so no worker outlives the run."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="autolabel-parent-watch", daemon=True).start()


class RefineJob:
    """One view's refinement, running in a worker or already done in the calling thread."""

    def __init__(self, refiner: Refiner, future: Future[RefinedView], args: tuple[Any, ...]) -> None:
        self._refiner = refiner
        self._future = future
        self._args = args

    def result(self) -> RefinedView:
        """The job's :class:`RefinedView`. If its worker died (killed, out of memory), the pool
        is replaced and the job is redone here: same function, same arrays, same result."""
        try:
            return self._future.result()
        except BrokenProcessPool:
            self._refiner.discard_broken_pool()
            return refine_view(*self._args)


class Refiner:
    """Runs :func:`refine_view` jobs in the caller's thread (``processes=0``) or in a pool of
    ``processes`` worker processes. Use as a context manager; :meth:`close` stops the workers.
    Workers end with their parent (:func:`_watch_parent`); a pool whose worker died is replaced
    by a new one on the next job (:meth:`discard_broken_pool`)."""

    def __init__(self, processes: int = 0) -> None:
        self.processes = max(0, int(processes))
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, pixels: np.ndarray, patch: int, origin: tuple[float, float], scale: tuple[float, float],
               regions: Sequence[Region], frame: tuple[int, int] | None = None,
               shifted: Sequence[Sequence[ShiftedMask]] | None = None) -> RefineJob:
        """A job running :func:`refine_view` on these arguments (already done in-thread
        without processes)."""
        args = (pixels, patch, origin, scale, list(regions), frame, None if shifted is None else list(shifted))
        if self.processes == 0 or not regions:
            done: Future[RefinedView] = Future()
            try:
                done.set_result(refine_view(*args))
            except BaseException as e:  # delivered by result(), as a worker's error would be
                done.set_exception(e)
            return RefineJob(self, done, args)
        pool = self.start()
        assert pool is not None
        try:
            future = pool.submit(refine_view, *args)
        except BrokenProcessPool:
            self.discard_broken_pool(pool)
            future = self.start().submit(refine_view, *args)  # type: ignore[union-attr]
        return RefineJob(self, future, args)

    def start(self) -> ProcessPoolExecutor | None:
        """Start the worker processes now (they import numpy and scipy, a second or so, while
        the caller loads models or reads its first images); None without processes."""
        if self.processes == 0:
            return None
        with self._lock:
            if self._pool is None:
                log.debug("starting %d refinement process(es)", self.processes)
                self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_watch_parent, initargs=(os.getpid(),))
                for _ in range(self.processes):
                    self._pool.submit(_ready)
            return self._pool

    def discard_broken_pool(self, pool: ProcessPoolExecutor | None = None) -> None:
        """Drop the pool (``pool``, or the current one) after one of its workers died; the next
        job starts a new one. Logged once per broken pool."""
        with self._lock:
            if self._pool is None or (pool is not None and pool is not self._pool):
                return
            broken, self._pool = self._pool, None
        log.warning("a refinement worker process died (killed, or out of memory); its work is redone and a new pool started")
        # A job half-written into the call queue when its worker died leaves the queue's feeder
        # thread blocked on a full pipe whose only reader is now this process; Python before
        # 3.11.4 joins that thread at exit and hangs (CPython gh-94777). Closing our read end
        # makes the blocked write fail, so the feeder ends (its job is already redone here).
        # Taken before shutdown(), which drops the executor's reference to the queue.
        reader = getattr(getattr(broken, "_call_queue", None), "_reader", None)
        broken.shutdown(wait=False, cancel_futures=True)
        if reader is not None:
            try:
                reader.close()
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Refiner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Refining:
    """The refinement stage: starts each view's refinement job (:meth:`localise`) and collects
    the finished jobs' objects (:meth:`collect`). Keeps its :class:`Refiner` (and so its worker
    processes) from one stream to the next, until :meth:`close`.

    Args:
        config: the pipeline settings (``refine``, ``refine_processes``, ``masks``).
        clock: where ``refine`` (time in the jobs, per region) and ``refine_wait`` are added.
    """

    def __init__(self, config: Any, clock: Any) -> None:
        self.config = config
        self.clock = clock
        self.refiner = Refiner(0)

    def start(self, device_type: str) -> None:
        """Start the worker processes the config asks for on ``device_type`` (once)."""
        cfg = self.config
        processes = resolve_refine_processes(cfg.refine_processes, device_type) if cfg.refine else 0
        if self.refiner.processes != processes:  # kept between streams: workers start once
            self.refiner.close()
            self.refiner = Refiner(processes)
        self.refiner.start()

    def close(self) -> None:
        self.refiner.close()

    def localise(self, it: Item, index: int, regions: list[Region],
                 shifted: Sequence[Sequence[ShiftedMask]] | None = None) -> Callable[[], list[Found]]:
        """Each region's pixels and box in the displayed image: refined at pixel level
        (``refine``, :mod:`autolabel.discovery.refine`) or its patch mask, for view ``index``
        of ``it``; ``shifted``: per region, its masks on shifted readings (``mask_readings``).
        Returns a function that gives them: refinement jobs are started here and may run in
        worker processes, which then also encode the masks (``masks`` on, whole images)."""
        view = it.views[index]
        rz = view.resized
        kept = [k for k, r in enumerate(regions) if not encloses_objects(r.mask)]  # not the background around objects
        regions = [regions[k] for k in kept]
        if shifted is not None:
            shifted = [shifted[k] for k in kept]
        origin, scale = (float(view.tile.x0), float(view.tile.y0)), (rz.scale_x, rz.scale_y)
        if not regions or not self.config.refine:
            masks = [grid_mask(r, rz.patch, origin, scale) for r in regions]
            return lambda: [Found(m.box, r.objectness, m, index) for r, m in zip(regions, masks)]
        assert it.decoded is not None
        frame = None
        if self.refiner.processes and self.config.masks and len(it.views) == 1:
            frame = (it.decoded.width, it.decoded.height)
        job = self.refiner.submit(rz.host_pixels(), rz.patch, origin, scale, regions, frame, shifted)

        def result() -> list[Found]:
            done = job.result()
            self.clock.add("refine", done.seconds, len(regions))
            encoded = done.encoded if done.encoded is not None else [None] * len(regions)
            return [Found(m.box, r.objectness, m, index, enc, None if frame is None else clip_box(m.box, *frame))
                    for r, m, enc in zip(regions, done.masks, encoded)]

        return result

    def collect(self, it: Item) -> list[Found]:
        """``it``'s objects from its finished refinement jobs (waiting for them: ``refine_wait``)."""
        found: list[Found] = []
        with self.clock("refine_wait"):
            for result in it.pending:
                found.extend(result())
        it.pending = []
        return found
