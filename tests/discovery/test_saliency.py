"""Feature saliency: a region's objectness falls with how little its patches stand out of the
grid (mean key norm inside its box over the grid's mean), and never rises."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autolabel.discovery.regions import Region
from autolabel.discovery.saliency import cell_cover, key_norms, saliency_factor, saliency_ratio, salient


def _region(box: tuple[int, int, int, int], objectness: float, grid: tuple[int, int]) -> Region:
    mask = np.zeros(grid, dtype=bool)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = True
    return Region(box, objectness, y1 * grid[1] + x1, mask)


def test_key_norms_are_per_patch_norms_on_the_grid() -> None:
    keys = torch.tensor([[[3.0, 4.0], [0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [6.0, 8.0], [0.0, 1.0]]])  # (1, 2*3, 2)
    norms = key_norms(keys, (2, 3))
    assert norms.shape == (1, 2, 3) and norms.dtype == np.float32
    assert norms[0].tolist() == [[5.0, 0.0, 1.0], [2.0, 10.0, 1.0]]  # row-major, like the keys' patches
    assert key_norms(keys.to(torch.bfloat16), (2, 3)) == pytest.approx(norms, rel=1e-2)  # read in float32


def test_cell_cover_counts_the_share_of_each_patch_inside_the_box() -> None:
    cover = cell_cover((0.5, 0.0, 2.0, 1.5), (2, 3))
    assert cover.tolist() == [[0.5, 1.0, 0.0], [0.25, 0.5, 0.0]]
    assert cell_cover((0, 0, 3, 2), (2, 3)).sum() == 6.0
    assert cell_cover((5, 5, 9, 9), (2, 3)).sum() == 0.0  # off the grid


def test_saliency_ratio_is_the_boxs_mean_norm_over_the_grids() -> None:
    norms = np.ones((4, 6), dtype=np.float32)
    norms[1:3, 2:4] = 4.0  # a 2 x 2 object: grid mean (20 + 16) / 24 = 1.5
    assert saliency_ratio(norms, cell_cover((2, 1, 4, 3), (4, 6))) == pytest.approx(4.0 / 1.5)
    assert saliency_ratio(norms, cell_cover((0, 0, 6, 4), (4, 6))) == pytest.approx(1.0)  # the whole grid
    assert saliency_ratio(norms, cell_cover((0, 0, 2, 4), (4, 6))) == pytest.approx(1.0 / 1.5)  # backdrop only
    assert saliency_ratio(norms, np.zeros((4, 6))) == 1.0  # covers nothing: unchanged
    assert saliency_ratio(np.zeros((4, 6)), cell_cover((0, 0, 2, 2), (4, 6))) == 1.0  # all-zero keys


@pytest.mark.parametrize("ratio, knee, power, factor", [
    (2.0, 1.25, 2.0, 1.0),       # above the knee: kept
    (1.25, 1.25, 2.0, 1.0),      # at the knee
    (0.625, 1.25, 2.0, 0.25),    # half the knee, squared
    (1.0, 1.25, 1.0, 0.8),
    (0.5, 1.25, 0.0, 1.0),       # power 0: off
    (-0.1, 1.25, 1.0, 0.0),
])
def test_saliency_factor(ratio: float, knee: float, power: float, factor: float) -> None:
    assert saliency_factor(ratio, knee, power) == pytest.approx(factor)


def test_salient_keeps_standing_out_regions_and_lowers_dull_ones() -> None:
    grid = (4, 6)
    norms = np.ones(grid, dtype=np.float32)
    norms[1:3, 2:4] = 4.0
    obj = _region((2, 1, 4, 3), 0.5, grid)        # ratio 2.67: kept
    scene = _region((0, 0, 6, 4), 0.9, grid)      # ratio 1: x (1 / 1.25) ** 2 = 0.64
    backdrop = _region((0, 0, 2, 4), 0.6, grid)   # ratio 0.67: x (0.533) ** 2
    out = salient([scene, backdrop, obj], norms, knee=1.25, power=2.0)
    assert [r.box for r in out] == [scene.box, obj.box, backdrop.box]  # re-sorted by the new objectness
    assert [r.objectness for r in out] == pytest.approx([0.9 * 0.64, 0.5, 0.6 * (1 / 1.5 / 1.25) ** 2])
    assert all(a.mask is b.mask and a.seed == b.seed for a, b in zip(out, [scene, obj, backdrop]))
    assert salient([], norms, 1.25, 2.0) == []
