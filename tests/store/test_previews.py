"""Previews: named like their image; every label inside the image, none covering another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autolabel.store.previews import _COLOURS, draw_preview, place_labels, preview_path
from autolabel.types import Detection, ImageAnnotations


def test_preview_has_the_images_own_relative_path(tmp_path: Path) -> None:
    assert preview_path(tmp_path, "a/x.jpg") == tmp_path / "a" / "x.jpg"
    assert preview_path(tmp_path, "b.PNG") == tmp_path / "b.PNG"


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("boxes", [
    [(60, 10, 100, 50)] * 3 + [(0, 0, 100, 80)],       # same box three times, at the right edge
    [(90, 70, 100, 80), (95, 0, 100, 5), (0, 75, 3, 80)],  # corners: labels must move inwards
])
def test_labels_stay_inside_and_do_not_overlap(boxes) -> None:
    rects = place_labels((100, 80), boxes, [(60, 12)] * len(boxes))
    for r in rects:
        assert 0 <= r[0] < r[2] <= 100 and 0 <= r[1] < r[3] <= 80 and (r[2] - r[0], r[3] - r[1]) == (60, 12)
    assert not any(_overlap(a, b) for i, a in enumerate(rects) for b in rects[i + 1:])


def test_drawn_labels_are_inside_the_image_and_readable() -> None:
    """Three detections on the same box at the right edge: each label's colour shows, in full,
    inside the image (the old layout put all three on the same spot, partly outside)."""
    img = Image.new("RGB", (200, 120), (0, 0, 0))
    dets = tuple(Detection(id=f"x-{i}", box=(150.0, 5.0, 200.0, 60.0), label=f"label number {i}", score=0.5, objectness=0.5)
                 for i in range(3))
    out = np.asarray(draw_preview(img, ImageAnnotations("x.jpg", 200, 120, dets)))
    for i in range(3):
        _, xs = np.nonzero((out == _COLOURS[i]).all(-1))
        # the label's background: a filled block wider than the 50-px box outline
        assert xs.max() - xs.min() > 60, i
    # a label wider than the image is shortened, not cut off at the edge
    long = Detection(id="y-0", box=(0.0, 0.0, 30.0, 30.0), label="a very long label " * 5, score=0.5, objectness=0.5)
    small = Image.new("RGB", (60, 40))
    out = np.asarray(draw_preview(small, ImageAnnotations("y.jpg", 60, 40, (long,))))
    assert (out == _COLOURS[0]).all(-1).any()


def _l_shape(w: int, h: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[20:100, 40:70] = True    # the upright
    m[70:100, 70:160] = True   # the foot
    return m


@pytest.mark.parametrize("max_side", [1024, 100])
def test_masks_are_painted_translucent_under_the_boxes(max_side) -> None:
    from autolabel import masks
    from autolabel.store.previews import MASK_ALPHA

    grey = 100
    img = Image.new("RGB", (200, 120), (grey, grey, grey))
    m = _l_shape(200, 120)
    det = Detection(id="x-0", box=masks.bbox(m), label="boot", score=0.9, objectness=0.9, mask=masks.encode(m))
    plain = Detection(id="x-1", box=(170.0, 5.0, 195.0, 30.0), label="cup", score=0.9, objectness=0.9)
    out = np.asarray(draw_preview(img, ImageAnnotations("x.jpg", 200, 120, (det, plain)), max_side=max_side)).astype(int)
    s = out.shape[1] / 200  # preview pixels per image pixel
    blend = np.rint(grey * (1 - MASK_ALPHA) + np.asarray(_COLOURS[0]) * MASK_ALPHA)

    def px(x, y):
        return out[int(y * s), int(x * s)]

    assert (px(55, 60) == blend).all()      # inside the upright: the image shows through the colour
    assert (px(120, 85) == blend).all()     # inside the foot
    assert (px(100, 64) == grey).all()      # inside the box, outside the mask: untouched
    assert (px(182, 20) == grey).all()      # a box without a mask: nothing painted
    assert (out[int(20 * s), int(100 * s)] == _COLOURS[0]).all()  # the box outline is drawn over the mask's bounds
    painted = (np.abs(out - blend).sum(-1) == 0).sum()
    # the mask's area at the preview's scale, less what the box outline and the labels cover
    assert 0.7 * m.sum() * s * s <= painted <= 1.05 * m.sum() * s * s


def test_a_thin_strip_gets_a_canvas_with_room_for_its_labels() -> None:
    """A 20000 x 20 image: the preview is not 1024 x 1; its box and label are drawn and visible."""
    from autolabel.store.previews import MIN_PREVIEW_SIDE

    image = Image.new("RGB", (20000, 20), (200, 200, 200))
    det = Detection(id="strip-0", box=(5000.0, 0.0, 9000.0, 20.0), label="train", score=0.5, objectness=0.5)
    out = draw_preview(image, ImageAnnotations("strip.png", 20000, 20, (det,)))
    assert out.size == (1024, MIN_PREVIEW_SIDE)
    arr = np.asarray(out)
    colour = np.asarray(_COLOURS[0])
    rows, cols = np.nonzero((arr == colour).all(axis=2))
    assert rows.max() >= 8  # the label's background reaches below the 1-px image strip
    label = arr[4: rows.max() + 1, cols.min(): cols.max() + 1]
    assert (label.min(axis=2) > 200).sum() >= 20  # white text drawn on it, below the strip
