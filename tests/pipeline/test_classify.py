"""Crops: margins, clipping, and huge regions shrunk without a full-resolution copy."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from autolabel.pipeline.crops import REDUCING_GAP, crop_box


def _photo(w: int, h: int) -> Image.Image:
    """Smooth colour gradients with some texture, like a photo at a distance."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 127 + 100 * np.sin(xx / 97.0) * np.cos(yy / 61.0)
    g = 127 + 100 * np.sin((xx + yy) / 151.0)
    b = 127 + 60 * np.cos(xx / 33.0) + 40 * np.sin(yy / 47.0)
    return Image.fromarray(np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8))


def test_crop_box_adds_the_margin_and_clips_to_the_image() -> None:
    img = _photo(200, 100)
    assert crop_box(img, (50, 20, 150, 60), 0.1).size == (120, 48)  # 10% of 100 and 40 per side
    assert crop_box(img, (0, 0, 200, 100), 0.5).size == (200, 100)  # clipped
    assert crop_box(img, (10.2, 10.2, 10.4, 10.4), 0.0).size == (1, 1)  # never empty


def test_small_regions_are_cropped_exactly_even_with_min_side() -> None:
    img = _photo(1400, 1400)
    # 1,300 px < 2 * 3 * 224: no reduction, the very same pixels as a plain crop.
    a = crop_box(img, (50, 50, 1350, 1350), 0.0, min_side=224)
    b = crop_box(img, (50, 50, 1350, 1350), 0.0)
    assert a.size == b.size == (1300, 1300) and a.tobytes() == b.tobytes()


def test_a_huge_region_is_shrunk_by_an_integer_factor_and_classifies_the_same() -> None:
    import torch
    from timm.data import create_transform

    img = _photo(4800, 3200)
    small = crop_box(img, (0, 0, 4800, 3200), 0.0, min_side=224)
    factor = 3200 // (REDUCING_GAP * 224)  # 4
    assert small.size == (4800 // factor, 3200 // factor)
    assert min(small.size) >= REDUCING_GAP * 224
    t = create_transform(input_size=(3, 224, 224), interpolation="bicubic", crop_pct=0.875)
    direct, reduced = t(crop_box(img, (0, 0, 4800, 3200), 0.0)), t(small)
    assert direct.shape == reduced.shape == (3, 224, 224)
    # The classifier's input differs by a small fraction of its range (normalised units, ~[-2, 2]).
    assert float((direct - reduced).abs().mean()) < 0.02
    assert torch.corrcoef(torch.stack([direct.flatten(), reduced.flatten()]))[0, 1] > 0.999


@pytest.mark.parametrize("margin", [0.0, 0.1])
def test_reduction_keeps_the_region(margin: float) -> None:
    img = _photo(3000, 3000)
    box = (100, 200, 2900, 2800)
    full = crop_box(img, box, margin)
    small = crop_box(img, box, margin, min_side=224)
    f = min(full.size) // (REDUCING_GAP * 224)
    assert f >= 2 and abs(small.size[0] * f - full.size[0]) < f and abs(small.size[1] * f - full.size[1]) < f
    # Same content: the full crop box-averaged by the same factor matches the reduced one.
    ref = np.asarray(full.reduce(f), dtype=np.int16)
    assert np.abs(ref - np.asarray(small, dtype=np.int16)).max() <= 1
