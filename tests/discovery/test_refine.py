"""Pixel-level refinement: tight boxes on synthetic scenes whose true object box is known and
not aligned to the patch grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autolabel.discovery.refine import (
    PixelMask,
    _nearest,
    grid_mask,
    refine_region,
    union_masks,
    work_image,
    working_factor,
)
from autolabel.discovery.regions import region_from_mask
from autolabel.geometry import iou

P = 16  # patch size of the scenes
H, W = 480, 640


def scene(shape: str, box: tuple[int, int, int, int], seed: int = 0, background: str = "foliage"):
    """An RGB float image with one object (rectangle or ellipse inscribed in ``box``) on a
    textured background; returns the image and the object's true pixel mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    if background == "foliage":  # green noise with darker blotches
        img = rng.normal([0.25, 0.5, 0.2], 0.06, (H, W, 3))
        img[(np.sin(xx / 23.0) * np.cos(yy / 17.0)) > 0.6] *= 0.6
    else:  # the object's own colours: nothing to separate
        img = rng.normal([0.8, 0.35, 0.1], 0.05, (H, W, 3))
    x1, y1, x2, y2 = box
    if shape == "rect":
        obj = (xx >= x1) & (xx < x2) & (yy >= y1) & (yy < y2)
    else:
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        obj = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    img[obj] = rng.normal([0.85, 0.35, 0.1], 0.05, (int(obj.sum()), 3))
    return np.clip(img, 0.0, 1.0).astype(np.float32), obj


