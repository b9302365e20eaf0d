"""LOST on hand-built keys with known answers; the multi-object form; NMS on real corners."""

from __future__ import annotations

import pytest
import torch

from autolabel.discovery.lost import (
    affinity,
    component_box,
    degree,
    degree_order,
    lost_multi,
    lost_single,
)


def grid_keys(h: int, w: int, dim: int = 8, background: int = 0) -> torch.Tensor:
    """(h*w, dim) keys, every patch the unit vector e_background."""
    k = torch.zeros(h * w, dim)
    k[:, background] = 1.0
    return k


def paint(keys: torch.Tensor, w: int, cells: list[tuple[int, int]], vec: torch.Tensor) -> None:
    for r, c in cells:
        keys[r * w + c] = vec


def e(i: int, dim: int = 8) -> torch.Tensor:
    v = torch.zeros(dim)
    v[i] = 1.0
    return v


def test_affinity_and_degree_count_positive_entries() -> None:
    k = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    a = affinity(k)
    assert a.shape == (4, 4)
    assert degree(a).tolist() == [2, 2, 1, 1]
    assert degree_order(degree(a)).tolist() == [2, 3, 0, 1]  # ties: lower index first


def test_lost_single_finds_the_one_object_box() -> None:
    h, w = 4, 5
    keys = grid_keys(h, w)
    obj = [(1, 2), (1, 3), (2, 2), (2, 3)]
    paint(keys, w, obj, e(1))
    assert lost_single(keys, (h, w), k_patches=100) == (2, 1, 4, 3)


def test_lost_single_is_height_first_on_a_non_square_grid() -> None:
    h, w = 3, 7
    keys = grid_keys(h, w)
    paint(keys, w, [(2, 5), (2, 6)], e(1))
    assert lost_single(keys, (h, w)) == (5, 2, 7, 3)


def test_seed_ties_break_on_lowest_index_and_components_are_4_connected() -> None:
    h, w = 5, 5
    keys = grid_keys(h, w)
    # Two objects of the same key and size: (0,0)-(1,1) and a diagonal neighbour at (2,2).
    paint(keys, w, [(0, 0), (0, 1), (1, 0), (1, 1)], e(1))
    paint(keys, w, [(2, 2)], e(1))
    # All five share the lowest degree (5); the seed is index 0, and (2,2) touches the first
    # object only diagonally, so the 4-connected component excludes it.
    assert lost_single(keys, (h, w)) == (0, 0, 2, 2)


def test_k_patches_limits_the_expansion_set() -> None:
    h, w = 4, 4
    keys = grid_keys(h, w, dim=4)
    # A seed patch similar to a neighbour that has a higher degree than k allows.
    paint(keys, w, [(0, 0)], torch.tensor([0.0, 1.0, 0.0, 0.0]))
    paint(keys, w, [(0, 1)], torch.tensor([0.0, 1.0, 0.3, 0.0]))
    # With k=1 only the seed is in the expansion; the neighbour still has positive summed
    # affinity with the seed, so the box covers both either way.
    assert lost_single(keys, (h, w), k_patches=1) == (0, 0, 2, 1)
    assert lost_single(keys, (h, w), k_patches=100) == (0, 0, 2, 1)


def test_component_box_none_when_seed_outside_mask() -> None:
    import numpy as np

    mask = np.zeros((3, 3), bool)
    mask[0, 0] = True
    assert component_box(mask, (2, 2)) is None
    assert component_box(mask, (0, 0)) == (0, 0, 1, 1)


