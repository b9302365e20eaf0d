"""Masks held as windows and on other pixel grids -> COCO RLE over the displayed image."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from autolabel import masks


def _windows():
    rng = np.random.default_rng(1)
    for _ in range(40):
        H, W = (int(v) for v in rng.integers(1, 40, size=2))
        h, w = (int(v) for v in rng.integers(1, 45, size=2))
        x0, y0 = int(rng.integers(-10, W + 2)), int(rng.integers(-10, H + 2))
        yield rng.random((h, w)) < rng.random(), x0, y0, H, W
    full = np.ones((6, 4), bool)
    yield full, 0, 0, 6, 4          # runs joining across columns
    yield np.ones((6, 2), bool), 1, 0, 6, 4
    yield np.zeros((3, 3), bool), 1, 1, 5, 5


@pytest.mark.parametrize("case", list(_windows()))
def test_encode_window_equals_encoding_the_pasted_image(case):
    win, x0, y0, H, W = case
    full = np.zeros((H, W), bool)
    for r in range(win.shape[0]):
        for c in range(win.shape[1]):
            if 0 <= y0 + r < H and 0 <= x0 + c < W:
                full[y0 + r, x0 + c] = win[r, c]
    rle = masks.encode_window(win, x0, y0, H, W)
    assert rle == masks.encode(full)
    theirs = coco_mask.encode(np.asfortranarray(full.astype(np.uint8)))
    assert rle["counts"] == theirs["counts"].decode("ascii")


def test_from_frame_samples_pixel_centres_and_returns_the_bounds():
    # a 4x4 patch grid, 16 px patches, over a 64x50 image (the last patch row is cut off)
    grid = np.zeros((4, 4), bool)
    grid[1:3, 1] = True
    grid[2, 2] = True
    rle, bounds = masks.from_frame(grid, (0.0, 0.0), (16.0, 16.0), 64, 50)
    m = masks.decode(rle)
    assert m.shape == (50, 64)
    expect = np.zeros((50, 64), bool)
    expect[16:48, 16:32] = True
    expect[32:48, 32:48] = True
    assert (m == expect).all()
    assert bounds == (16.0, 16.0, 48.0, 48.0) == masks.rle_bbox(rle)


def test_from_frame_cut_to_a_box_and_to_the_image():
    grid = np.ones((2, 2), bool)
    # a mask placed partly outside the image, at 2.5 displayed px per cell
    rle, bounds = masks.from_frame(grid, (-1.0, 8.0), (2.5, 2.5), 10, 10, box=(0.2, 0.0, 3.0, 9.5))
    m = masks.decode(rle)
    assert bounds == masks.rle_bbox(rle) == (0.0, 8.0, 3.0, 10.0)
    assert m[8:10, 0:3].all() and m.sum() == 6
    assert masks.from_frame(grid, (0.0, 0.0), (2.0, 2.0), 10, 10, box=(5, 5, 9, 9)) is None
    assert masks.from_frame(np.zeros((3, 3), bool), (0.0, 0.0), (1.0, 1.0), 10, 10) is None


def test_from_frame_matches_nearest_upsampling_of_a_fine_mask():
    rng = np.random.default_rng(3)
    fine = rng.random((30, 40)) < 0.4
    rle, bounds = masks.from_frame(fine, (5.0, 3.0), (2.0, 2.0), 100, 70)
    up = np.zeros((70, 100), bool)
    up[3:63, 5:85] = fine.repeat(2, axis=0).repeat(2, axis=1)
    assert (masks.decode(rle) == up).all()
    assert bounds == masks.bbox(up)


def test_crop_is_the_box_frame_and_clip_rle_cuts():
    m = np.zeros((20, 30), bool)
    m[4:10, 6:20] = True
    rle = masks.encode(m)
    c = masks.crop(rle, (6, 4, 20, 10))
    assert c.shape == (6, 14) and c.all()
    c = masks.crop(rle, (5.5, 3.2, 8, 12))
    assert c.shape == (9, 3) and c.sum() == 6 * 2
    out, bounds = masks.clip_rle(rle, (0, 0, 10, 8))
    assert bounds == (6.0, 4.0, 10.0, 8.0) and masks.area(out) == 16
    assert masks.clip_rle(rle, (25, 0, 30, 20)) is None