def patch_region(obj: np.ndarray, coverage: float = 0.5):
    """What discovery would find at best: the patches at least ``coverage`` covered, as a Region."""
    cov = obj.reshape(H // P, P, W // P, P).mean(axis=(1, 3))
    pm = cov >= coverage
    cells = np.flatnonzero(pm)
    return region_from_mask(pm, int(cells[len(cells) // 2]), 0.9)


def bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


CASES = [
    ("rect", (37, 53, 201, 170)),
    ("ellipse", (300, 205, 413, 371)),
    ("rect", (421, 22, 598, 99)),
    ("ellipse", (100, 300, 141, 339)),   # small: two or three patches across, no core
    ("rect", (0, 250, 75, 480)),         # touches the left and bottom borders
]


@pytest.mark.parametrize("shape,box", CASES)
def test_refined_box_is_tighter_than_the_patch_box(shape, box) -> None:
    img, obj = scene(shape, box)
    truth = bounds(obj)
    region = patch_region(obj)
    grid_box = tuple(v * P for v in region.box)
    m = refine_region(work_image(img, P), region)
    assert m.refined
    assert iou(m.box, truth) >= 0.75
    assert iou(m.box, truth) > iou(grid_box, truth)
    # the mask itself follows the object better than the patch mask does
    full = m.to_image(W, H)
    patch_px = np.repeat(np.repeat(region.mask, P, axis=0), P, axis=1)
    mask_iou = (full & obj).sum() / (full | obj).sum()
    assert mask_iou > (patch_px & obj).sum() / (patch_px | obj).sum()
    assert mask_iou >= 0.85


def test_refinement_from_the_normalised_extractor_input_matches_rgb() -> None:
    img, obj = scene("ellipse", (300, 205, 413, 371))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    t = (torch.from_numpy(img).permute(2, 0, 1) - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    region = patch_region(obj)
    a = refine_region(work_image(img, P), region)
    b = refine_region(work_image(t, P, mean=mean, std=std), region)
    assert iou(a.box, b.box) > 0.97


def test_object_coloured_like_its_surroundings_keeps_the_patch_mask() -> None:
    img, obj = scene("rect", (37, 53, 201, 170), background="same")
    region = patch_region(obj)
    m = refine_region(work_image(img, P), region)
    assert not m.refined
    assert m.box == tuple(float(v * P) for v in region.box)


def test_boxes_and_masks_are_placed_in_the_displayed_image() -> None:
    """A tile at (100, 50) of a displayed image shown to the extractor at half size."""
    img, obj = scene("rect", (37, 53, 201, 170))
    region = patch_region(obj)
    local = refine_region(work_image(img, P), region)
    placed = refine_region(work_image(img, P, origin=(100.0, 50.0), scale=(2.0, 2.0)), region)
    assert placed.box == pytest.approx((100 + 2 * local.box[0], 50 + 2 * local.box[1], 100 + 2 * local.box[2], 50 + 2 * local.box[3]))
    big = placed.to_image(100 + 2 * W, 50 + 2 * H)
    assert bounds(big) == tuple(round(v) for v in placed.box)
    assert big.sum() == 4 * local.to_image(W, H).sum()


def test_grid_mask_is_the_patch_box_in_pixels() -> None:
    _, obj = scene("rect", (37, 53, 201, 170))
    region = patch_region(obj)
    m = grid_mask(region, P, origin=(10.0, 20.0), scale=(1.5, 1.5))
    x1, y1, x2, y2 = region.box
    assert m.box == pytest.approx((10 + x1 * P * 1.5, 20 + y1 * P * 1.5, 10 + x2 * P * 1.5, 20 + y2 * P * 1.5))
    assert not m.refined and m.mask.sum() == region.area * P * P


def test_union_of_two_parts_on_different_grids() -> None:
    left = PixelMask(np.ones((10, 10), dtype=bool), (0.0, 0.0), (2.0, 2.0))     # x 0..20, y 0..20
    right = PixelMask(np.ones((20, 30), dtype=bool), (15.0, 5.0), (1.0, 1.0))  # x 15..45, y 5..25
    u = union_masks([left, right])
    assert u.box == pytest.approx((0.0, 0.0, 45.0, 25.0)) and u.scale == (1.0, 1.0)
    full = u.to_image(50, 30)
    assert full[0:20, 0:20].all() and full[5:25, 15:45].all()
    assert not full[21:, :14].any() and not full[:4, 21:].any()


@pytest.mark.parametrize("patch,factor", [(16, 2), (8, 1), (14, 1), (32, 4), (24, 3), (12, 1)])
def test_working_factor(patch: int, factor: int) -> None:
    assert working_factor(patch) == factor


def test_region_mask_must_match_the_grid() -> None:
    img, obj = scene("rect", (37, 53, 201, 170))
    region = patch_region(obj)
    with pytest.raises(ValueError, match="does not match"):
        refine_region(work_image(img[:240], P), region)


def shifted_region(obj: np.ndarray, dx: int, dy: int):
    """:func:`patch_region` moved by ``(dx, dy)`` patches: discovery one patch off the object."""
    region = patch_region(obj)
    pm = np.roll(np.roll(region.mask, dy, axis=0), dx, axis=1)
    cells = np.flatnonzero(pm)
    return region_from_mask(pm, int(cells[len(cells) // 2]), 0.9)


def mask_iou(mask: np.ndarray, obj: np.ndarray) -> float:
    return float((mask & obj).sum() / (mask | obj).sum())


@pytest.mark.parametrize("dx,dy", [(1, 0), (0, -1), (-1, 1)])
def test_patch_mask_one_patch_off_gets_the_object_outline(dx, dy) -> None:
    """Discovery's patch mask one patch beside the object (the object's far side in the band,
    a patch of background inside the mask): the pixel mask follows the object's colour."""
    img, obj = scene("ellipse", (212, 130, 371, 322))
    region = shifted_region(obj, dx, dy)
    patch_px = np.repeat(np.repeat(region.mask, P, axis=0), P, axis=1)
    m = refine_region(work_image(img, P), region)
    assert m.refined
    assert mask_iou(patch_px, obj) < 0.8
    assert mask_iou(m.to_image(W, H), obj) >= 0.9


def street_scene(seed: int = 0):
    """A grey street with dark shadow stripes and a person-like object: a red top over dark
    trousers of the shadows' colour. Returns the image and the object's pixel mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    img = rng.normal([0.55, 0.55, 0.52], 0.04, (H, W, 3))
    shadow = np.sin(xx / 19.0 + yy / 41.0) > 0.3
    img[shadow] = rng.normal([0.12, 0.12, 0.14], 0.03, (int(shadow.sum()), 3))
    obj = (xx >= 250) & (xx < 347) & (yy >= 90) & (yy < 405)
    top = obj & (yy < 230)
    img[top] = rng.normal([0.8, 0.2, 0.15], 0.04, (int(top.sum()), 3))
    low = obj & ~top
    img[low] = rng.normal([0.12, 0.12, 0.14], 0.03, (int(low.sum()), 3))
    return np.clip(img, 0.0, 1.0).astype(np.float32), obj


def test_object_colour_shared_with_the_background_stays_in_the_mask() -> None:
    """Dark trousers coloured like the street's shadows fill half the core: colour cannot call
    them object, but it must not call them background and cut the mask to the red top."""
    img, obj = street_scene()
    region = patch_region(obj)
    m = refine_region(work_image(img, P), region)
    assert m.refined
    full = m.to_image(W, H)
    low = obj.copy()
    low[:230] = False
    assert (full & low).sum() >= 0.9 * low.sum()
    assert mask_iou(full, obj) >= 0.88


def test_nearest_mode_distance_is_the_smallest_squared_distance_to_any_mode() -> None:
    rng = np.random.default_rng(3)
    px = rng.random((500, 3), dtype=np.float32)
    for m in (1, 2, 6):
        modes = rng.random((m, 3), dtype=np.float32)
        brute = ((px[:, None, :].astype(np.float64) - modes[None].astype(np.float64)) ** 2).sum(-1).min(-1)
        got = _nearest(px, modes)
        assert got.shape == (500,) and got.dtype == np.float32
        assert np.allclose(got, brute, rtol=1e-5, atol=1e-7)
    assert np.array_equal(_nearest(px, px[7:8]) == 0, np.all(px == px[7], axis=1))
