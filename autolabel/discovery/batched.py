"""Discovery on a batch of images at once: the same regions as per-image discovery, with the
tensor work in a few batched calls and one transfer to the host per batch.

Per-image discovery runs ~100 small kernels per image and reads results back to the host
several times per image (seeds, masks), which on a GPU leaves the device idle between images.
A method's batched form (the registry's :attr:`~autolabel.discovery.DiscoveryMethod.batched`)
runs every step over the batch axis and copies to the host once or twice per batch; its
results equal the per-image form's, image by image (``tests/discovery/test_batched.py``).

:func:`discover_batch` is what the pipeline calls: a method's batched form where it has one,
else its per-image form on each image, with the batch's keys copied to the host once first
(a per-image method then never reads a device tensor back patch by patch, and runs on CPU
tensors whatever the device).

The batched forms live beside their per-image forms: LOST in :mod:`autolabel.discovery.lost`,
TokenCut and MaskCut in :mod:`~autolabel.discovery.tokencut` and :mod:`~autolabel.discovery.maskcut`
(on the batched eigensolver of :mod:`autolabel.discovery.eigen`), votes in
:mod:`autolabel.discovery.votes` (on the device connected components of
:mod:`autolabel.discovery.components`). All but LOST's per-image forms are their batched form
called with one image.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from autolabel.discovery.regions import Region
from autolabel.errors import ConfigError

CPU_BATCH = 1
"""Images per batched-discovery call on CPU tensors. A batch's ``(B, N, N)`` similarities do not
fit in a CPU's cache, and every method measured as fast or faster one image at a time
(``autolabel.tools.bench.discovery_timing.time_discovery``, 8 images of 30x40 patches, 384 channels, 2
cores: batched / one at a time 1.0-1.6x the time). What results depend on does not: an image's
regions never depend on the other images of its batch. The batch shape may change an eigenvector's
or a score's last bits (another kernel, another reduction order), never a box or a seed on the
tested scenes: seeds treat near-equal values as ties (:func:`autolabel.discovery.eigen.peak_index`)."""


def batched_methods() -> tuple[str, ...]:
    """Discovery methods (the config's ``discovery`` values) with a batched form."""
    from autolabel.discovery import get_discovery, list_discovery

    return tuple(name for name in list_discovery() if get_discovery(name).batched is not None)


def discover_batch(keys: torch.Tensor, grid_hw: tuple[int, int], cfg: Any,
                   per_image: Callable[[torch.Tensor, tuple[int, int], Any], Sequence[Region]]) -> list[list[Region]]:
    """The regions of each image of ``keys`` ``(B, N, C)`` by ``cfg.discovery``: batched where
    that method has a batched form (:func:`batched_methods`), else ``per_image(keys_b, grid_hw,
    cfg)`` on each image's ``(N, C)`` keys, on the host."""
    from autolabel.discovery import get_discovery

    try:
        method = get_discovery(cfg.discovery)
    except ConfigError:
        method = None  # a name only ``per_image`` knows: it decides
    if method is not None and method.batched is not None:
        params = method.params_from(cfg)
        if keys.device.type == "cpu":  # see CPU_BATCH
            return [regions for i in range(0, len(keys), CPU_BATCH) for regions in method.batch(keys[i:i + CPU_BATCH], grid_hw, **params)]
        return method.batch(keys, grid_hw, **params)
    host = keys.cpu()  # one copy for the batch (a no-op on CPU)
    return [list(per_image(k, grid_hw, cfg)) for k in host]
