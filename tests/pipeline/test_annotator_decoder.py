"""``decoder: device`` (torchvision's decoder; on these CPU-only tests its CPU decoder): the same
records, failures and previews as ``decoder: pil``, and a run resumes across the two."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from autolabel.engines import EngineOptions
from autolabel.engines.local import annotate
from autolabel.geometry import iou
from autolabel.images import find_images
from autolabel.pipeline import Annotator
from autolabel.types import ImageAnnotations, ImageFailure
from tests.conftest import SAMPLE_DATA, write_image


def _exif_jpeg(src: Path, dst: Path, orientation: int) -> None:
    with Image.open(src) as im:
        exif = im.getexif()
        exif[0x0112] = orientation
        im.save(dst, quality=90, exif=exif)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The sample photos, EXIF-rotated (6 and 3), grayscale and CMYK JPEGs, and bad files."""
    d = tmp_path_factory.mktemp("decoder")
    for p in SAMPLE_DATA.glob("*.jpg"):
        shutil.copy(p, d / p.name)
    _exif_jpeg(SAMPLE_DATA / "chelsea.jpg", d / "rot6.jpg", 6)
    _exif_jpeg(SAMPLE_DATA / "coffee.jpg", d / "rot3.jpg", 3)
    write_image(d / "gray.jpg", (160, 120), mode="L")
    write_image(d / "cmyk.jpg", (160, 120), mode="CMYK")
    write_image(d / "image.png", (96, 72))
    write_image(d / "png_named.jpg", (96, 72), fmt="PNG")
    write_image(d / "tiny.jpg", (10, 10))
    write_image(d / "bomb.jpg", (900, 900))
    data = (SAMPLE_DATA / "rocket.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (d / "garbage.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4 + b"\xff\xd9")
    (d / "empty.jpg").write_bytes(b"")
    return d


@pytest.fixture(scope="module")
def models(tiny_config):
    """Random models, the same every run (the box agreement below was measured on them)."""
    import torch

    from autolabel.pipeline import load_models

    torch.manual_seed(0)
    return load_models(tiny_config)


def _run(cfg, folder: Path, models, decoder: str) -> list:
    ann = Annotator(cfg.replace(decoder=decoder, max_pixels=500_000), models)
    return list(ann.process(folder, list(find_images(folder).paths)))


def _shape(results: list) -> list[tuple]:
    return [(r.path, r.width, r.height) if isinstance(r, ImageAnnotations) else (r.path, r.reason) for r in results]


@pytest.mark.parametrize("tiles", ["1x1", "2x2"])
def test_same_sizes_and_failures_as_pil(folder: Path, tiny_config, models, tiles: str) -> None:
    cfg = tiny_config.replace(tiles=tiles, image_batch=4)
    pil, dev = _run(cfg, folder, models, "pil"), _run(cfg, folder, models, "device")
    assert _shape(dev) == _shape(pil)
    sizes = {r.path: (r.width, r.height) for r in dev if isinstance(r, ImageAnnotations)}
    assert sizes["rot6.jpg"] == (300, 451) and sizes["rot3.jpg"] == (600, 400)  # chelsea 451x300 turned; coffee kept
    failures = {r.path: r.reason for r in dev if isinstance(r, ImageFailure)}
    assert set(failures) == {"tiny.jpg", "bomb.jpg", "truncated.jpg", "garbage.jpg", "empty.jpg"}
    assert failures["truncated.jpg"] == "truncated image (the file ends before the image data)"
    assert failures["empty.jpg"] == "empty file (0 bytes)"


