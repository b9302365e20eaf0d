"""Splitting regions that cover several objects of one kind: planted feature grids with
adjacent and separated objects must give one region per object."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autolabel.discovery.scores import cosine
from autolabel.discovery.split import split_region
from autolabel.discovery.votes import vote_regions, vote_regions_batch

H, W, C = 12, 16, 32


def _scene(objects: list[tuple[int, int, int, int]], seams: list[tuple[int, int, int]] = (), seed: int = 0) -> torch.Tensor:
    """``(H * W, C)`` keys: background everywhere, one kind of object at each ``(r0, r1, c0, c1)``
    (rows ``r0:r1``, columns ``c0:c1``), and at each seam ``(r0, r1, col)`` the column where two
    objects meet (half object, half background, as a patch holding both edges and the gap)."""
    rng = np.random.default_rng(seed)
    bg, obj = rng.normal(size=C), rng.normal(size=C)
    obj = obj - (obj @ bg / (bg @ bg) + 0.2) * bg  # a little dissimilar to the background, whatever the seed
    keys = np.tile(bg, (H, W, 1)) + 0.3 * rng.normal(size=(H, W, C))
    for r0, r1, c0, c1 in objects:
        keys[r0:r1, c0:c1] = obj + 0.3 * rng.normal(size=(r1 - r0, c1 - c0, C))
    for r0, r1, col in seams:
        keys[r0:r1, col] = 0.5 * (obj + bg) + 0.3 * rng.normal(size=(r1 - r0, C))
    return torch.tensor(keys.reshape(-1, C), dtype=torch.float32)


ROW = [(3, 7, 1, 4), (3, 7, 5, 8), (3, 7, 9, 12)]
SEAMS = [(3, 7, 4), (3, 7, 8)]


def _covers(boxes: list[tuple[int, int, int, int]], obj: tuple[int, int, int, int]) -> bool:
    """Some grid box is the object give or take one cell on each side."""
    r0, r1, c0, c1 = obj
    return any(abs(b[0] - c0) <= 1 and abs(b[2] - c1) <= 1 and abs(b[1] - r0) <= 1 and abs(b[3] - r1) <= 1 for b in boxes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adjacent_objects_of_one_kind_give_one_region_each(seed: int) -> None:
    keys = _scene(ROW, SEAMS, seed)
    whole = vote_regions(keys, (H, W))
    assert len(whole) == 1 and _covers([whole[0].box], (3, 7, 1, 12))  # without splitting: one cluster region
    regions = vote_regions(keys, (H, W), split_core=0.3)
    boxes = [r.box for r in regions]
    assert len(regions) == 3, boxes
    assert all(_covers(boxes, o) for o in ROW), boxes
    masks = np.stack([r.mask for r in regions])
    assert masks.sum(axis=0).max() == 1  # disjoint parts
    assert all(r.mask.ravel()[r.seed] for r in regions)
    assert all(0.0 <= r.objectness <= 1.0 for r in regions)


def test_separated_objects_stay_one_region_each_with_and_without_splitting() -> None:
    objs = [(2, 5, 1, 4), (2, 5, 7, 10), (7, 10, 3, 6), (7, 10, 11, 14)]
    keys = _scene(objs, seed=3)
    for core in (None, 0.3):
        boxes = [r.box for r in vote_regions(keys, (H, W), split_core=core)]
        assert len(boxes) == 4 and all(_covers(boxes, o) for o in objs), (core, boxes)


def test_one_object_is_not_split() -> None:
    keys = _scene([(3, 9, 4, 12)], seed=4)
    regions = vote_regions(keys, (H, W), split_core=0.3)
    assert len(regions) == 1 and _covers([regions[0].box], (3, 9, 4, 12))


def test_batched_splitting_equals_one_image_at_a_time() -> None:
    scenes = [_scene(ROW, SEAMS, 5), _scene([(3, 9, 4, 12)], seed=6)]
    batch = vote_regions_batch(torch.stack(scenes), (H, W), split_core=0.3)
    for keys, got in zip(scenes, batch):
        one = vote_regions(keys, (H, W), split_core=0.3)
        assert [(r.box, r.seed) for r in got] == [(r.box, r.seed) for r in one]
        assert np.allclose([r.objectness for r in got], [r.objectness for r in one], atol=1e-5)


def test_split_region_parts_are_disjoint_connected_and_cover_the_region() -> None:
    keys = _scene(ROW, SEAMS, 7)
    sim = cosine(keys).numpy()
    mask = np.zeros((H, W), bool)
    mask[3:7, 1:12] = True
    parts = split_region(mask, sim, core=0.3)
    assert len(parts) == 3
    total = np.sum(parts, axis=0)
    assert total.max() == 1 and (total.astype(bool) <= mask).all() and total.sum() == mask.sum()
    assert [int(p.sum()) for p in parts] == sorted((int(p.sum()) for p in parts), reverse=True)
    # a region too small to hold two parts, or one core only, comes back whole
    tiny = np.zeros((H, W), bool)
    tiny[0, 0:3] = True
    assert len(split_region(tiny, sim, core=0.3)) == 1
    assert len(split_region(mask, sim, core=0.3, min_part=100)) == 1
