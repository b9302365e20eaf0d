"""Classifier evidence from the feature stage: where the extractor is the classifier, its map
carried on to the final features gives the class maps without a second pass over the photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from autolabel.config import PipelineConfig
from autolabel.pipeline import Annotator
from autolabel.pipeline.evidence import cell_logits, class_maps, evidence_input
from autolabel.pipeline.features import CNNMap, prepare_image, shares_classifier
from autolabel.pipeline.loading import load_models
from autolabel.types import ImageAnnotations

TINY = PipelineConfig(
    extractor="test_efficientnet", extractor_weights="random", classifier="test_efficientnet",
    classifier_weights="random", discovery="votes", max_side=128, evidence_side=128, min_score=0.0,
    batch_size=8, image_batch=2, workers=2, precision="fp32",
)
"""One random tiny EfficientNet for both stages; 128 x 96 photos are seen at 128 x 96 by both
the extractor and the whole-photo pass (both multiples of 32), so both paths read the same input."""


def _photos(folder: Path, n: int = 3) -> list[str]:
    rng = np.random.default_rng(0)
    names = []
    for k in range(n):
        px = (rng.random((96, 128, 3)) * 60).astype(np.uint8)
        px[20 + 5 * k: 70, 30: 90 + 10 * k] = (200, 40 + 50 * k, 30)  # one bright object each
        Image.fromarray(px).save(folder / f"p{k}.png")
        names.append(f"p{k}.png")
    return names


def _count_stem(module: torch.nn.Module, crop: int) -> list[int]:
    """Counts the photos (batch rows other than ``crop x crop`` crops, which the same network
    classifies) the network's stem sees, in ``[0]``."""
    calls = [0]

    def count(_m: object, inp: tuple[torch.Tensor, ...], _out: object) -> None:
        if tuple(inp[0].shape[-2:]) != (crop, crop):
            calls[0] += inp[0].shape[0]

    module.conv_stem.register_forward_hook(count)
    return calls


def test_the_continued_map_equals_a_separate_pass_of_the_classifier() -> None:
    models = load_models(TINY)
    feats = models.features
    assert isinstance(feats, CNNMap) and feats.continues
    x = torch.randn(2, 3, 96, 160, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        keys, chosen = feats.keys_and_map(x)
        maps = cell_logits(models.classify.module, feats.finish(chosen))
        assert torch.allclose(keys, feats(x))  # the keys are unchanged
        for b in range(2):
            alone = class_maps(models.classify.module, x[b: b + 1])
            assert maps[b].shape == alone.shape == (1000, 3, 5)
            assert torch.allclose(maps[b], alone, rtol=1e-3, atol=1e-3 * float(alone.abs().max()))


def test_lite_weights_continue_to_the_same_maps_as_a_separate_pass(sample_data: Path, lite_config) -> None:
    cfg = lite_config.replace(device="cpu", precision="fp32", evidence_side=lite_config.max_side)
    models = load_models(cfg)
    assert shares_classifier(cfg, models.features, models.classify)
    image = Image.open(sample_data / "chelsea.jpg").convert("RGB")  # 451 x 300
    view = prepare_image(image, 320, models.features.patch, models.features.mean, models.features.std)
    with torch.inference_mode():
        _, chosen = models.features.keys_and_map(view.tensor[None])
        shared = cell_logits(models.classify.module, models.features.finish(chosen))[0]
    alone = class_maps(models.classify.module, view.tensor[None])
    assert shared.shape == alone.shape and shared.shape[0] == 1000
    assert torch.allclose(shared, alone, rtol=1e-3, atol=1e-3)
    # and it names the cat where the separate pass at the same size does
    whole = evidence_input(image, 320, models.classify.data_config["mean"], models.classify.data_config["std"])
    assert int(shared.mean(dim=(1, 2)).argmax()) == int(class_maps(models.classify.module, whole[None]).mean(dim=(1, 2)).argmax())


def test_the_pipeline_runs_the_stem_once_per_photo_and_scores_like_the_separate_pass(tmp_path: Path) -> None:
    names = _photos(tmp_path)
    models = load_models(TINY)
    calls = _count_stem(models.extractor.module, models.classify.input_side)
    shared = list(Annotator(TINY, models).process(tmp_path, names))
    assert calls[0] == len(names)
    assert all(isinstance(r, ImageAnnotations) and r.detections for r in shared)

    models.features = _Plain(models.features)  # the same keys, not a CNNMap: the separate pass
    calls[0] = 0
    alone = list(Annotator(TINY, models).process(tmp_path, names))
    assert calls[0] == 2 * len(names)  # the extractor, then the whole-photo pass
    for a, b in zip(shared, alone):
        assert [d.box for d in a.detections] == [d.box for d in b.detections]
        assert [d.score for d in a.detections] == pytest.approx([d.score for d in b.detections], rel=1e-3, abs=1e-4)


class _Plain:
    """A CNNMap seen through a wrapper: same keys, but not one the feature stage continues."""

    def __init__(self, inner: CNNMap) -> None:
        self.inner = inner
        self.patch, self.mean, self.std = inner.patch, inner.mean, inner.std

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.inner(batch)


def test_the_other_cases_keep_the_separate_pass(tmp_path: Path) -> None:
    models = load_models(TINY)
    assert shares_classifier(TINY, models.features, models.classify)
    assert not shares_classifier(TINY.replace(evidence_side=0), models.features, models.classify)
    assert not shares_classifier(TINY.replace(evidence_side=96), models.features, models.classify)  # another size
    scaled = TINY.replace(feature_scales=0.75)
    assert not shares_classifier(scaled, load_models(scaled).features, models.classify)  # another module, and scaled
    other = TINY.replace(classifier="test_convnext")
    other_models = load_models(other)
    assert not shares_classifier(other, other_models.features, other_models.classify)
    assert not CNNMap(models.extractor, layers=("bn2",)).continues

    names = _photos(tmp_path, 1)
    Image.open(tmp_path / names[0]).resize((512, 96)).save(tmp_path / "wide.png")  # tiled: 1x3 views
    tiled = TINY.replace(tiles="1x3")
    tiled_models = load_models(tiled)
    calls = _count_stem(tiled_models.extractor.module, tiled_models.classify.input_side)
    (res,) = Annotator(tiled, tiled_models).process(tmp_path, ["wide.png"])
    assert isinstance(res, ImageAnnotations) and res.detections
    assert calls[0] == 3 + 1  # three tiles through the extractor, then one whole-photo pass


def test_the_maps_span_the_cells_past_the_photos_edge() -> None:
    from autolabel.images import DecodedImage
    from autolabel.pipeline.features import make_views
    from autolabel.pipeline.work import Item

    models = load_models(TINY)
    image = Image.new("RGB", (112, 96), (90, 20, 200))  # seen at 112 x 96: 7 x 6 patches of 16
    item = Item("a.png", decoded=DecodedImage("a.png", image))
    item.views = make_views(item.decoded, TINY, models.features)
    with torch.inference_mode():
        _, chosen = models.features.keys_and_map(item.views[0].resized.tensor[None])
    Annotator._class_maps(models, [item], chosen)
    maps = item.class_maps
    assert maps is not None and maps.logits.shape == (1000, 3, 4)  # 3.5 cells of 32 wide: 4, the last half padding
    assert (maps.width, maps.height) == (128.0, 96.0)
