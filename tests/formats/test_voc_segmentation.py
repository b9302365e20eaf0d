"""VOC's index images from the masks' runs: the same scanlines as painting every mask on the
whole image, largest first (references painted here pixel by pixel), overlaps and borders
included, and the PNGs made from the runs decode to them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from autolabel import masks
from autolabel.errors import FormatLimitError
from autolabel.formats import voc
from autolabel.types import Detection, ImageAnnotations


def _image(rng: np.random.Generator, h: int, w: int, n: int) -> tuple[ImageAnnotations, list[np.ndarray]]:
    planted, dets = [], []
    for k in range(n):
        m = np.zeros((h, w), bool)
        if k % 4 == 3:
            m = rng.random((h, w)) < 0.3  # speckle: many short runs
        else:
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            m[y0:y0 + int(rng.integers(1, h + 1)), x0:x0 + int(rng.integers(1, w + 1))] = True
            m[y0 + 1:y0 + 3, x0 + 1:x0 + 2] = False  # a hole, at times
        planted.append(m)
        mask = masks.encode(m) if m.any() and k % 5 != 4 else None  # some detections have no mask
        dets.append(Detection(id=f"d{k}", box=(0.0, 0.0, float(w), float(h)), label=f"c{k % 3}", score=0.5,
                              objectness=0.5, label_id=f"c{k % 3}", mask=mask))
    return ImageAnnotations("a.jpg", w, h, tuple(dets)), planted


def _reference(image: ImageAnnotations, planted: list[np.ndarray], class_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.height, image.width
    obj, cls = np.zeros((h, w + 1), np.uint8), np.zeros((h, w + 1), np.uint8)
    painted = [(k, m) for k, (m, d) in enumerate(zip(planted, image.detections)) if d.mask is not None]
    for k, m in sorted(painted, key=lambda km: (-int(km[1].sum()), km[0])):
        obj[:, 1:][m], cls[:, 1:][m] = k + 1, class_ids[k] + 1
    return obj, cls


def _unrolled(runs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    values, lengths = runs
    assert (lengths >= 1).all() and (values[1:] != values[:-1]).all()  # no empty runs, neighbours joined
    return np.repeat(values, lengths)


@pytest.mark.parametrize("seed", range(8))
def test_runs_and_painting_equal_the_pixel_reference(seed):
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(1, 30)), int(rng.integers(1, 30))
    image, planted = _image(rng, h, w, int(rng.integers(1, 9)))
    class_ids = [int(d.label[1:]) for d in image.detections]
    objects = voc.segmentation_objects(image, class_ids)
    if not objects:
        assert voc.voc_segmentation(image, class_ids) is None
        return
    want_obj, want_cls = _reference(image, planted, class_ids)
    runs_obj, runs_cls = voc.segmentation_runs(image, class_ids, objects)
    assert np.array_equal(_unrolled(runs_obj), want_obj.ravel())
    assert np.array_equal(_unrolled(runs_cls), want_cls.ravel())
    painted = voc.paint_segmentation(image, class_ids, objects)
    assert np.array_equal(painted[0], want_obj) and np.array_equal(painted[1], want_cls)
    for runs, want in ((runs_obj, want_obj), (runs_cls, want_cls)):
        img = Image.open(io.BytesIO(voc.voc_png_runs(runs, w, h)))
        assert img.mode == "P" and np.array_equal(np.asarray(img), want[:, 1:])
        assert img.getpalette() == [v for rgb in voc.voc_colormap() for v in rgb]
        assert voc.voc_png_bytes(want) != b""


def test_an_object_over_the_whole_image_and_one_pixel_objects():
    image = ImageAnnotations("b.jpg", 5, 4, tuple(
        Detection(id=f"d{k}", box=(0.0, 0.0, 5.0, 4.0), label="c", score=0.5, objectness=0.5, label_id="c",
                  mask=masks.encode(m))
        for k, m in enumerate([np.ones((4, 5), bool), np.eye(4, 5, dtype=bool), np.eye(4, 5, k=4, dtype=bool)])))
    (values, lengths), _ = voc.segmentation_runs(image, [0, 0, 0], [0, 1, 2])
    got = np.repeat(values, lengths).reshape(4, 6)
    assert got[:, 0].tolist() == [0, 0, 0, 0]  # each row's filter byte
    want = np.ones((4, 5), np.uint8)
    want[np.eye(4, 5, dtype=bool)] = 2
    want[0, 4] = 3
    assert np.array_equal(got[:, 1:], want)


def test_limits_are_checked_before_any_mask_is_read():
    m = masks.encode(np.ones((2, 2), bool))
    dets = tuple(Detection(id=f"d{k}", box=(0.0, 0.0, 2.0, 2.0), label="c", score=0.5, objectness=0.5,
                           label_id="c", mask=m if k == 300 else None) for k in range(301))
    with pytest.raises(FormatLimitError, match="many.jpg: 301 objects, object 301 has a mask"):
        voc.segmentation_objects(ImageAnnotations("many.jpg", 2, 2, dets), [0] * 301)
    one = ImageAnnotations("cls.jpg", 2, 2, dets[300:])
    with pytest.raises(FormatLimitError, match="number 256 of the run's 400"):
        voc.segmentation_objects(one, [255], 400)
