"""The local engine: a run written in this process, with bad files, resume and previews."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from autolabel.engines import EngineOptions
from autolabel.engines.local import annotate
from autolabel.errors import ConfigError, ResumeMismatchError
from autolabel.store import RunStore
from tests.conftest import write_image


def test_tiny_models_whole_pipeline_with_bad_files(tmp_path: Path, mixed_folder: Path, tiny_config) -> None:
    cfg = tiny_config.replace(max_pixels=500_000)
    summary = annotate(cfg, mixed_folder, tmp_path / "run")
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
    first = annotate(tiny_config, sample_copy, tmp_path / "run")
    assert (first.processed, first.failed) == (4, 1)
    created = RunStore(tmp_path / "run").read_manifest()["created"]
    shutil.move(hold / "rocket.jpg", sample_copy / "rocket.jpg")
    second = annotate(tiny_config, sample_copy, tmp_path / "run")
    assert (second.skipped, second.processed, second.failed) == (4, 1, 0)
    store = RunStore(tmp_path / "run")
    lines = [json.loads(x)["path"] for x in store.predictions_path.read_text().splitlines()]
    assert sorted(lines) == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"]
    assert store.read_manifest()["created"] == created  # set once
    # Speed settings may change; result settings may not.
    assert annotate(tiny_config.replace(batch_size=3, workers=1), sample_copy, tmp_path / "run").processed == 0
    with pytest.raises(ResumeMismatchError, match=r"max_boxes: 10 in the run, 2 now.*new -o"):
        annotate(tiny_config.replace(max_boxes=2), sample_copy, tmp_path / "run")
    write_image(hold / "other.png")
    with pytest.raises(ResumeMismatchError, match="holds images from"):
        annotate(tiny_config, hold, tmp_path / "run")


def test_previews_are_drawn(tmp_path: Path, sample_data: Path, tiny_config) -> None:
    from PIL import Image

    annotate(tiny_config, sample_data, tmp_path / "run", EngineOptions(previews=True))
    p = tmp_path / "run" / "previews" / "chelsea.jpg"  # the image's own relative path and name
    with Image.open(p) as im:
        assert im.size == (451, 300)


def test_workers_option_sets_decoding_threads_and_cluster_options_are_refused(tmp_path: Path, sample_data: Path,
                                                                             tiny_config) -> None:
    summary = annotate(tiny_config, sample_data, tmp_path / "run", EngineOptions(workers=0))
    assert (summary.processed, summary.failed) == (4, 0)
    assert RunStore(tmp_path / "run").read_manifest()["config"]["workers"] == 0
    for opts in (EngineOptions(address="auto"), EngineOptions(gpus_per_worker=1)):
        with pytest.raises(ConfigError, match="--engine ray"):
            annotate(tiny_config, sample_data, tmp_path / "run2", opts)
    assert not (tmp_path / "run2").exists()


def test_writer_thread_error_stops_the_run_and_resume_completes_it(tmp_path: Path, sample_data: Path, tiny_config) -> None:
    """Results are written on a background thread: an error there (here from the progress
    callback, after the record's append) ends the run with that error; what was written stays
    and a resume finishes the rest, in order, each image once."""
    calls = []

    def progress(n: int, boxes: int, failed: int) -> None:
        calls.append(n)
        if len(calls) == 2:
            raise OSError("disk gone")

    cfg = tiny_config.replace(image_batch=1)
    with pytest.raises(OSError, match="disk gone"):
        annotate(cfg, sample_data, tmp_path / "run", progress=progress)
    store = RunStore(tmp_path / "run")
    written = [i.path for i in store.iter_images()]
    assert written == ["astronaut.jpg", "chelsea.jpg"]
    summary = annotate(cfg, sample_data, tmp_path / "run")
    assert (summary.skipped, summary.processed) == (2, 2)
    assert [i.path for i in RunStore(tmp_path / "run").iter_images()] == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"]


def test_ordered_writer_writes_in_order_and_waits_on_exit() -> None:
    import threading
    import time

    from autolabel.engines.local import OrderedWriter

    seen: list[tuple[int, str]] = []

    def write(i: int) -> None:
        time.sleep(0.001 * (i % 3))
        seen.append((i, threading.current_thread().name))

    with OrderedWriter(write, depth=2) as w:
        for i in range(20):
            w.put(i)
    assert [i for i, _ in seen] == list(range(20))
    assert {name for _, name in seen} == {"autolabel-writer"}
