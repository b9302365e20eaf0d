"""The whole pipeline: tiny random models, real lite weights on sample_data, bad files, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from autolabel.errors import ResumeMismatchError
from autolabel.geometry import iou
from autolabel.pipeline import Annotator
from autolabel.store import RunStore
from tests.conftest import write_image


@pytest.fixture
def mixed_folder(sample_copy: Path) -> Path:
    """Sample photos in nested folders with the same basename, plus every kind of bad file."""
    (sample_copy / "sub").mkdir()
    shutil.copy(sample_copy / "coffee.jpg", sample_copy / "sub" / "chelsea.jpg")
    (sample_copy / "empty.jpg").write_bytes(b"")
    (sample_copy / "not_an_image.png").write_text("hello")
    data = (sample_copy / "rocket.jpg").read_bytes()
    (sample_copy / "truncated.jpg").write_bytes(data[: len(data) // 3])
    write_image(sample_copy / "tiny.png", (10, 10))
    write_image(sample_copy / "bomb.png", (900, 900))
    return sample_copy


def test_tiny_models_whole_pipeline_with_bad_files(tmp_path: Path, mixed_folder: Path, tiny_config) -> None:
    cfg = tiny_config.replace(max_pixels=500_000)
    summary = Annotator(cfg).annotate(mixed_folder, tmp_path / "run")
    store = RunStore(tmp_path / "run")
    good = ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg", "sub/chelsea.jpg"]
    assert [i.path for i in store.iter_images()] == good
    reasons = {f.path: f.reason for f in store.iter_failures()}
    assert set(reasons) == {"empty.jpg", "not_an_image.png", "truncated.jpg", "tiny.png", "bomb.png"}
    assert "empty" in reasons["empty.jpg"] and "not an image" in reasons["not_an_image.png"]
    assert "truncated" in reasons["truncated.jpg"] and "patch" in reasons["tiny.png"]
    assert "over the limit" in reasons["bomb.png"]
    assert (summary.total, summary.processed, summary.failed) == (10, 10, 5)
    sizes = {"astronaut.jpg": (512, 512), "chelsea.jpg": (451, 300), "sub/chelsea.jpg": (600, 400)}
    for img in store.iter_images():
        if img.path in sizes:
            assert (img.width, img.height) == sizes[img.path]
        assert 1 <= len(img.detections) <= cfg.max_boxes
        for d in img.detections:
            x1, y1, x2, y2 = d.box
            assert 0 <= x1 < x2 <= img.width and 0 <= y1 < y2 <= img.height
            assert d.label and d.label_id and len(d.topk) == cfg.topk
            assert d.topk[0].label == d.label and d.topk[0].score == d.class_score
            assert d.score == pytest.approx((d.objectness * d.class_score) ** 0.5)
            assert d.id.startswith(Path(img.path).stem + "-")
    m = store.read_manifest()
    assert m["models"]["extractor"] == {"name": "test_vit", "weights": "random"}
    assert m["image_root"] == str(mixed_folder.resolve()) and m["created"].endswith("Z")
    assert m["config"]["max_pixels"] == 500_000


def test_resume_skips_done_and_failed_and_refuses_other_settings(tmp_path: Path, sample_copy: Path, tiny_config) -> None:
    (sample_copy / "empty.jpg").write_bytes(b"")
    hold = tmp_path / "later"
    hold.mkdir()
    shutil.move(sample_copy / "rocket.jpg", hold / "rocket.jpg")
    a = Annotator(tiny_config)
    first = a.annotate(sample_copy, tmp_path / "run")
    assert (first.processed, first.failed) == (4, 1)
    created = RunStore(tmp_path / "run").read_manifest()["created"]
    shutil.move(hold / "rocket.jpg", sample_copy / "rocket.jpg")
    second = a.annotate(sample_copy, tmp_path / "run")
    assert (second.skipped, second.processed, second.failed) == (4, 1, 0)
    store = RunStore(tmp_path / "run")
    lines = [json.loads(x)["path"] for x in store.predictions_path.read_text().splitlines()]
    assert sorted(lines) == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"]
    assert store.read_manifest()["created"] == created  # set once
    # Speed settings may change; result settings may not.
    assert Annotator(tiny_config.replace(batch_size=3, workers=1)).annotate(sample_copy, tmp_path / "run").processed == 0
    with pytest.raises(ResumeMismatchError, match=r"max_boxes: 10 in the run, 2 now.*new -o"):
        Annotator(tiny_config.replace(max_boxes=2)).annotate(sample_copy, tmp_path / "run")
    write_image(hold / "other.png")
    with pytest.raises(ResumeMismatchError, match="holds images from"):
        Annotator(tiny_config).annotate(hold, tmp_path / "run")


def test_filters_limit_boxes(tmp_path: Path, sample_data: Path, tiny_config) -> None:
    cfg = tiny_config.replace(max_boxes=1, min_box_size=40.0)
    Annotator(cfg).annotate(sample_data, tmp_path / "run")
    for img in RunStore(tmp_path / "run").iter_images():
        assert len(img.detections) <= 1
        for d in img.detections:
            assert min(d.width, d.height) >= 40.0


def test_single_discovery_gives_one_box_per_image(tmp_path: Path, sample_data: Path, tiny_config) -> None:
    Annotator(tiny_config.replace(discovery="single")).annotate(sample_data, tmp_path / "run")
    assert [len(i.detections) for i in RunStore(tmp_path / "run").iter_images()] == [1, 1, 1, 1]


def test_previews_are_drawn(tmp_path: Path, sample_data: Path, tiny_config) -> None:
    from PIL import Image

    Annotator(tiny_config).annotate(sample_data, tmp_path / "run", previews=True)
    p = tmp_path / "run" / "previews" / "chelsea.jpg.jpg"
    with Image.open(p) as im:
        assert im.size == (451, 300)


@pytest.mark.slow
def test_lite_preset_finds_the_cat_and_the_cup(tmp_path: Path, sample_data: Path, lite_config) -> None:
    Annotator(lite_config).annotate(sample_data, tmp_path / "run")
    imgs = {i.path: i for i in RunStore(tmp_path / "run").iter_images()}
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

    def spy(self, pixels: int) -> bool:
        ok = take(self, pixels)
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
