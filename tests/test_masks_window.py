"""Masks on an object's window (:mod:`autolabel.masks.window`): every result equals the
whole-image computation it replaces (references written here on whole ``(H, W)`` arrays), and
nothing builds a whole-image array (a 10-gigapixel image's masks are handled)."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from autolabel import masks
from autolabel.masks.rle import _encode_counts


def _sample_full(m, origin, scale, width, height, box=None):
    """Reference for from_frame: nearest sampling of every displayed pixel, cut to the box."""
    (ox, oy), (sx, sy) = origin, scale
    mh, mw = m.shape
    cols = np.floor((np.arange(width) + 0.5 - ox) / sx).astype(np.int64)
    rows = np.floor((np.arange(height) + 0.5 - oy) / sy).astype(np.int64)
    full = np.zeros((height, width), bool)
    cin, rin = (cols >= 0) & (cols < mw), (rows >= 0) & (rows < mh)
    full[np.ix_(rin, cin)] = m[np.ix_(rows[rin], cols[cin])]
    if box is not None:
        full = masks.clip_to_box(full, box)
    b = masks.bbox(full)
    return None if b is None else (masks.encode(full), b)


def _random_mask(rng, h, w):
    kind = rng.integers(3)
    if kind == 0:
        return rng.random((h, w)) < rng.random()
    m = np.zeros((h, w), bool)
    y, x = rng.integers(0, h), rng.integers(0, w)
    m[max(0, y - 4):y + 5, max(0, x - 6):x + 7] = True
    if kind == 2 and h > 2 and w > 2:
        m[y, x] = False  # a hole
    return m


def test_from_frame_equals_sampling_the_whole_image():
    rng = np.random.default_rng(0)
    for _ in range(600):
        m = rng.random(tuple(rng.integers(1, 10, 2))) < rng.random()
        width, height = (int(v) for v in rng.integers(1, 50, 2))
        origin = tuple(float(v) for v in rng.uniform(-15, 35, 2))
        scale = tuple(float(v) for v in rng.choice([0.4, 1.0, 1.5, 3.0, 6.25], 2))
        box = None
        if rng.random() < 0.5:
            x1, x2 = sorted(rng.uniform(-4, width + 4, 2))
            y1, y2 = sorted(rng.uniform(-4, height + 4, 2))
            box = (x1, y1, x2, y2)
        assert masks.from_frame(m, origin, scale, width, height, box) == _sample_full(m, origin, scale, width, height, box)


def test_bounds_windows_and_clips_equal_the_decoded_mask():
    rng = np.random.default_rng(1)
    for _ in range(400):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        full = _random_mask(rng, h, w)
        rle = masks.encode(full)
        assert masks.rle_bounds(rle) == masks.bbox(full)
        col, r0, r1 = masks.column_segments(rle)
        back = np.zeros((h, w), bool)
        for x, a, b in zip(col, r0, r1):
            back[a:b, x] = True
        assert np.array_equal(back, full)
        for _ in range(3):
            x1, x2 = sorted(rng.uniform(-3, w + 3, 2))
            y1, y2 = sorted(rng.uniform(-3, h + 3, 2))
            box = (x1, y1, x2, y2)
            ix1, iy1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
            ix2, iy2 = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
            want = full[iy1:max(iy1, iy2), ix1:max(ix1, ix2)]
            assert np.array_equal(masks.decode_window(rle, box), want)
            assert np.array_equal(masks.crop(rle, box), want)
            clipped = masks.clip_to_box(full, box)
            expect = None if not clipped.any() else (masks.encode(clipped), masks.bbox(clipped))
            assert masks.clip_rle(rle, box) == expect


def test_runs_split_by_an_empty_run_are_one_run():
    rle = masks.from_runs({"size": [4, 3], "counts": [1, 2, 0, 3, 6]})
    assert np.array_equal(masks.decode_window(rle, (0, 0, 3, 4)), masks.decode(rle))
    assert masks.rle_bounds(rle) == (0.0, 0.0, 2.0, 4.0)


@pytest.mark.parametrize("shape", [(1, 1), (7, 1), (1, 9), (13, 17)])
def test_counts_encoder_matches_pycocotools(shape):
    rng = np.random.default_rng(sum(shape))
    for p in (0.0, 0.1, 0.5, 1.0):
        m = rng.random(shape) < p
        want = coco_mask.encode(np.asfortranarray(m.astype(np.uint8)))["counts"].decode("ascii")
        assert masks.encode(m)["counts"] == want


def test_counts_encoder_handles_large_and_negative_differences():
    runs = np.array([2**34 - 1, 5, 3, 2**20, 1, 7, 0])
    s = _encode_counts(runs)
    assert np.array_equal(masks.rle._decode_counts(s), runs)


def _object_in_huge_image() -> tuple[np.ndarray, dict, tuple[float, float, float, float]]:
    """A 30 x 24-cell object with a 5 x 10-cell hole, cells of 8 px, at (50,000, 20,000) in a
    100,000 x 100,000 image (10 gigapixels: no whole-image array fits in memory): its cells,
    RLE and bounds."""
    big = 100_000
    obj = np.zeros((40, 30), bool)
    obj[5:35, 3:27] = True
    obj[15:20, 10:20] = False
    rle, bounds = masks.from_frame(obj, (50_000.0, 20_000.0), (8.0, 8.0), big, big)
    return obj, rle, bounds


def test_nothing_builds_the_whole_image():
    """A 100,000 x 100,000 image (10 gigapixels: no whole-image array fits in memory)."""
    obj, rle, bounds = _object_in_huge_image()
    assert bounds == (50_024.0, 20_040.0, 50_216.0, 20_280.0)
    assert masks.area(rle) == int(obj.sum()) * 64
    assert masks.rle_bounds(rle) == bounds
    win = masks.decode_window(rle, bounds)
    assert win.shape == (240, 192) and int(win.sum()) == masks.area(rle)
    clipped, cb = masks.clip_rle(rle, (50_000, 20_000, 50_100, 20_100))
    assert cb == (50_024.0, 20_040.0, 50_100.0, 20_100.0)
    from autolabel.formats.polygons import hole_area, mask_to_polygons

    polys = mask_to_polygons(rle, 1.0)
    assert len(polys) == 1 and polys[0][:, 0].min() == 50_024.0
    assert hole_area(rle) == 5 * 10 * 64


def _row_runs_reference(m: np.ndarray) -> list[tuple[int, int, int]]:
    """Every maximal run of 1s along each row of ``m``, scanned pixel by pixel."""
    out = []
    for y, row in enumerate(m):
        x = 0
        while x < row.size:
            if row[x]:
                x0 = x
                while x < row.size and row[x]:
                    x += 1
                out.append((y, x0, x))
            x += 1
    return out


def test_row_runs_are_the_masks_rows_scanned_pixel_by_pixel():
    rng = np.random.default_rng(7)
    shapes = [np.zeros((5, 4), bool), np.ones((6, 3), bool), np.eye(5, dtype=bool), np.eye(5, dtype=bool)[::-1]]
    shapes += [_random_mask(rng, int(rng.integers(1, 25)), int(rng.integers(1, 25))) for _ in range(150)]
    for m in shapes:
        row, x0, x1 = masks.row_runs(masks.encode(m))
        assert list(zip(row.tolist(), x0.tolist(), x1.tolist())) == _row_runs_reference(m), m.astype(int)


def test_row_runs_of_a_huge_image_follow_the_mask_not_the_image():
    _, rle, _ = _object_in_huge_image()
    row, x0, x1 = masks.row_runs(rle)
    assert row.size == 30 * 8 + 5 * 8  # one run per row, two on the rows beside the hole
    assert int((x1 - x0).sum()) == masks.area(rle)
    assert (row.min(), x0.min(), x1.max()) == (20_040, 50_024, 50_216)
