"""A box without a mask in ``segm`` evaluation: its RLE made on the box's window equals the
outline rasterised on the whole image (pixel centres inside), for boxes inside, across and
outside the image, on and between pixel centres."""

from __future__ import annotations

import numpy as np
import pytest

from autolabel import masks
from autolabel.evaluate.metrics import box_rle
from autolabel.formats.polygons import polygons_to_mask


@pytest.mark.parametrize("box", [(2.0, 3.0, 9.0, 7.0), (2.5, 3.5, 9.5, 7.5), (0.3, 0.2, 4.6, 5.9), (-3.0, -2.0, 40.0, 30.0),
                                 (10.0, 5.0, 10.0, 9.0), (7.1, 7.1, 7.4, 7.4), (15.5, 11.5, 25.0, 20.0), (30.0, 2.0, 35.0, 4.0)])
def test_box_rle_equals_the_rasterised_outline(box):
    h, w = 12, 16
    x1, y1, x2, y2 = box
    want = masks.encode(polygons_to_mask([[(x1, y1), (x2, y1), (x2, y2), (x1, y2)]], h, w))
    assert box_rle(box, h, w) == want


def test_random_boxes():
    rng = np.random.default_rng(3)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 25, 2))
        x1, x2 = sorted(rng.uniform(-3, w + 3, 2))
        y1, y2 = sorted(rng.uniform(-3, h + 3, 2))
        want = masks.encode(polygons_to_mask([[(x1, y1), (x2, y1), (x2, y2), (x1, y2)]], h, w))
        assert box_rle((x1, y1, x2, y2), h, w) == want


def test_a_box_on_a_huge_image_needs_no_whole_image():
    rle = box_rle((100.0, 200.0, 110.0, 204.0), 100_000, 100_000)
    assert masks.area(rle) == 40 and masks.rle_bounds(rle) == (100.0, 200.0, 110.0, 204.0)
