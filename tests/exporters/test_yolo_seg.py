"""YOLO segmentation (``yolo-seg``): registered as an entry point, lines read back by fiftyone's
YOLOv5Dataset (``label_type="polylines"``); Ultralytics' own checks run in
``tests/integration/test_ultralytics_segment.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from autolabel import masks
from autolabel.export import export, registry
from autolabel.formats.polygons import join_parts, mask_to_polygons, polygons_to_mask
from autolabel.types import Detection, ImageAnnotations
from tests.export.plugins import with_plugins
from tests.exporters.masked_sample import CLASSES, SHAPES, filled, image_record
from tests.exporters.sample import read_names_table
from tests.runs import write_run

ENTRY_POINT = "exporters.yolo_seg:YoloSegExporter"


def test_setup_cfg_registers_yolo_seg():
    cfg = (Path(__file__).resolve().parents[2] / "setup.cfg").read_text(encoding="utf-8")
    assert f"yolo-seg = {ENTRY_POINT}" in cfg
    eps = registry.exporter_entry_points()
    if "yolo-seg" not in eps:
        pytest.skip("this install's metadata predates yolo-seg: run `pip install -e .` to refresh the entry points")
    assert eps["yolo-seg"].value == ENTRY_POINT
    assert registry.get_exporter("yolo-seg").name == "yolo-seg"


@pytest.fixture
def yolo_seg(monkeypatch):
    """Make sure ``yolo-seg`` is registered (an install made before it existed lacks the entry point)."""
    if "yolo-seg" not in registry.exporter_entry_points():
        with_plugins(monkeypatch, **{"yolo-seg": ENTRY_POINT})


def _lines(folder: Path) -> dict[str, list[list[float]]]:
    names = read_names_table(folder / "image_names.csv")
    out = {}
    for name, src in names.items():
        text = (folder / "labels/train" / f"{Path(name).stem}.txt").read_text(encoding="utf-8")
        out[src] = [[float(v) for v in line.split()] for line in text.splitlines()]
    return out


def test_one_polygon_line_per_object(masked_run: Path, tmp_path: Path, yolo_seg):
    export(masked_run, "yolo-seg", tmp_path, copy_images=True)
    y = tmp_path / "yolo-seg"
    data = yaml.safe_load((y / "data.yaml").read_text(encoding="utf-8"))
    assert data["names"] == dict(enumerate(CLASSES)) and data["train"] == "images/train"
    lines = _lines(y)
    for path, (w, h, dets) in SHAPES.items():
        assert len(lines[path]) == len(dets), path
        rec = image_record(path)
        for row, det in zip(lines[path], rec.detections):
            assert int(row[0]) == CLASSES.index(det.label)
            pts = np.asarray(row[1:]).reshape(-1, 2)
            assert len(pts) >= 3 and (pts >= 0).all() and (pts <= 1).all()
            got = polygons_to_mask([pts * [w, h]], h, w)
            if det.mask is None:  # a box without a mask: its four corners
                x1, y1, x2, y2 = det.box
                assert np.allclose(pts * [w, h], [(x1, y1), (x2, y1), (x2, y2), (x1, y2)], atol=1e-4)
            else:
                want = filled(masks.decode(det.mask))
                assert masks.mask_iou(got, want) >= 0.95, (path, det.id)


def test_parts_are_joined_like_ultralytics():
    m = masks.decode(image_record("a.jpg").detections[1].mask)  # two rectangles
    parts = mask_to_polygons(m)
    assert len(parts) == 2
    joined = join_parts(parts)
    assert [len(p) for p in parts] == [4, 4]  # rectangles: their corners
    # the second part walked round and closed, the first part's link vertex visited again on the way back
    assert len(joined) == sum(len(p) for p in parts) + 2
    assert (polygons_to_mask([joined], *m.shape) == m).all()


def test_fiftyone_reads_the_polygons(masked_run: Path, tmp_path: Path, fo, yolo_seg):
    export(masked_run, "yolo-seg", tmp_path, copy_images=True)
    y = tmp_path / "yolo-seg"
    names = read_names_table(y / "image_names.csv")
    ds = fo.Dataset.from_dir(dataset_type=fo.types.YOLOv5Dataset, dataset_dir=str(y), yaml_path=str(y / "data.yaml"),
                             split="train", include_all_data=True, label_type="polylines", label_field="gt")
    try:
        field = "gt" if ds.has_sample_field("gt") else "gt_polylines"
        seen = 0
        for sample in ds:
            path = names[Path(sample.filepath).name]
            w, h, dets = SHAPES[path]
            lines = sample[field].polylines if sample[field] is not None else []
            assert [p.label for p in lines] == [d[1] for d in dets], path
            for pl, det in zip(lines, image_record(path).detections):
                assert pl.filled and len(pl.points) == 1
                pts = np.asarray(pl.points[0]) * [w, h]
                got = polygons_to_mask([pts], h, w)
                want = filled(masks.decode(det.mask)) if det.mask is not None else None
                if want is not None:
                    assert masks.mask_iou(got, want) >= 0.95, (path, det.id)
                seen += 1
        assert seen == sum(len(d) for _, _, d in SHAPES.values())
    finally:
        ds.delete()


def _export_one_mask(m: np.ndarray, tmp_path: Path, **options) -> np.ndarray:
    """Export a one-object run whose mask is ``m`` as yolo-seg; the object's line as ``(N, 2)`` pixels."""
    h, w = m.shape
    det = Detection("m-0", masks.bbox(m), "thing", 0.9, 0.9, mask=masks.encode(m))
    run = write_run(tmp_path / "run", [ImageAnnotations("m.png", w, h, (det,))], classes=["thing"]).run_dir
    export(run, "yolo-seg", tmp_path / "out", **options)
    (line,) = (tmp_path / "out/yolo-seg/labels/train/m.txt").read_text(encoding="utf-8").splitlines()
    return np.asarray([float(v) for v in line.split()[1:]]).reshape(-1, 2) * [w, h]


def test_a_mask_of_1600_parts_is_one_line(tmp_path: Path, yolo_seg):
    """Parts were joined by a recursion one level per part: 1,000 parts raised RecursionError."""
    m = np.zeros((120, 120), bool)
    for r in range(0, 120, 3):
        for c in range(0, 120, 3):
            m[r:r + 2, c:c + 2] = True
    pts = _export_one_mask(m, tmp_path)
    assert len(mask_to_polygons(m)) == 1600
    assert (polygons_to_mask([pts], *m.shape) == m).all()  # the bridges add no pixel


def test_two_outlines_of_50000_points_each(tmp_path: Path, yolo_seg):
    """Two combs with 50,000-point outlines (tolerance 0 keeps them): linking them once built a
    50,000 x 50,000 distance table (40 GB)."""
    m = np.zeros((220, 501), bool)
    m[0:100, 0:500:2] = True  # 250 teeth
    m[100, :500] = True  # their spine
    m[119:219, 1:501:2] = True  # a second comb, apart from the first
    m[219, 1:501] = True
    pts = _export_one_mask(m, tmp_path, polygon_tolerance=0)
    assert len(pts) > 100_000
    assert (polygons_to_mask([pts], *m.shape) == m).all()
