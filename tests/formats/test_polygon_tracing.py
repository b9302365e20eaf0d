"""Polygons traced from a mask's runs equal the whole-image tracing they replace (scikit-image's
``find_contours`` on the whole padded image, then the same simplification), vertex for vertex,
on planted masks: touching each image border, with holes, in parts, touching at corners only,
single pixels, thin lines, random blobs; and one export traces each mask once per tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from autolabel import masks
from autolabel.formats import polygons
from autolabel.formats.polygons import mask_to_polygons, shared_tracing, signed_area


def whole_image_polygons(mask: np.ndarray, tolerance: float) -> list[np.ndarray]:
    """The tracing as it was: find_contours on the whole image padded by one pixel."""
    from skimage.measure import approximate_polygon, find_contours

    h, w = mask.shape
    out = []
    for c in find_contours(np.pad(mask.astype(np.float64), 1), 0.5, fully_connected="low", positive_orientation="high"):
        c = polygons._square_corners(np.stack([c[:, 1] - 0.5, c[:, 0] - 0.5], axis=1))
        if signed_area(c[:-1]) >= 0:
            continue
        corner = np.flatnonzero(np.isclose(c[:-1], np.round(c[:-1])).all(axis=1))
        if corner.size:
            c = np.concatenate([np.roll(c[:-1], -int(corner[0]), axis=0), c[corner[:1]]])
        simple = approximate_polygon(c, tolerance) if tolerance > 0 else c
        if len(simple) < 4 or abs(signed_area(simple[:-1])) <= 0:
            simple = polygons._drop_collinear(c)
        out.append(simple[:-1].astype(np.float64))
    out.sort(key=lambda p: -abs(signed_area(p)))
    return [np.clip(p, 0.0, [w, h]) for p in out]


def _planted() -> dict[str, np.ndarray]:
    h, w = 48, 64
    yy, xx = np.mgrid[:h, :w]
    out = {}
    for name, (sy, sx) in {"top-left": (np.s_[0:10], np.s_[0:12]), "right": (np.s_[20:30], np.s_[50:64]),
                           "bottom": (np.s_[40:48], np.s_[10:40]), "whole": (np.s_[:], np.s_[:])}.items():
        m = np.zeros((h, w), bool)
        m[sy, sx] = True
        out[name] = m
    out["ring"] = ((xx - 30) ** 2 + (yy - 24) ** 2 < 15 ** 2) & ~((xx - 30) ** 2 + (yy - 24) ** 2 < 6 ** 2)
    out["ring at the border"] = ((xx - 4) ** 2 + (yy - 24) ** 2 < 15 ** 2) & ~((xx - 6) ** 2 + (yy - 24) ** 2 < 5 ** 2)
    frame = np.ones((h, w), bool)
    frame[5:-5, 5:-5] = False
    out["frame (hole the size of the image)"] = frame
    parts = np.zeros((h, w), bool)
    parts[2:8, 2:8] = parts[30:46, 40:63] = parts[20, 20] = True
    out["parts and a pixel"] = parts
    corners = np.zeros((h, w), bool)
    corners[10:15, 10:15] = corners[15:20, 15:20] = corners[20:25, 10:15] = True
    out["touching at corners"] = corners
    out["checkerboard"] = ((yy + xx) % 2 == 0) & (yy < 9) & (xx < 11)
    out["thin lines"] = (yy == 3) | (xx == 61)
    rng = np.random.default_rng(5)
    out["blobs"] = ndimage.gaussian_filter(rng.random((h, w)), 2.0) > 0.5
    out["noise"] = rng.random((h, w)) < 0.4
    return out


PLANTED = _planted()


@pytest.mark.parametrize("tolerance", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("name", sorted(PLANTED))
def test_polygons_equal_the_whole_image_tracing(name, tolerance):
    m = PLANTED[name]
    want = whole_image_polygons(m, tolerance)
    for given in (m, masks.encode(m)):
        got = mask_to_polygons(given, tolerance)
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert np.array_equal(a, b)


def test_random_masks_trace_as_the_whole_image():
    rng = np.random.default_rng(7)
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        m = rng.random((h, w)) < rng.random()
        if rng.random() < 0.5:
            m = ndimage.gaussian_filter(rng.random((h, w)), 1.5) > 0.5
        rle = masks.encode(m)
        for tol in (0.0, 1.0):
            want = whole_image_polygons(m, tol)
            got = mask_to_polygons(rle, tol)
            assert len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(got, want))


def test_shared_tracing_traces_each_mask_once_per_tolerance(monkeypatch):
    calls = []
    real = polygons._trace
    monkeypatch.setattr(polygons, "_trace", lambda *a: calls.append(a[-1]) or real(*a))
    rle = masks.encode(PLANTED["ring"])
    with shared_tracing() as shared:
        first = mask_to_polygons(rle, 1.0)
        again = mask_to_polygons(dict(rle), 1.0)
        other = mask_to_polygons(rle, 2.0)
        assert calls == [1.0, 2.0] and len(shared) == 2
        assert all(a is b for a, b in zip(first, again)) and not first[0].flags.writeable
        assert len(other) == len(first)
        shared.clear()
        mask_to_polygons(rle, 1.0)
        assert calls == [1.0, 2.0, 1.0]
    mask_to_polygons(rle, 1.0)
    mask_to_polygons(rle, 1.0)
    assert calls == [1.0, 2.0, 1.0, 1.0, 1.0]  # outside the block, nothing is kept


@pytest.mark.parametrize("name", ["ring", "ring at the border", "frame (hole the size of the image)", "parts and a pixel"])
def test_hole_area_on_the_window_equals_the_whole_image(name):
    m = PLANTED[name]
    want = int(ndimage.binary_fill_holes(m).sum() - m.sum())
    assert polygons.hole_area(m) == want
    assert polygons.hole_area(masks.encode(m)) == want
