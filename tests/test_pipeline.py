"""The streaming compute: tiny random models and real lite weights on sample_data, bad files,
filters, discovery methods, the in-flight pixel budget. (Writing runs: tests/engines/.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from autolabel.geometry import iou
from autolabel.pipeline import Annotator
from autolabel.types import ImageAnnotations, ImageFailure


def test_every_path_gives_one_result_in_input_order(mixed_folder: Path, tiny_config) -> None:
    cfg = tiny_config.replace(max_pixels=500_000)
    paths = _paths(mixed_folder)
    results = list(Annotator(cfg).process(mixed_folder, paths))
    assert [r.path for r in results] == paths
    failed = {r.path for r in results if isinstance(r, ImageFailure)}
    assert failed == {"empty.jpg", "not_an_image.png", "truncated.jpg", "tiny.png", "bomb.png"}
    for r in results:
        if isinstance(r, ImageAnnotations):
            assert 1 <= len(r.detections) <= cfg.max_boxes
            for d in r.detections:
                x1, y1, x2, y2 = d.box
                assert 0 <= x1 < x2 <= r.width and 0 <= y1 < y2 <= r.height


def test_filters_limit_boxes(sample_data: Path, tiny_config) -> None:
    cfg = tiny_config.replace(max_boxes=1, min_box_size=40.0)
    images = list(Annotator(cfg).process(sample_data, _paths(sample_data)))
    assert len(images) == 4
    for img in images:
        assert len(img.detections) <= 1
        for d in img.detections:
            assert min(d.width, d.height) >= 40.0


def test_single_discovery_gives_one_box_per_image(sample_data: Path, tiny_config) -> None:
    images = Annotator(tiny_config.replace(discovery="single")).process(sample_data, _paths(sample_data))
    assert [len(i.detections) for i in images] == [1, 1, 1, 1]


def test_discover_regions_runs_the_configured_method(tiny_config) -> None:
    import torch

    from autolabel.discovery.lost import lost_single_region
    from autolabel.pipeline import discover_regions

    keys = torch.randn(6 * 8, 16, generator=torch.Generator().manual_seed(0))
    single = discover_regions(keys, (6, 8), tiny_config.replace(discovery="single"))
    assert single == [lost_single_region(keys, (6, 8), tiny_config.k_patches)]
    multi = discover_regions(keys, (6, 8), tiny_config.replace(discovery="multi", num_seeds=4))
    assert 1 <= len(multi) <= 4


@pytest.mark.slow
def test_lite_preset_finds_the_cat_and_the_cup(sample_data: Path, lite_config) -> None:
    imgs = {i.path: i for i in Annotator(lite_config).process(sample_data, _paths(sample_data))}
    cat_region = (40, 20, 451, 300)   # Chelsea fills the right three quarters of her photo
    cats = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
    hits = [d for d in imgs["chelsea.jpg"].detections
            if iou(d.box, cat_region) > 0.05 and cats & {a.label for a in d.topk}]
    assert hits, imgs["chelsea.jpg"].detections
    cup_region = (60, 10, 500, 400)   # the cup and saucer
    cups = {"cup", "coffee mug", "espresso"}
    hits = [d for d in imgs["coffee.jpg"].detections
            if iou(d.box, cup_region) > 0.5 and cups & {a.label for a in d.topk}]
    assert hits, imgs["coffee.jpg"].detections


def test_inflight_pixel_budget_bounds_decoded_images_and_changes_no_result(
        tmp_path: Path, mixed_folder: Path, tiny_config, monkeypatch: pytest.MonkeyPatch) -> None:
    import autolabel.pipeline as pipeline

    cfg = tiny_config.replace(max_pixels=500_000)
    free = Annotator(cfg)  # 100 MP: every image of this folder fits at once
    want = _summary(free.process(mixed_folder, _paths(mixed_folder)))

    held: list[int] = []
    take = pipeline._PixelBudget.take

    def spy(self, pixels: int, wait: bool = False) -> bool:
        ok = take(self, pixels, wait)
        held.append(self.held)
        return ok

    monkeypatch.setattr(pipeline._PixelBudget, "take", spy)
    # 0.3 MP: the 512x512 astronaut (0.26 MP) fits alone, never with the 600x400 chelsea (0.24 MP).
    tight = Annotator(cfg.replace(inflight_megapixels=0.3), models=free.models)
    got = _summary(tight.process(mixed_folder, _paths(mixed_folder)))
    assert got == want  # same boxes and labels, same order, failures included (smaller batches)
    assert max(held) <= 300_000 < 512 * 512 + 600 * 400
    # The bomb (900x900 > max_pixels) is refused unread, so it costs nothing.
    huge = Annotator(cfg.replace(inflight_megapixels=0.0001), models=free.models)
    assert [r.path for r in huge.process(mixed_folder, _paths(mixed_folder))] == _paths(mixed_folder)


def _summary(results) -> list[tuple]:
    """Per image: path and its (box, label, score to 4 decimals), or the failure's reason."""
    out = []
    for r in results:
        if hasattr(r, "detections"):
            out.append((r.path, [(d.box, d.label, round(d.score, 4)) for d in r.detections]))
        else:
            out.append((r.path, r.reason))
    return out


def _paths(folder: Path) -> list[str]:
    from autolabel.intake import find_images

    return list(find_images(folder).paths)
