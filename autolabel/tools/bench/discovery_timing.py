"""Discovery alone, per method, on any device: milliseconds per image batched and per image, and
whether the two forms agree (what ``scripts/gpu_check.sh`` reports for a GPU).

The keys are synthetic scenes (:func:`scene_keys`): a background direction and a few
rectangular "objects" whose patches share another, plus noise, so that every method finds
something (random model weights give keys in which ``votes`` finds almost nothing, which would
time an empty loop).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import torch


def scene_keys(b: int, h: int, w: int, c: int = 24, seed: int = 0) -> torch.Tensor:
    """``(b, h*w, c)`` float32 keys of ``b`` scenes on an ``h x w`` grid (CPU): a background
    direction with noise, and one to three rectangles of one direction each."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(b):
        bg = torch.randn(c, generator=g)
        k = bg + 0.8 * torch.randn(h, w, c, generator=g)
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            y, x = int(torch.randint(0, h - 2, (1,), generator=g)), int(torch.randint(0, w - 2, (1,), generator=g))
            dy = int(torch.randint(2, max(3, h // 2), (1,), generator=g))
            dx = int(torch.randint(2, max(3, w // 2), (1,), generator=g))
            k[y: y + dy, x: x + dx] = torch.randn(c, generator=g) * 2 + 0.5 * torch.randn(min(dy, h - y), min(dx, w - x), c, generator=g)
        out.append(k.reshape(h * w, c))
    return torch.stack(out)


@dataclass(frozen=True)
class DiscoveryTiming:
    """One method's timing on one batch shape."""

    method: str
    batched: bool
    """Whether the method has a batched form (else ``batched_ms`` is the per-image loop too)."""
    batched_ms: float
    """Median milliseconds per image of one ``discover_batch`` call on the batch."""
    per_image_ms: float
    """Median milliseconds per image of the per-image form called image by image (keys on the device)."""
    same_images: int
    """Images whose regions (boxes, seeds, masks; objectness within 1e-6) are the same both ways."""
    images: int
    regions_per_image: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DiscoveryTimingReport:
    """:func:`time_discovery`'s rows with what they were measured on (``bench --discovery-timing``)."""

    device: str
    batch: int
    grid_hw: list[int]
    dim: int
    dtype: str
    rows: list[DiscoveryTiming]

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "batch": self.batch, "grid_hw": self.grid_hw, "dim": self.dim,
                "dtype": self.dtype, "methods": [r.to_dict() for r in self.rows]}


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        x.box == y.box and x.seed == y.seed and abs(x.objectness - y.objectness) <= 1e-6 and np.array_equal(x.mask, y.mask)
        for x, y in zip(a, b))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_discovery(methods: list[str], device: str | torch.device = "cpu", *, batch: int = 16,
                   grid: tuple[int, int] = (30, 40), dim: int = 384, dtype: torch.dtype = torch.float32,
                   repeats: int = 3, config: Any = None) -> list[DiscoveryTiming]:
    """Time each of ``methods`` on ``batch`` scene images of ``grid`` patches and ``dim``-dim keys.

    Args:
        methods: discovery method names (the config's ``discovery`` values).
        device: where the keys live (the models' device in a run).
        batch: images per call (the pipeline's ``image_batch``).
        grid: ``(h, w)`` patches (640x480 at patch 16 is ``(30, 40)``).
        dim: key channels (ViT-S/16: 384).
        dtype: key dtype (a bf16 extractor gives bf16 keys).
        repeats: timed calls per form after one warm-up; the median is reported.
        config: a PipelineConfig for the methods' parameters (default: PipelineConfig()).
    """
    from autolabel.config import PipelineConfig
    from autolabel.discovery import get_discovery
    from autolabel.discovery.batched import discover_batch
    from autolabel.pipeline.discover import discover_regions

    dev = torch.device(device)
    keys = scene_keys(batch, *grid, c=dim).to(dev, dtype)
    out = []
    for name in methods:
        cfg = (config or PipelineConfig()).replace(discovery=name)
        method = get_discovery(name)
        per_image_keys = keys if method.batched is not None else keys.cpu()  # as discover_batch hands them over
        forms = {
            "batched": partial(discover_batch, keys, grid, cfg, discover_regions),
            "per_image": partial(_one_by_one, method, per_image_keys, grid, method.params_from(cfg)),
        }
        results, times = {}, {}
        for label, fn in forms.items():
            results[label] = fn()  # warm-up (kernel selection, lazy imports)
            spans = []
            for _ in range(max(1, repeats)):
                _sync(dev)
                t0 = time.perf_counter()
                fn()
                _sync(dev)
                spans.append(time.perf_counter() - t0)
            times[label] = statistics.median(spans) * 1000.0 / batch
        same = sum(_same(a, b) for a, b in zip(results["batched"], results["per_image"]))
        out.append(DiscoveryTiming(name, method.batched is not None, times["batched"], times["per_image"], same, batch,
                                   sum(len(r) for r in results["batched"]) / batch))
    return out


def _one_by_one(method: Any, keys: torch.Tensor, grid: tuple[int, int], params: dict[str, Any]) -> list[list]:
    return [method(k, grid, **params) for k in keys]


def discovery_timing(config: Any, batch: int, size: tuple[int, int], *, dim: int = 384, repeats: int = 3) -> DiscoveryTimingReport:
    """Every registered method timed (:func:`time_discovery`) on ``config``'s device, on
    ``batch`` scene images of ``size`` ``(width, height)`` pixels at patch 16 with ``dim``-channel
    keys in the dtype the extractor would give there (bf16 where ``config.precision`` resolves
    to it): what ``autolabel bench --discovery-timing`` and ``scripts/gpu_check.sh`` report."""
    from autolabel.devices import resolve_device, resolve_precision
    from autolabel.discovery import list_discovery

    device = resolve_device(config.device)
    dtype = torch.bfloat16 if resolve_precision(config.precision, device) == "bf16" else torch.float32
    grid = (max(1, size[1] // 16), max(1, size[0] // 16))
    rows = time_discovery(list_discovery(), device, batch=batch, grid=grid, dim=dim, dtype=dtype, repeats=repeats,
                          config=config)
    return DiscoveryTimingReport(str(device), batch, list(grid), dim, str(dtype).removeprefix("torch."), rows)
