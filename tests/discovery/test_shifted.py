"""Shifted readings: a region's mask on grids shifted by half a patch, and refinement that draws
the mask on the finer prior they give, within the box it finds without them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autolabel.discovery.refine import refine_region, work_image
from autolabel.discovery.regions import region_from_mask
from autolabel.discovery.shifted import READINGS, ShiftedMask, shift_batch, shifted_masks

P = 16
H, W = 160, 256  # 10 x 16 patches
OBJECTS = [  # x1, y1, x2, y2: every edge halfway through a patch
    (40, 24, 200, 120),   # refinement's window at the grid's corner
    (104, 56, 232, 136),  # a window 4 patches from the left, 1 from the top
    (72, 40, 152, 104),   # small: refined at the processed resolution
]


def _truth(box: tuple[int, int, int, int]) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    x1, y1, x2, y2 = box
    return (xx >= x1) & (xx < x2) & (yy >= y1) & (yy < y2)


def _coverage(obj: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``(h, w)`` share of each patch on the object, on the grid read ``dy`` / ``dx`` half
    patches shifted (as :func:`shift_batch` moves the image: edge rows repeated)."""
    moved = np.pad(obj, ((dy * P // 2, 0), (dx * P // 2, 0)), mode="edge")[:H, :W]
    return moved.reshape(H // P, P, W // P, P).mean(axis=(1, 3))


def _keys(coverage: np.ndarray, seed: int) -> torch.Tensor:
    """Keys of patches that mix an object key and a background key by their coverage, plus a
    little noise: ``(h*w, 8)``."""
    rng = np.random.default_rng(seed)
    obj, back = np.eye(8)[0], np.eye(8)[1]
    k = coverage[..., None] * obj + (1.0 - coverage[..., None]) * back + rng.normal(0.0, 0.01, coverage.shape + (8,))
    return torch.from_numpy(k.reshape(-1, 8).astype(np.float32))


def _region(obj: np.ndarray):
    patches = _coverage(obj, 0, 0) >= 0.5  # what discovery finds at best: edge patches half on it
    return region_from_mask(patches, int(np.flatnonzero(patches)[0]), 0.9)


def _readings(obj: np.ndarray, n: int) -> list[tuple[int, int, torch.Tensor]]:
    return [(dy, dx, _keys(_coverage(obj, dy, dx), seed=1 + dy * 2 + dx)) for dy, dx in READINGS[n]]


def test_shift_batch_moves_the_image_by_half_a_patch_and_keeps_its_size() -> None:
    batch = torch.arange(2 * 3 * 32 * 48, dtype=torch.float32).reshape(2, 3, 32, 48)
    moved = shift_batch(batch, 1, 0, 16)
    assert moved.shape == batch.shape and moved.dtype == batch.dtype
    assert torch.equal(moved[..., 8:, :], batch[..., :24, :])
    assert torch.equal(moved[..., :8, :], batch[..., :1, :].expand(2, 3, 8, 48))  # the first row repeated
    right = shift_batch(batch.to(torch.bfloat16), 0, 1, 16)
    assert right.dtype == torch.bfloat16 and torch.equal(right[..., 8:].float(), batch.to(torch.bfloat16)[..., :40].float())


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("box", OBJECTS)
def test_a_shifted_patch_is_on_the_object_where_it_would_be_on_the_views_grid(n: int, box) -> None:
    """The region's own patches are those at least half on the object; on each shifted grid the
    patches at least half on it are found from their keys alone, with the threshold fitted to
    the region's own keys."""
    obj = _truth(box)
    region = _region(obj)
    got = shifted_masks([region], _keys(_coverage(obj, 0, 0), seed=0), _readings(obj, n), (H // P, W // P))[0]
    assert [(s.dy, s.dx) for s in got] == list(READINGS[n])
    for s in got:
        want = _coverage(obj, s.dy, s.dx) >= 0.5
        assert s.mask.shape == (H // P, W // P) and np.array_equal(s.mask, want)
    # the shifted grids see the edges the view's grid cannot: half a patch in on the shifted side
    first, last = box[0] // P, box[2] // P  # the patches the object's left and right edges halve
    assert np.flatnonzero(region.mask.any(axis=0))[[0, -1]].tolist() == [first, last]
    assert np.flatnonzero(got[-1].mask.any(axis=0))[[0, -1]].tolist() == [first + 1, last]


def test_a_region_that_fills_the_view_has_no_shifted_masks() -> None:
    everything = np.ones((H, W), bool)
    region = region_from_mask(np.ones((H // P, W // P), bool), 0, 0.9)
    keys = _keys(_coverage(everything, 0, 0), seed=0)
    assert shifted_masks([region], keys, _readings(everything, 1), (H // P, W // P)) == [()]


def _image(obj: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Green foliage; the object orange on its left half and foliage-green on its right half,
    so that colour places its left edges and only the spatial prior its right one."""
    rng = np.random.default_rng(3)
    img = rng.normal([0.25, 0.5, 0.2], 0.03, (H, W, 3))
    x1, _, x2, _ = box
    left = obj & (np.arange(W)[None, :] < (x1 + x2) // 2)
    img[left] = rng.normal([0.85, 0.35, 0.1], 0.03, (int(left.sum()), 3))
    return np.clip(img, 0.0, 1.0).astype(np.float32)


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("box", OBJECTS)
def test_refinement_with_shifted_readings_draws_the_mask_closer_within_the_same_box(n: int, box) -> None:
    obj = _truth(box)
    region = _region(obj)
    work = work_image(_image(obj, box), P)
    shifted = shifted_masks([region], _keys(_coverage(obj, 0, 0), seed=0), _readings(obj, n), (H // P, W // P))[0]
    plain = refine_region(work, region)
    fine = refine_region(work, region, shifted=shifted)
    assert plain.refined and fine.refined and plain.extent is None
    assert fine.extent == plain.box and fine.box == plain.box  # the box is refinement's own
    a, b = plain.to_image(W, H), fine.to_image(W, H)
    rows, cols = np.nonzero(b)
    x1, y1, x2, y2 = plain.box
    assert x1 <= cols.min() and cols.max() < x2 and y1 <= rows.min() and rows.max() < y2  # the mask within it

    def iou(m: np.ndarray) -> float:
        return float((m & obj).sum() / (m | obj).sum())

    # the right edge, where colour cannot tell, moves towards the object's; nothing else worsens
    assert (b & ~obj).sum() < (a & ~obj).sum()
    assert iou(b) > iou(a) + 0.01
    assert (obj & ~b).sum() <= (obj & ~a).sum() + 2 * (H // P)


def test_without_shifted_masks_or_when_refinement_keeps_the_patch_mask_nothing_changes() -> None:
    obj = _truth(OBJECTS[0])
    region = _region(obj)
    work = work_image(_image(obj, OBJECTS[0]), P)
    plain = refine_region(work, region)
    same = refine_region(work, region, shifted=())
    assert np.array_equal(same.mask, plain.mask) and same.extent is None
    # a region on three image sides keeps its patch mask: the shifted masks are not used
    wide = np.zeros((H // P, W // P), bool)
    wide[2:, :] = True
    edge = region_from_mask(wide, int(np.flatnonzero(wide)[0]), 0.9)
    stripes = (ShiftedMask(1, 1, np.roll(wide, 1, axis=0)),)
    kept = refine_region(work, edge, shifted=stripes)
    assert not kept.refined and kept.extent is None and np.array_equal(kept.mask, refine_region(work, edge).mask)
