"""One export traces each mask once per polygon tolerance, shares the polygons between the
formats that ask for them, streams images (progress once per image) and writes what the formats
wrote when each traced on its own; big photos' masks are traced on their runs (a 6000 x 4000
image, COCO read back by pycocotools)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from autolabel import masks
from autolabel.cli import main
from autolabel.export import run_export
from autolabel.formats import polygons
from autolabel.store import RunStore
from autolabel.types import Detection, ImageAnnotations
from tests.exporters.masked_sample import filled, masked_detections

POLYGON_FORMATS = ["coco", "cvat", "labelstudio", "yolo-seg"]


def _count_traces(monkeypatch) -> list[float]:
    calls: list[float] = []
    real = polygons._trace
    monkeypatch.setattr(polygons, "_trace", lambda *a: calls.append(a[-1]) or real(*a))
    return calls


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_each_mask_is_traced_once_per_tolerance(masked_run: Path, tmp_path: Path, monkeypatch):
    calls = _count_traces(monkeypatch)
    n = len(masked_detections())
    run_export(masked_run, POLYGON_FORMATS, tmp_path / "one")
    assert calls == [1.0] * n
    calls.clear()
    run_export(masked_run, POLYGON_FORMATS, tmp_path / "two", format_options={"cvat.polygon_tolerance": "2.5"})
    assert sorted(calls) == [1.0] * n + [2.5] * n


def test_shared_polygons_write_what_each_format_writes_alone(masked_run: Path, tmp_path: Path):
    run_export(masked_run, POLYGON_FORMATS + ["voc"], tmp_path / "together")
    for f in POLYGON_FORMATS + ["voc"]:
        run_export(masked_run, f, tmp_path / f)
        assert _files(tmp_path / "together" / f) == _files(tmp_path / f / f), f


def test_progress_is_called_once_per_image(masked_run: Path, tmp_path: Path):
    seen: list[int] = []
    report = run_export(masked_run, ["coco", "yolo"], tmp_path, progress=seen.append)
    assert seen == [1] * report.images and report.images == 3


def test_cli_quiet_and_no_bar_without_a_terminal(masked_run: Path, tmp_path: Path):
    for extra in ([], ["--quiet"]):
        res = CliRunner().invoke(main, ["export", str(masked_run), "-f", "coco", "-o", str(tmp_path / "o"), *extra])
        assert res.exit_code == 0, res.output
        assert "img/s" not in res.output and "export:" not in res.output


def test_big_photo_masks_with_holes_and_at_the_border(tmp_path: Path):
    """6000 x 4000: a ring, an object at the right and bottom borders, one in two parts."""
    h, w = 4000, 6000
    yy, xx = np.ogrid[:h, :w]
    ring = ((xx - 1500) ** 2 + (yy - 1200) ** 2 < 900 ** 2) & ~((xx - 1500) ** 2 + (yy - 1200) ** 2 < 300 ** 2)
    corner = ((xx - 6000) ** 2 + (yy - 4000) ** 2 < 1400 ** 2)
    parts = ((xx - 3500) ** 2 + (yy - 600) ** 2 < 200 ** 2) | ((xx - 4300) ** 2 + (yy - 2500) ** 2 < 350 ** 2)
    planted = {"ring": ring, "corner": corner, "parts": parts}
    store = RunStore(tmp_path / "run")
    store.write_manifest({"autolabel_version": "0.1.0", "created": "2024-01-01T00:00:00Z", "image_root": str(tmp_path),
                          "config": {}, "models": {}, "classes": ["thing"], "label_space": "test"})
    dets = tuple(Detection(id=f"big-{k}", box=masks.bbox(m), label="thing", score=0.9, objectness=0.5, label_id="thing",
                           mask=masks.encode(m)) for k, m in enumerate(planted.values()))
    with store.prediction_writer() as wr:
        wr.append(ImageAnnotations("big.jpg", w, h, dets).to_dict())
    run_export(store.run_dir, ["coco", "voc"], tmp_path / "out")
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(tmp_path / "out/coco/annotations/instances_default.json"))
    anns = {a["autolabel_id"]: a for a in gt.anns.values()}
    for k, (name, m) in enumerate(planted.items()):
        a = anns[f"big-{k}"]
        got = gt.annToMask(a).astype(bool)
        assert masks.mask_iou(got, filled(m)) >= 0.99, name
        assert a["area"] == int(m.sum())
    assert len(anns["big-2"]["segmentation"]) == 2
    from PIL import Image

    objects = np.asarray(Image.open(tmp_path / "out/voc/SegmentationObject/big.png"))
    want = np.zeros((h, w), np.uint8)
    for k, m in sorted(enumerate(planted.values()), key=lambda km: -int(km[1].sum())):
        want[m] = k + 1
    assert np.array_equal(objects, want)


def test_a_png_that_cannot_be_written_fails_the_export(masked_run: Path, tmp_path: Path, monkeypatch):
    """VOC PNGs are written by worker threads: their error still ends the export, cleanly."""
    import exporters.voc

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(exporters.voc, "_save_segmentation", fail)
    with pytest.raises(OSError, match="disk full"):
        run_export(masked_run, ["voc", "coco"], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("last", [False, True])
def test_an_image_with_too_many_masks_fails_voc_alone(tmp_path: Path, last: bool):
    """The segmentation PNGs are made on worker threads, but the limits are checked as each image
    is written: the image they cannot carry gives up VOC alone, named, and the other formats
    are written (also when it is the last image)."""
    store = RunStore(tmp_path / "run")
    store.write_manifest({"autolabel_version": "0.1.0", "created": "2024-01-01T00:00:00Z", "image_root": str(tmp_path),
                          "config": {}, "models": {}, "classes": ["thing"], "label_space": "test"})
    dets = []
    for k in range(255):
        m = np.zeros((20, 30), bool)
        m[k // 15, (k % 15) * 2] = True
        dets.append(Detection(id=f"many-{k}", box=masks.bbox(m), label="thing", score=0.5, objectness=0.5,
                              label_id="thing", mask=masks.encode(m)))
    with store.prediction_writer() as wr:
        wr.append(ImageAnnotations("a.jpg", 30, 20, ()).to_dict())
        wr.append(ImageAnnotations("many.jpg", 30, 20, tuple(dets)).to_dict())
        if not last:
            wr.append(ImageAnnotations("z.jpg", 30, 20, tuple(dets[:2])).to_dict())
    report = run_export(store.run_dir, ["voc", "coco"], tmp_path / "out")
    assert list(report.failed) == ["voc"] and "many.jpg" in report.failed["voc"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["coco"]
