"""How the stages run: decode threads ahead of the models, chunks of ``image_batch`` images,
stage threads that overlap (``overlap``), one CUDA stream per stage thread, and a budget of
decoded pixels held at once.

With ``overlap`` the stages run as three threads joined by bounded queues (:func:`run_ahead`):
stage 1a (device decoding, extractor, discovery, refinement jobs started) up to
:data:`REFINE_AHEAD` chunks ahead of stage 1b (refined objects placed and selected, crops), one
chunk ahead of stage 2 (classification, labels, records) on the calling thread. Without it they
run one after another on the calling thread. Results come out in input order either way.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import threading
from collections.abc import Iterable
from concurrent.futures import Executor, Future
from typing import Any, Callable, Iterator, TypeVar

import torch

from autolabel.pipeline.work import Item

REFINE_AHEAD = 2
"""With ``overlap``: chunks whose refinement runs ahead of the one being placed and cropped."""
MAX_AUTO_WORKERS = 32
"""Most decode threads ``workers: 0`` (auto) starts."""

_T = TypeVar("_T")
_U = TypeVar("_U")


def resolve_workers(workers: int, cpu_count: int | None = None) -> int:
    """Decode threads for the config's ``workers``: itself if > 0, else one per core (at
    least 2, at most :data:`MAX_AUTO_WORKERS`). PIL decodes without the GIL, so threads scale
    with cores."""
    if workers > 0:
        return workers
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 2)
    return max(2, min(MAX_AUTO_WORKERS, cores))


class PixelBudget:
    """Pixels of the decoded images held at once (thread-safe: with ``overlap`` the decode
    window is filled by the stage-1 thread and released by the consumer)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._cond = threading.Condition()

    def take(self, pixels: int, wait: bool = False) -> bool:
        """Charge ``pixels`` if they fit, or if nothing is held (one image always may go);
        with ``wait``, block until they do (another thread must be releasing)."""
        with self._cond:
            while self.held and self.held + pixels > self.limit:
                if not wait:
                    return False
                self._cond.wait()
            self.held += pixels
            return True

    def release(self, pixels: int) -> None:
        with self._cond:
            self.held -= pixels
            self._cond.notify_all()


Entry = tuple[str, Any]
"""One input: its path relative to the root (or a name), and an in-memory image or None."""


def decoded_chunks(entries: Iterable[Entry], read: Callable[[str, int, Any], Item], pixels_of: Callable[[Entry], int],
                   pool: Executor, budget: PixelBudget, *, size: int, ahead: int, clock: Any) -> Iterator[list[Item]]:
    """Decoded items in input order, ``size`` at a time, decoding ahead of use in ``pool``.

    Decoding runs ahead by up to ``ahead`` images while the decoded images held (ahead plus the
    chunks handed out, until the consumer releases them from ``budget``) stay within
    ``budget``; one image is always allowed, however large.

    Args:
        read: decodes one entry: ``read(path, pixels charged, in-memory image or None)``.
        pixels_of: an entry's pixels from its header (0 if refused before decoding).
    """
    window: collections.deque[Future[Item]] = collections.deque()
    pending = iter(entries)
    nxt: list[tuple[Entry, int]] = []
    """The next entry and its charge, read once however often the budget turns it away."""

    def peek() -> tuple[Entry, int] | None:
        if not nxt:
            e = next(pending, None)
            if e is None:
                return None
            nxt.append((e, pixels_of(e)))
        return nxt[0]

    def fill(wait: bool = False) -> None:
        while len(window) < ahead and (head := peek()) is not None:
            entry, p = head
            if not budget.take(p, wait=wait and not window):
                return
            nxt.pop()
            window.append(pool.submit(read, entry[0], p, entry[1]))

    fill()
    while window:
        chunk = []
        while window and len(chunk) < size:
            with clock("decode_wait"):
                chunk.append(window.popleft().result())
            fill()
        yield chunk
        # The chunks handed out are released by the consumer: at once when it runs on this
        # thread; with ``overlap`` on another thread, so with nothing decoded ahead wait for
        # it (never while building a chunk: those pixels are this thread's to release).
        fill(wait=True)


def stage_streams(device: torch.device, overlap: bool) -> list[Any]:
    """CUDA: stages 1a and 1b queue their kernels on streams of their own, so the GPU runs them
    beside stage 2's classifier batches; none elsewhere."""
    return [torch.cuda.Stream(device) for _ in range(2)] if overlap and device.type == "cuda" else []


def on_stream(streams: list[Any], index: int, fn: Callable[[_T], None], arg: _T) -> None:
    """``fn(arg)`` with its kernels on ``streams[index]`` (if any), complete when it returns."""
    with torch.cuda.stream(streams[index]) if streams else contextlib.nullcontext():
        fn(arg)
        if streams:
            streams[index].synchronize()


def staged(chunks: Iterator[list[Item]], stage_a: Callable[[list[Item]], None], stage_b: Callable[[list[Item]], None],
           overlap: bool) -> Iterator[list[Item]]:
    """Each chunk after ``stage_a`` then ``stage_b``, in order: on threads of their own
    (:func:`run_ahead`, ``stage_a`` up to :data:`REFINE_AHEAD` chunks ahead) with ``overlap``,
    else on the consumer's thread."""

    def a(chunk: list[Item]) -> list[Item]:
        stage_a(chunk)
        return chunk

    def b(chunk: list[Item]) -> list[Item]:
        stage_b(chunk)
        return chunk

    if overlap:  # refinement of REFINE_AHEAD chunks runs while stage 1b waits for the oldest
        return run_ahead(run_ahead(chunks, a, depth=REFINE_AHEAD), b, depth=1)
    return map(b, map(a, chunks))


_DONE = object()


def run_ahead(source: Iterator[_T], fn: Callable[[_T], _U], depth: int = 1) -> Iterator[_U]:
    """``map(fn, source)`` computed in a background thread up to ``depth`` results ahead of
    the consumer (a bounded producer-consumer queue), in order. An exception in ``source`` or
    ``fn`` is raised in the consumer; closing the returned iterator stops the producer."""
    q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(value: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for x in source:
                if not put((fn(x), None)):
                    return
        except BaseException as e:  # handed to the consumer
            put((None, e))
            return
        put((_DONE, None))

    thread = threading.Thread(target=produce, name="autolabel-stage", daemon=True)
    thread.start()
    try:
        while True:
            value, error = q.get()
            if error is not None:
                raise error
            if value is _DONE:
                return
            yield value
    finally:
        stop.set()
        thread.join()
