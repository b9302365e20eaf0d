"""Batched discovery gives the same regions as per-image discovery, image by image: the same
boxes, seeds and masks, scores to rounding (what any CPU and a GPU give, whatever their kernels'
reduction order for the batch shape)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autolabel.config import PipelineConfig
from autolabel.discovery.batched import batched_methods, discover_batch
from autolabel.discovery.lost import lost_multi, lost_multi_batch, lost_single_batch, lost_single_region, seed_groups
from autolabel.discovery.maskcut import maskcut_regions, maskcut_regions_batch
from autolabel.discovery.tokencut import bipartition, tokencut_region, tokencut_regions_batch
from autolabel.tools.bench.discovery_timing import scene_keys


def _same(a, b) -> None:
    """The same regions: boxes, seeds and masks exactly; objectness to float32 rounding (a score
    computed in a batch may differ in its last bits: another kernel, another reduction order)."""
    assert [(r.box, r.seed) for r in a] == [(r.box, r.seed) for r in b]
    assert [r.objectness for r in a] == pytest.approx([r.objectness for r in b], rel=1e-5, abs=1e-6)
    assert all(np.array_equal(x.mask, y.mask) for x, y in zip(a, b))


@pytest.mark.parametrize("grid", [(6, 8), (12, 9), (30, 40)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_single_batch_equals_per_image(grid: tuple[int, int], dtype: torch.dtype) -> None:
    keys = scene_keys(5, *grid, seed=sum(grid)).to(dtype)
    batched = lost_single_batch(keys, grid, k_patches=20)
    assert len(batched) == 5
    for k, regions in zip(keys, batched):
        _same(regions, [lost_single_region(k, grid, 20)])


@pytest.mark.parametrize("grid", [(6, 8), (12, 9), (30, 40)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("num_seeds, threshold", [(10, 0.0), (40, 0.2), (3, -0.1)])
def test_multi_batch_equals_per_image(grid: tuple[int, int], dtype: torch.dtype, num_seeds: int, threshold: float) -> None:
    keys = scene_keys(6, *grid, seed=num_seeds + sum(grid)).to(dtype)
    batched = lost_multi_batch(keys, grid, num_seeds=num_seeds, k_patches=30, threshold=threshold, nms_iou=0.5)
    for k, regions in zip(keys, batched):
        _same(regions, lost_multi(k, grid, num_seeds=num_seeds, k_patches=30, threshold=threshold, nms_iou=0.5))
    if grid == (30, 40) and num_seeds == 40:  # several objects per image: groups and NMS exercised
        assert max(len(r) for r in batched) > 1


def test_seed_groups_are_8_connected_components() -> None:
    # grid 5 wide: seeds at (0,0), (1,1) diagonal neighbours, (0,3) alone, (4,4) and (3,4) adjacent
    w = 5
    seeds = torch.tensor([[0, 6, 3, 24, 19]])
    g = seed_groups(seeds, w)[0]
    expected = [[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 1, 1]]
    assert g.int().tolist() == expected
    # a chain longer than one step merges transitively
    chain = seed_groups(torch.tensor([[0, 1, 2, 3, 4, 20]]), w)[0]
    assert chain[0, 4] and not chain[0, 5]


def test_every_registered_method_gives_per_image_results_through_discover_batch() -> None:
    """Methods with a batched form and those without (per-image fallback): the same regions as
    the registry's per-image call, for every method the project has."""
    from autolabel.discovery import get_discovery, list_discovery
    from autolabel.pipeline.discover import discover_regions

    keys = scene_keys(3, 10, 12, seed=7)
    for name in list_discovery():
        cfg = PipelineConfig(discovery=name, num_seeds=8, k_patches=20)
        method = get_discovery(name)
        got = discover_batch(keys, (10, 12), cfg, discover_regions)
        assert len(got) == 3
        for k, regions in zip(keys, got):
            _same(regions, method(k, (10, 12), **method.params_from(cfg)))


@pytest.mark.parametrize("method", batched_methods())
def test_discover_batch_dispatches_by_config(method: str) -> None:
    keys = scene_keys(3, 7, 9, seed=3)
    keys = keys - keys.mean(dim=1, keepdim=True)  # centred, as a CNN map: votes finds regions in each
    cfg = PipelineConfig(discovery=method, num_seeds=6, k_patches=15)
    calls = []

    def per_image(k, grid, c):
        calls.append(k)
        return []

    out = discover_batch(keys, (7, 9), cfg, per_image)
    assert len(out) == 3 and all(out) and calls == []  # batched: the per-image fallback unused


def test_discover_batch_falls_back_per_image_for_other_methods() -> None:
    keys = scene_keys(2, 4, 4, seed=1)

    class Cfg:
        discovery = "something-else"

    seen = []
    out = discover_batch(keys, (4, 4), Cfg(), lambda k, grid, c: seen.append(tuple(k.shape)) or [])
    assert out == [[], []] and seen == [(16, 24), (16, 24)]


def test_bad_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(B, h\*w, C\)"):
        lost_single_batch(torch.zeros(2, 10, 4), (3, 4))


@pytest.mark.parametrize("grid", [(6, 8), (12, 9), (20, 25), (30, 40)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_tokencut_batch_equals_per_image(grid: tuple[int, int], dtype: torch.dtype) -> None:
    keys = scene_keys(5, *grid, seed=3 + sum(grid)).to(dtype)
    batched = tokencut_regions_batch(keys, grid)
    assert len(batched) == 5 and all(len(r) == 1 for r in batched)
    for k, regions in zip(keys, batched):
        _same(regions, [tokencut_region(k, grid)])


@pytest.mark.parametrize("grid", [(6, 8), (12, 9), (20, 25), (30, 40)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_maskcut_batch_equals_per_image(grid: tuple[int, int], dtype: torch.dtype) -> None:
    keys = scene_keys(5, *grid, seed=5 + sum(grid)).to(dtype)
    batched = maskcut_regions_batch(keys, grid, cuts=3)
    assert len(batched) == 5
    for k, regions in zip(keys, batched):
        _same(regions, maskcut_regions(k, grid, cuts=3))
    if grid == (30, 40):  # several cuts and components per image: rounds and NMS exercised
        assert max(len(r) for r in batched) > 2


def test_maskcut_images_that_stop_early_leave_the_others_unchanged() -> None:
    """One image's graph is constant (nothing to cut): it gets no region, and the other images
    of its batch get exactly what they get alone."""
    keys = scene_keys(3, 12, 9, seed=11)
    keys[1] = 1.0  # every patch alike
    batched = maskcut_regions_batch(keys, (12, 9), cuts=4, score="contrast")
    assert batched[1] == []
    for i in (0, 2):
        _same(batched[i], maskcut_regions(keys[i], (12, 9), cuts=4, score="contrast"))


def test_the_tokencut_seed_ignores_rounding_noise() -> None:
    """Two patches with equal |x| (up to the last bits): the lower index is the seed, and the
    foreground is the same, however another kernel rounds."""
    x = torch.tensor([[0.1, -0.2, 0.05, 0.4, -0.1, 0.3, 0.0, -0.4, 0.2]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    results = set()
    for _ in range(50):
        noisy = x * (1 + 1e-7 * torch.randn(x.shape, generator=gen, dtype=torch.float64))
        fg, seed = bipartition(noisy)
        results.add((int(seed[0]), tuple(fg[0].tolist())))
    assert results == {(3, tuple((x[0] > x[0].mean()).tolist()))}  # index 3 (0.4) over 7 (-0.4); its side
