"""Per-stage wall-clock accounting (cheap enough to stay on in production runs)."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator


class StageClock:
    """Sums seconds and counts per named stage; safe to use from several threads.

    Stages timed in worker threads (decoding) add their threads' time, which overlaps the
    main thread's; the main-thread stages add up to (nearly) the run's wall time.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float, count: int = 1) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
            self.counts[stage] = self.counts.get(stage, 0) + count

    @contextlib.contextmanager
    def __call__(self, stage: str, count: int = 1) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t0, count)

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.counts.clear()