def test_device_pixels_match_pil_and_no_pil_image_is_made(folder: Path, tiny_config, models) -> None:
    """Device crops on: the fast path keeps the pixels as a tensor; a JPEG's pixels are PIL's
    (in its displayed orientation); non-JPEG and CMYK files come from PIL."""
    cfg = tiny_config.replace(decoder="device", device_crops="on")
    ann = Annotator(cfg, models)
    seen = {}
    for result, decoded in ann.stream(folder, ["rot6.jpg", "rot3.jpg", "gray.jpg", "cmyk.jpg", "image.png", "png_named.jpg"]):
        assert isinstance(result, ImageAnnotations)
        seen[result.path] = (decoded.pixels is not None, decoded._image is None)
        with Image.open(folder / result.path) as im:
            want = np.asarray(ImageOps.exif_transpose(im).convert("RGB")).astype(int)
        got = np.asarray(decoded.image).astype(int)
        assert got.shape == want.shape
        assert np.abs(got - want).mean() <= 0.5 and np.abs(got - want).max() <= 8  # CPU: equal
    assert seen == {"rot6.jpg": (True, True), "rot3.jpg": (True, True), "gray.jpg": (True, True),
                    "cmyk.jpg": (False, False), "image.png": (False, False), "png_named.jpg": (False, False)}


def test_a_jpeg_the_device_cannot_decode_goes_through_pil(folder: Path, tiny_config, models, monkeypatch) -> None:
    import autolabel.pipeline.decode as dd

    real = dd._decode
    calls = []

    def picky(data, device):
        calls.append(len(data))
        if any(len(d) == (folder / "coffee.jpg").stat().st_size for d in data):
            raise RuntimeError("nvjpeg: unsupported")
        return real(data, device)

    paths = ["astronaut.jpg", "coffee.jpg", "rocket.jpg"]
    want = _shape(Annotator(tiny_config, models).process(folder, paths))
    monkeypatch.setattr(dd, "_decode", picky)
    ann = Annotator(tiny_config.replace(decoder="device", image_batch=4), models)
    got = [(r, d.pixels is not None) for r, d in ann.stream(folder, paths)]
    assert _shape([r for r, _ in got]) == want
    assert [on_device for _, on_device in got] == [True, False, True]
    assert calls == [3, 1, 1, 1]  # the batch, then each file alone


def test_boxes_mostly_agree_with_pil(tiny_config, models) -> None:
    """Only the extractor's resize differs (torch's bicubic against PIL's). Multi-object
    discovery on the sample photos, whole and in 2x2 tiles: measured with these models (seed 0)
    11 of 11 PIL boxes found again identical; with seeds 0-2, 31 of 33 at IoU >= 0.9."""
    paths = list(find_images(SAMPLE_DATA).paths)
    total = matched = 0
    for tiles in ("1x1", "2x2"):
        cfg = tiny_config.replace(discovery="multi", min_score=0.0, tiles=tiles)
        pil = list(Annotator(cfg.replace(decoder="pil"), models).process(SAMPLE_DATA, paths))
        dev = list(Annotator(cfg.replace(decoder="device"), models).process(SAMPLE_DATA, paths))
        assert [(r.path, r.width, r.height) for r in dev] == [(r.path, r.width, r.height) for r in pil]
        for a, b in zip(pil, dev):
            for d in a.detections:
                total += 1
                matched += any(iou(d.box, e.box) >= 0.9 for e in b.detections)
    assert total >= 8
    assert matched >= 0.8 * total


def test_previews_written_and_a_run_resumes_across_decoders(tmp_path: Path, folder: Path, tiny_config) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("chelsea.jpg", "rot6.jpg", "image.png"):
        shutil.copy(folder / name, images / name)
    first = annotate(tiny_config.replace(decoder="device"), images, tmp_path / "run", EngineOptions(previews=True))
    assert first.processed == 3 and first.failed == 0
    with Image.open(tmp_path / "run" / "previews" / "rot6.jpg") as im:
        assert im.size == (300, 451)
    assert sorted(p.name for p in (tmp_path / "run" / "previews").iterdir()) == ["chelsea.jpg", "image.png", "rot6.jpg"]
    shutil.copy(folder / "gray.jpg", images / "gray.jpg")
    again = annotate(tiny_config.replace(decoder="pil"), images, tmp_path / "run")  # a runtime setting
    assert again.processed == 1
