"""Instance masks from the pipeline: one per detection, over the displayed image, the box its bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autolabel import masks
from autolabel.geometry import iou
from autolabel.pipeline import Annotator
from autolabel.types import ImageAnnotations


def _images(root: Path, cfg) -> list[ImageAnnotations]:
    import torch

    paths = sorted(p.relative_to(root).as_posix() for p in root.glob("*.jpg"))
    torch.manual_seed(0)  # random weights: the same models for every call
    out = list(Annotator(cfg).process(root, paths))
    assert all(isinstance(r, ImageAnnotations) for r in out)
    return out


def _check_masks(images: list[ImageAnnotations]) -> int:
    n = 0
    for img in images:
        for d in img.detections:
            assert d.mask is not None, d.id
            assert d.mask["size"] == [img.height, img.width]
            m = masks.decode(masks.check_rle(d.mask))
            assert m.any()
            assert masks.bbox(m) == d.box  # the box is the mask's bounds, whole pixels
            n += 1
    return n


def test_masks_are_on_by_default_and_bound_their_boxes(sample_data: Path, tiny_config) -> None:
    assert tiny_config.masks
    with_masks = _images(sample_data, tiny_config)
    assert _check_masks(with_masks) >= 4
    without = _images(sample_data, tiny_config.replace(masks=False))
    for a, b in zip(with_masks, without):
        assert all(d.mask is None for d in b.detections)
        # the same objects; boxes differ by the rounding to whole pixels at most
        assert len(a.detections) == len(b.detections)
        for da, db in zip(a.detections, b.detections):
            assert iou(da.box, db.box) > 0.9 and max(abs(x - y) for x, y in zip(da.box, db.box)) <= 1.0


def test_without_refinement_the_mask_is_the_patch_mask_cut_to_the_box(sample_data: Path, tiny_config) -> None:
    images = _images(sample_data, tiny_config.replace(refine=False))
    assert _check_masks(images) >= 4


def test_tiled_discovery_gives_masks_over_the_whole_image(sample_data: Path, tiny_config) -> None:
    images = _images(sample_data, tiny_config.replace(tiles="2x2"))
    assert _check_masks(images) >= 4


def test_masks_are_in_the_displayed_frame_of_an_exif_turned_photo(tmp_path: Path, tiny_config) -> None:
    arr = np.full((96, 160, 3), 40, np.uint8)
    arr[20:70, 30:90] = (230, 200, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 160x96 landscape, shown 96x160 portrait
    (tmp_path / "imgs").mkdir()
    Image.fromarray(arr).save(tmp_path / "imgs" / "rot.jpg", exif=exif.tobytes(), quality=95)
    (img,) = _images(tmp_path / "imgs", tiny_config)
    assert (img.width, img.height) == (96, 160)
    assert _check_masks([img]) >= 1


@pytest.mark.slow
def test_lite_masks_cover_the_cup(sample_data: Path, lite_config) -> None:
    imgs = {i.path: i for i in _images(sample_data, lite_config)}
    _check_masks(list(imgs.values()))
    coffee = imgs["coffee.jpg"]
    best = max(coffee.detections, key=lambda d: d.score)
    # most of the box is the object, not a rectangle of background
    assert 0.3 < masks.area(best.mask) / best.area < 0.99
