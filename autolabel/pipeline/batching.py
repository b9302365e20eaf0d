"""Few shapes for the models: batches padded to a small set of sizes, and shapes counted.

On a GPU every new input shape costs a kernel selection (hundreds of milliseconds on cuDNN /
cuBLAS heuristics, a recompile under ``torch.compile``, a new graph for CUDA graphs). The
number of crops per chunk varies from chunk to chunk, so without padding nearly every
classifier batch is a new shape. Padding each batch's leading (batch) axis up to one of a few
*buckets* bounds the distinct shapes to ``len(buckets)``; the padding rows are zeros and are
dropped from the results.

Rows of a batch never interact in inference (no batch statistics), so the real rows of a padded
batch do not depend on what the padding holds. Whether they equal an unpadded run bit for bit
depends on the backend choosing the same kernel for both batch sizes (on CPUs it often does
not: differences are a few float32 ulps, see ``tests/pipeline/test_batching.py``).
"""

from __future__ import annotations

import threading
from typing import Iterable

import torch

DEFAULT_BUCKETS = (8, 16, 32, 64)
"""Batch sizes a padded batch is rounded up to (then multiples of the largest one)."""


def buckets_for(limit: int, base: Iterable[int] = DEFAULT_BUCKETS) -> tuple[int, ...]:
    """The buckets for batches of at most ``limit`` rows: those of ``base`` below ``limit``,
    then ``limit`` itself (so a full batch is never padded).

    >>> buckets_for(32)
    (8, 16, 32)
    >>> buckets_for(20)
    (8, 16, 20)
    >>> buckets_for(4)
    (4,)
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    return tuple(sorted({b for b in base if b < limit} | {limit}))


def bucket(n: int, buckets: tuple[int, ...]) -> int:
    """The smallest bucket holding ``n`` rows (``n`` itself if it exceeds every bucket)."""
    for b in buckets:
        if n <= b:
            return b
    return n


def pad_rows(x: torch.Tensor, size: int) -> torch.Tensor:
    """``x`` ``(n, ...)`` with zero rows appended up to ``(size, ...)`` (``x`` itself if ``n >= size``)."""
    n = x.shape[0]
    if n >= size:
        return x
    return torch.cat([x, x.new_zeros((size - n, *x.shape[1:]))])


def split_batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` cutting ``n`` rows into batches of at most ``batch_size``."""
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


class ShapeLog:
    """Distinct input shapes each model saw (thread-safe), for ``bench``'s ``shapes`` report."""

    def __init__(self) -> None:
        self._seen: dict[str, set[tuple[int, ...]]] = {}
        self._lock = threading.Lock()

    def see(self, model: str, shape: torch.Size | tuple[int, ...]) -> None:
        """Record that ``model`` was called on an input of ``shape``."""
        with self._lock:
            self._seen.setdefault(model, set()).add(tuple(int(s) for s in shape))

    def counts(self) -> dict[str, int]:
        """``{model: number of distinct input shapes}``."""
        with self._lock:
            return {k: len(v) for k, v in sorted(self._seen.items())}

    def shapes(self, model: str) -> set[tuple[int, ...]]:
        """The distinct input shapes ``model`` saw."""
        with self._lock:
            return set(self._seen.get(model, set()))

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