def test_lost_multi_finds_two_separate_objects() -> None:
    h, w = 8, 10
    keys = grid_keys(h, w)
    a = [(r, c) for r in range(1, 3) for c in range(1, 4)]   # 2x3 at top-left
    b = [(r, c) for r in range(5, 8) for c in range(6, 8)]   # 3x2 at bottom-right
    paint(keys, w, a, e(1))
    paint(keys, w, b, e(2))
    regions = lost_multi(keys, (h, w), num_seeds=12, k_patches=20)
    boxes = sorted(r.box for r in regions)
    assert boxes == [(1, 1, 4, 3), (6, 5, 8, 8)]
    for r in regions:
        assert 0.0 <= r.objectness <= 1.0
    # Objectness is 1 - degree/N: both objects have degree = their own size.
    by_box = {r.box: r.objectness for r in regions}
    assert abs(by_box[(1, 1, 4, 3)] - (1 - 6 / 80)) < 1e-6
    assert abs(by_box[(6, 5, 8, 8)] - (1 - 6 / 80)) < 1e-6


def test_lost_multi_threshold_is_cosine_so_key_scale_does_not_matter() -> None:
    h, w = 6, 6
    keys = grid_keys(h, w)
    paint(keys, w, [(2, 2), (2, 3), (3, 2), (3, 3)], e(1) + 0.2 * e(0))
    base = lost_multi(keys, (h, w), num_seeds=4, threshold=0.5)
    scaled = lost_multi(keys * 37.0, (h, w), num_seeds=4, threshold=0.5)
    assert [r.box for r in base] == [r.box for r in scaled] == [(2, 2, 4, 4)]


def test_lost_multi_merges_adjacent_seeds_into_one_box() -> None:
    h, w = 6, 6
    keys = grid_keys(h, w)
    paint(keys, w, [(1, 1), (1, 2), (2, 1), (2, 2)], e(1))
    regions = lost_multi(keys, (h, w), num_seeds=4, nms_iou=1.0)  # NMS off: merging alone
    assert [r.box for r in regions] == [(1, 1, 3, 3)]


def test_lost_single_region_scores_the_seed() -> None:
    from autolabel.discovery.lost import lost_single_region

    h, w = 4, 5
    keys = grid_keys(h, w)
    paint(keys, w, [(1, 2), (1, 3), (2, 2), (2, 3)], e(1))
    r = lost_single_region(keys, (h, w))
    assert r.box == lost_single(keys, (h, w)) == (2, 1, 4, 3)
    assert r.seed == 1 * w + 2 and r.objectness == pytest.approx(1 - 4 / 20)


def _noisy_scene(h: int, w: int, dim: int = 64, seed: int = 0) -> torch.Tensor:
    """Keys of a background plus two objects, each patch with its own noise (not hand-exact)."""
    g = torch.Generator().manual_seed(seed)
    bg, obj_a, obj_b = torch.randn(3, dim, generator=g)
    keys = bg + 0.3 * torch.randn(h * w, dim, generator=g)
    for rows, cols, vec in ((range(2, 6), range(3, 9), obj_a - 0.5 * bg), (range(9, 13), range(12, 17), obj_b - 0.5 * bg)):
        for r in rows:
            for c in cols:
                keys[r * w + c] = vec + 0.3 * torch.randn(dim, generator=g)
    return keys


def test_discovery_runs_in_the_keys_dtype_and_bf16_finds_the_fp32_boxes() -> None:
    from autolabel.discovery.lost import cosine_affinity, lost_single_region

    h, w = 15, 20
    keys16 = _noisy_scene(h, w).bfloat16()
    keys32 = keys16.float()  # the same values: only the arithmetic differs
    assert cosine_affinity(keys16).dtype == torch.bfloat16
    assert affinity(keys16).dtype == torch.bfloat16
    multi16 = lost_multi(keys16, (h, w), num_seeds=50, k_patches=40)
    multi32 = lost_multi(keys32, (h, w), num_seeds=50, k_patches=40)
    assert sorted(r.box for r in multi16) == sorted(r.box for r in multi32)
    assert {(3, 2, 9, 6), (12, 9, 17, 13)} <= {r.box for r in multi16}
    assert lost_single_region(keys16, (h, w), 40).box == lost_single_region(keys32, (h, w), 40).box
