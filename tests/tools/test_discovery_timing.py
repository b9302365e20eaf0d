"""The discovery timing table (what scripts/gpu_check reports) on the CPU."""

from __future__ import annotations

import torch

from autolabel.discovery import list_discovery
from autolabel.tools.bench.discovery_timing import scene_keys, time_discovery


def test_every_method_is_timed_and_both_forms_agree() -> None:
    rows = time_discovery(list_discovery(), batch=3, grid=(8, 10), dim=16, repeats=1)
    assert [r.method for r in rows] == list_discovery()
    for r in rows:
        assert r.images == 3 and r.batched_ms > 0 and r.per_image_ms > 0
        assert r.same_images == 3, r  # batched and per-image forms give the same regions
        assert r.regions_per_image >= 1  # the scenes have objects: every method finds something


def test_scene_keys_are_reproducible_and_shaped() -> None:
    a = scene_keys(2, 4, 6, c=8, seed=5)
    assert a.shape == (2, 24, 8) and torch.equal(a, scene_keys(2, 4, 6, c=8, seed=5))


