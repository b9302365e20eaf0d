"""A run's size per image, and the bytes its masks take."""

from __future__ import annotations

import numpy as np
import pytest

from autolabel import masks
from autolabel.store import RunStore
from autolabel.tools.bench.runsize import measure_run_size
from autolabel.types import Detection, ImageAnnotations


def _images(with_masks: bool) -> list[ImageAnnotations]:
    out = []
    for i in range(3):
        m = np.zeros((48, 64), bool)
        m[5 + i: 30, 10: 40 + i] = True
        dets = tuple(
            Detection(id=f"im{i}-{k}", box=masks.bbox(m), label="cat", score=0.5, objectness=0.5,
                      mask=masks.encode(m) if with_masks else None)
            for k in range(i + 1)
        )
        out.append(ImageAnnotations(f"im{i}.jpg", 64, 48, dets))
    return out


def _write(run_dir, images) -> RunStore:
    store = RunStore(run_dir)
    with store.prediction_writer() as w:
        for img in images:
            w.append(img.to_dict())
    return store


def test_mask_bytes_are_what_the_run_would_save_without_masks(tmp_path):
    with_ = measure_run_size(_write(tmp_path / "a", _images(True)).predictions_path)
    without = measure_run_size(_write(tmp_path / "b", _images(False)).predictions_path)
    assert (with_.images, with_.detections, with_.masks) == (3, 6, 6)
    assert (without.masks, without.mask_bytes) == (0, 0)
    assert with_.bytes - with_.mask_bytes == without.bytes
    assert with_.bytes_per_image == pytest.approx(with_.bytes / 3)
    assert with_.mb_per_1000_images == pytest.approx(with_.bytes / 3 * 1000 / 1e6)
    assert 0 < with_.mask_share < 1 and with_.to_dict()["bytes_per_mask"] == with_.mask_bytes / 6
