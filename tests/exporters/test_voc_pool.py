"""VOC's segmentation PNGs are painted and compressed on a pool of worker threads: files match
their images whatever order the workers finish in, at most ``workers`` images are in flight, a
worker's error ends the export as an ExportError naming the PNG, and nothing is left behind."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autolabel import masks
from autolabel.errors import ExportError
from autolabel.export import run_export
from autolabel.formats.voc import voc_colormap
from autolabel.store import RunStore
from autolabel.types import Detection, ImageAnnotations
from exporters.voc import PngPool, _save_segmentation

CLASSES = ["cat", "dog", "kite"]


def _planted(rng: np.random.Generator, h: int, w: int) -> list[tuple[np.ndarray, str]]:
    """One to three rectangles with holes and ragged edges, overlapping at times."""
    out = []
    for _ in range(int(rng.integers(1, 4))):
        m = np.zeros((h, w), bool)
        y0, x0 = int(rng.integers(0, h - 4)), int(rng.integers(0, w - 4))
        m[y0:y0 + int(rng.integers(3, h)), x0:x0 + int(rng.integers(3, w))] = True
        m &= rng.random((h, w)) < 0.9
        out.append((m, CLASSES[int(rng.integers(len(CLASSES)))]))
    return out


def _run(tmp_path: Path, n: int = 7) -> tuple[Path, dict[str, list[tuple[np.ndarray, str]]]]:
    rng = np.random.default_rng(3)
    store = RunStore(tmp_path / "run")
    store.write_manifest({"autolabel_version": "0.1.0", "created": "2024-01-01T00:00:00Z", "image_root": str(tmp_path),
                          "config": {}, "models": {}, "classes": CLASSES, "label_space": "test"})
    planted = {}
    with store.prediction_writer() as wr:
        for i in range(n):
            h, w = int(rng.integers(8, 40)), int(rng.integers(8, 40))
            planted[f"img{i}.jpg"] = objs = _planted(rng, h, w)
            dets = tuple(Detection(id=f"d{i}-{k}", box=masks.bbox(m) or (0.0, 0.0, 1.0, 1.0), label=label, score=0.5,
                                   objectness=0.5, label_id=label, mask=masks.encode(m))
                         for k, (m, label) in enumerate(objs) if m.any())
            planted[f"img{i}.jpg"] = [(m, label) for m, label in objs if m.any()]
            wr.append(ImageAnnotations(f"img{i}.jpg", w, h, dets).to_dict())
    return store.run_dir, planted


def test_every_png_holds_its_own_image(tmp_path: Path):
    run, planted = _run(tmp_path)
    run_export(run, "voc", tmp_path / "out")
    voc = tmp_path / "out/voc"
    assert (voc / "ImageSets/Segmentation/default.txt").read_text().split() == [p[:-4] for p in sorted(planted)]
    for path, objs in planted.items():
        h, w = objs[0][0].shape
        objects, classes = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
        for k, (m, label) in sorted(enumerate(objs), key=lambda km: -int(km[1][0].sum())):
            objects[m], classes[m] = k + 1, CLASSES.index(label) + 1
        for folder, want in (("SegmentationObject", objects), ("SegmentationClass", classes)):
            img = Image.open(voc / folder / f"{path[:-4]}.png")
            assert img.mode == "P" and np.array_equal(np.asarray(img), want), (folder, path)
            assert img.getpalette() == [v for rgb in voc_colormap() for v in rgb]


def test_a_worker_error_names_the_png_and_leaves_nothing(tmp_path: Path, monkeypatch):
    import exporters.voc

    run, planted = _run(tmp_path)
    sizes = [objs[0][0].shape[::-1] for objs in planted.values()]
    img1 = planted["img1.jpg"][0][0].shape[::-1]
    assert sizes.count(img1) == 1  # img1's PNGs are the only ones of its size
    real, lock, calls = exporters.voc.voc_png_runs, threading.Lock(), []

    def fail_on_img1s_class_png(runs, width, height):
        # Two workers make PNGs in any order, so the failure is keyed on img1 (by its size),
        # not on a call count: its object PNG, then its class PNG, come from one worker in turn.
        if (width, height) == img1:
            with lock:
                calls.append(1)
                if len(calls) == 2:
                    raise OSError("disk full")
        return real(runs, width, height)

    monkeypatch.setattr(exporters.voc, "voc_png_runs", fail_on_img1s_class_png)
    out = tmp_path / "out"
    with pytest.raises(ExportError, match=r"SegmentationClass/img1\.png: cannot write the segmentation PNG: OSError: disk full"):
        run_export(run, ["voc", "coco"], out)
    assert list(out.iterdir()) == []


def test_a_failed_png_is_not_left_half_written(tmp_path: Path, monkeypatch):
    import exporters.voc

    image = ImageAnnotations("a.jpg", 4, 3, (Detection(id="a", box=(0.0, 0.0, 2.0, 2.0), label="cat", score=0.5,
                                                       objectness=0.5, label_id="cat",
                                                       mask=masks.encode(np.eye(3, 4, dtype=bool))),))
    (tmp_path / "cls.png").mkdir()  # cannot be opened as a file
    with pytest.raises(ExportError, match=r"cls\.png: cannot write the segmentation PNG"):
        _save_segmentation(image, [0], [0], tmp_path / "obj.png", tmp_path / "cls.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "obj.png")), np.eye(3, 4, dtype=np.uint8))

    class Disk:
        def __init__(self, path, mode):
            self.f = open(path, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[:10])
            raise OSError("no space left")

    monkeypatch.setattr(exporters.voc, "open", Disk, raising=False)
    with pytest.raises(ExportError, match=r"obj2\.png: cannot write the segmentation PNG: OSError: no space left"):
        _save_segmentation(image, [0], [0], tmp_path / "obj2.png", tmp_path / "cls2.png")
    assert not (tmp_path / "obj2.png").exists() and not (tmp_path / "cls2.png").exists()


def test_at_most_workers_jobs_are_in_flight():
    done = [threading.Event() for _ in range(8)]
    pool = PngPool(workers=2)
    for k in range(8):
        pool.submit(done[k].set)
        if k >= 2:
            assert done[k - 2].is_set()  # submit waited for the oldest job before queueing a third
    pool.finish()
    assert all(e.is_set() for e in done)


def test_the_first_error_in_submission_order_is_raised():
    second_failed = threading.Event()

    def first():
        second_failed.wait()
        raise ExportError("first")

    def second():
        second_failed.set()
        raise ExportError("second")

    pool = PngPool(workers=2)
    pool.submit(first)
    pool.submit(second)
    with pytest.raises(ExportError, match="^first$"):
        pool.finish()


def test_an_earlier_error_surfaces_at_the_next_submit():
    pool = PngPool(workers=1)

    def fail():
        raise ExportError("broken")

    pool.submit(fail)
    with pytest.raises(ExportError, match="broken"):
        pool.submit(lambda: None)
    pool.close()


def test_close_waits_for_running_jobs_and_raises_nothing():
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def job():
        started.set()
        release.wait()
        finished.set()
        raise ExportError("ignored on close")

    pool = PngPool(workers=2)
    pool.submit(job)
    started.wait()
    closer = threading.Thread(target=pool.close)
    closer.start()
    release.set()
    closer.join()
    assert finished.is_set()
    pool.close()  # twice is fine
