"""The speed settings change speed only: padded batches, batched discovery, device crops and
stage overlap give the same records as the plain path, in the same order."""

from __future__ import annotations

from pathlib import Path

import pytest

from autolabel.pipeline import Annotator
from autolabel.pipeline.scheduler import resolve_workers
from autolabel.types import ImageAnnotations
from tests.conftest import write_image


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Eleven images: three sizes (so more than one extractor shape), odd counts per chunk."""
    d = tmp_path_factory.mktemp("speed")
    for i in range(11):
        write_image(d / f"img_{i:02d}.png", size=[(96, 72), (128, 96), (64, 64)][i % 3])
    return d


@pytest.fixture(scope="module")
def models(tiny_config):
    """One set of random models for every run of a test (so runs differ only in settings)."""
    from autolabel.pipeline import load_models

    return load_models(tiny_config)


def _paths(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _records(cfg, folder: Path, annotator: Annotator | None = None, models=None) -> list[tuple]:
    ann = annotator or Annotator(cfg, models)
    out = []
    for r in ann.process(folder, _paths(folder)):
        assert isinstance(r, ImageAnnotations)
        out.append((r.path, r.width, r.height, [(d.box, d.label, d.objectness, round(d.score, 4)) for d in r.detections]))
    return out


def _plain(cfg):
    return cfg.replace(pad_batches="off", device_crops="off", overlap="off")


def test_padded_batches_same_records_and_few_shapes(folder: Path, tiny_config, models) -> None:
    cfg = tiny_config.replace(batch_size=8, image_batch=4)
    plain = Annotator(_plain(cfg), models)
    padded = Annotator(_plain(cfg).replace(pad_batches="on"), models)
    assert _records(None, folder, padded) == _records(None, folder, plain)
    s = plain.models.classify.input_side
    got = padded.shapes.shapes("classifier")
    assert got and got <= {(b, 3, s, s) for b in (8,)}  # buckets_for(8) == (8,)
    # extractor: one batch size (image_batch) per image size; unpadded sees the odd counts too
    assert {sh[0] for sh in padded.shapes.shapes("extractor")} == {4}
    assert len({sh[0] for sh in plain.shapes.shapes("extractor")}) > 1
    assert padded.shapes.counts()["extractor"] == 3


def test_overlapped_stages_same_records_same_order(folder: Path, tiny_config, models) -> None:
    cfg = tiny_config.replace(image_batch=2)
    assert _records(_plain(cfg).replace(overlap="on"), folder, models=models) == _records(_plain(cfg), folder, models=models)


@pytest.mark.parametrize("megapixels", [0.0001, 0.015])
def test_overlap_with_a_tight_pixel_budget_processes_every_image(folder: Path, tiny_config, models, megapixels: float) -> None:
    """With ``overlap`` the decode window is refilled while the previous chunk is still held:
    it waits for the consumer to release pixels instead of ending early."""
    cfg = _plain(tiny_config).replace(image_batch=3, inflight_megapixels=megapixels)
    want = _records(_plain(tiny_config).replace(image_batch=3), folder, models=models)
    got = _records(cfg.replace(overlap="on"), folder, models=models)
    assert [r[0] for r in got] == _paths(folder)
    assert got == want


def test_overlap_raises_the_stage_error_in_the_consumer(folder: Path, tiny_config, monkeypatch) -> None:
    ann = Annotator(_plain(tiny_config).replace(overlap="on", image_batch=2))

    def broken(models, items):
        raise RuntimeError("stage 1 broke")

    monkeypatch.setattr(ann, "_discover", broken)
    with pytest.raises(RuntimeError, match="stage 1 broke"):
        list(ann.process(folder, _paths(folder)))


def test_batched_discovery_same_records_as_per_image(folder: Path, tiny_config, models, monkeypatch) -> None:
    import dataclasses

    import autolabel.discovery as discovery
    from autolabel.discovery.batched import batched_methods

    for method in batched_methods():
        cfg = _plain(tiny_config).replace(discovery=method)
        with_batches = _records(cfg, folder, models=models)
        with monkeypatch.context() as m:  # every method through the per-image fallback
            m.setattr(discovery, "_REGISTRY", {k: dataclasses.replace(v, batched=None) for k, v in discovery._REGISTRY.items()})
            assert _records(cfg, folder, models=models) == with_batches


def test_device_crops_run_on_cpu_with_the_same_boxes(folder: Path, tiny_config, models) -> None:
    cfg = _plain(tiny_config)
    pil = _records(cfg, folder, models=models)
    dev = _records(cfg.replace(device_crops="on"), folder, models=models)
    assert [(p, w, h, [d[0] for d in ds]) for p, w, h, ds in dev] == [(p, w, h, [d[0] for d in ds]) for p, w, h, ds in pil]


@pytest.mark.slow
def test_device_crops_agree_with_pil_labels_on_sample_data(sample_data: Path, lite_config) -> None:
    """Real EfficientNet-Lite0 weights: the device path keeps PIL's top-1 label on most boxes
    (measured 31 of 32 boxes on sample_data, every box kept; bf16 vs fp32 differs more often)."""
    from autolabel.tools.bench import crop_agreement

    report = crop_agreement(lite_config.replace(device="cpu", precision="fp32"), sample_data)
    assert report.boxes >= 4 and report.same_boxes == report.boxes
    assert report.label_agreement >= 0.75
    assert report.max_score_diff < 0.1


def test_device_crop_geometry_matches_pil_crop(tiny_config) -> None:
    """Same region, same resize and centre crop: the inputs differ by resampling rounding only."""
    import torch
    from PIL import Image

    from autolabel.models import build_model
    from autolabel.pipeline.classify import Classifier
    from autolabel.pipeline.crops import CropSpec, device_crops, image_tensor

    clf = Classifier(build_model("test_convnext", "random", "classifier", torch.device("cpu")))
    spec = CropSpec.from_data_config(clf.data_config)
    g = torch.Generator().manual_seed(0)
    arr = (torch.rand(90, 120, 3, generator=g) * 255).to(torch.uint8)
    arr = torch.nn.functional.interpolate(arr.permute(2, 0, 1)[None].float(), scale_factor=4, mode="bilinear")[0]
    img = Image.fromarray(arr.permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy())
    boxes = [(0, 0, 480, 360), (10.5, 20.2, 200.7, 150.1), (300, 30, 330, 300), (0, 0, 3, 2), (100, 100, 479.9, 359.9)]
    pil = torch.stack([clf.preprocess(img, b, 0.1) for b in boxes])
    dev = device_crops(image_tensor(img, torch.device("cpu")), boxes, 0.1, spec, min_side=clf.input_side)
    assert dev.shape == pil.shape
    diff = (dev - pil).abs()
    assert diff.mean() < 0.01  # a misplaced crop (even by a pixel on smooth content) is far above this
    assert diff.amax(dim=(1, 2, 3)).max() < 0.25


def test_device_crops_reduce_huge_regions_like_pil(tiny_config) -> None:
    import torch
    from PIL import Image

    from autolabel.models import build_model
    from autolabel.pipeline.classify import Classifier
    from autolabel.pipeline.crops import CropSpec, device_crops, image_tensor

    clf = Classifier(build_model("test_convnext", "random", "classifier", torch.device("cpu")))
    spec = CropSpec.from_data_config(clf.data_config)
    side = clf.input_side * 3 * 2 + 17  # large enough for crop_box's integer reduction
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    arr = torch.stack([xx % 256, yy % 256, (xx // 7 + yy // 5) % 256], -1).to(torch.uint8)
    img = Image.fromarray(arr.numpy())
    box = (0, 0, side, side)
    pil = clf.preprocess(img, box, 0.0)
    dev = device_crops(image_tensor(img, torch.device("cpu")), [box], 0.0, spec, min_side=clf.input_side)[0]
    assert (dev - pil).abs().mean() < 0.02


def test_workers_default_from_the_cpu_count() -> None:
    assert resolve_workers(3) == 3
    assert resolve_workers(0, cpu_count=16) == 16
    assert resolve_workers(0, cpu_count=1) == 2
    assert resolve_workers(0, cpu_count=256) == 32
