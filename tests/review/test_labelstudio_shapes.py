"""Label Studio import of shapes it used to lose: brushes, polygons exported at any tolerance,
regions that cannot be read (kept, not deleted), labels with control characters, and polygons
too large to rasterise (refused, with short messages)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from autolabel import masks
from autolabel.export import export
from autolabel.formats.labelstudio import points_to_pixels
from autolabel.formats.polygons import mask_to_polygons
from autolabel.review import lsshapes
from autolabel.review.labelstudio import import_labelstudio, parse_export
from autolabel.review.lsshapes import MAX_POLYGON_VERTICES, polygons_unchanged
from autolabel.store import RunStore
from autolabel.yamlio import EXCERPT_CHARS
from tests.exporters.masked_sample import image_record
from tests.review.brush_rle import encode_brush
from tests.review.ls_tasks import accepted_export, task_result, write_tasks

LOG = "autolabel.review"


@pytest.fixture
def exported(tmp_path: Path) -> tuple[RunStore, list[dict]]:
    """A masked run and its tasks 'annotated' by accepting every prediction as it is."""
    return accepted_export(tmp_path)


def _det(res, path: str, det_id: str):
    return next(d for d in next(i for i in res.images if i.path == path).detections if d.id == det_id)


def _one_line_warnings(caplog) -> list[str]:
    msgs = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for m in msgs:
        assert "\n" not in m and "\x1b" not in m and len(m) < 400, m
    return msgs


# -- item 8: untouched polygons stay untouched, whatever the export's tolerance ------------------


@pytest.mark.parametrize("tolerance", [0, 0.4, 2.5, 6])
def test_accepted_polygons_change_nothing_whatever_the_export_tolerance(tmp_path, tolerance):
    store, tasks = accepted_export(tmp_path, polygon_tolerance=tolerance)
    before = {i.path: i for i in store.iter_images("original")}
    res = import_labelstudio(store, write_tasks(tmp_path, tasks), dry_run=True)  # the CLI's default tolerance
    c = res.corrections
    assert (c.kept, c.moved, c.relabeled, c.rejected, c.added) == (6, 0, 0, 0, 0)
    for img in res.images:  # the same boxes and exact masks
        assert img.detections == tuple(d.with_(reviewed=True) for d in before[img.path].detections)


def _blob(h: int = 90, w: int = 120) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    r = 30 + 8 * np.sin(3 * np.arctan2(yy - 45, xx - 60))
    m = np.hypot(yy - 45, xx - 60) < r
    m[5:15, 100:115] = True  # a second part
    m[60:62, 5:7] = True  # one too small to simplify
    return m


@pytest.mark.parametrize("tolerance", [0.0, 0.5, 1.0, 1.7, 3.0, 12.0])
def test_an_exports_polygons_are_recognised_at_any_tolerance(tolerance):
    mask = masks.encode(_blob())
    got = mask_to_polygons(mask, tolerance)
    assert len(got) == 3
    assert polygons_unchanged(got, mask, 1.0)


@pytest.mark.parametrize("tolerance", [0.0, 1.0, 3.0])
def test_an_edited_polygon_is_not_taken_for_an_export(tolerance):
    mask = masks.encode(_blob())
    polys = mask_to_polygons(mask, tolerance)
    big = polys[0]
    deleted = [np.delete(big, len(big) // 2, axis=0), *polys[1:]]
    moved = [big.copy(), *polys[1:]]
    moved[0][len(big) // 3] += (3.0, 2.0)
    added = [np.insert(big, 1, (big[0] + big[1]) / 2 + (0.0, 4.0), axis=0), *polys[1:]]
    for edited in (deleted, moved, added):
        assert not polygons_unchanged(edited, mask, 1.0)


def test_an_edited_polygon_of_a_tolerance_0_export_is_still_an_edit(tmp_path):
    store, tasks = accepted_export(tmp_path, polygon_tolerance=0)
    ring = next(r for r in task_result(tasks, "a.jpg") if r["id"] == "a-2")
    ring["value"]["points"] = ring["value"]["points"][::2]  # every other vertex deleted
    res = import_labelstudio(store, write_tasks(tmp_path, tasks), dry_run=True)
    assert (res.corrections.moved, res.corrections.kept) == (1, 5)
    assert _det(res, "a.jpg", "a-2").mask != image_record("a.jpg").detections[2].mask


# -- item 7: brushes are read; unreadable regions keep their detection -------------------------


def _brush_region(region_id: str, mask: np.ndarray, label: str) -> dict:
    h, w = mask.shape
    return {"id": region_id, "type": "brushlabels", "from_name": "brush", "to_name": "image",
            "original_width": w, "original_height": h, "image_rotation": 0,
            "value": {"format": "rle", "rle": encode_brush(mask), "brushlabels": [label]}}


def test_a_brush_with_a_detections_id_is_that_detections_mask(exported, tmp_path):
    store, tasks = exported
    result = task_result(tasks, "a.jpg")
    orig = image_record("a.jpg").detections
    same = masks.decode(orig[0].mask)
    painted = masks.decode(orig[2].mask).copy()
    painted[:, 50:] = False  # the reviewer erased the right half of the ring
    for rid in ("a-0", "a-2"):
        result.remove(next(r for r in result if r["id"] == rid))
    result.append(_brush_region("a-0", same, "person"))
    result.append(_brush_region("a-2", painted, "salt & pepper, shaker"))
    result.append(_brush_region("Zq81brush", np.pad(np.ones((5, 7), bool), ((50, 5), (2, 71))), "zebra"))
    res = import_labelstudio(store, write_tasks(tmp_path, tasks))
    c = res.corrections
    assert (c.kept, c.moved, c.rejected, c.added) == (5, 1, 0, 1)
    assert _det(res, "a.jpg", "a-0") == orig[0].with_(reviewed=True)
    ring = _det(res, "a.jpg", "a-2")
    assert np.array_equal(masks.decode(ring.mask), painted) and ring.box == masks.bbox(painted)
    drawn = next(i for i in res.images if i.path == "a.jpg").detections[-1]
    assert drawn.label == "zebra" and drawn.box == (2.0, 50.0, 9.0, 55.0) and masks.area(drawn.mask) == 35


@pytest.mark.parametrize("points", [
    "[[10, 10], [50, 10], [50, 50]]",
    {"0": [10, 10], "1": [50, 10], "2": [50, 50]},
    [[10, 10], [float("nan"), 10], [50, 50]],
    [[10, 10], [50, 10]],
    None,
])
def test_a_polygon_that_cannot_be_read_keeps_its_detection(exported, tmp_path, caplog, points):
    store, tasks = exported
    region = next(r for r in task_result(tasks, "a.jpg") if r["id"] == "a-0")
    region["value"]["points"] = points
    region["value"]["polygonlabels"] = ["zebra"]
    with caplog.at_level(logging.WARNING, LOG):
        res = import_labelstudio(store, write_tasks(tmp_path, tasks))
    c = res.corrections
    assert (c.kept, c.moved, c.relabeled, c.rejected) == (6, 0, 0, 0)
    assert res.tasks.regions_unreadable == 1
    assert _det(res, "a.jpg", "a-0") == image_record("a.jpg").detections[0]  # as it was, label too
    msgs = [m for m in _one_line_warnings(caplog) if "a-0" in m]
    assert len(msgs) == 1 and "task 1" in msgs[0] and "kept as it was" in msgs[0]


@pytest.mark.parametrize("broken", [{"width": "wide"}, {"height": None}, {"x": float("inf")}, {"height": ...}])
def test_a_rectangle_that_cannot_be_read_keeps_its_detection_and_a_deleted_one_is_rejected(exported, tmp_path, broken):
    store, tasks = exported
    result = task_result(tasks, "a.jpg")
    box = next(r for r in result if r["id"] == "a-3")
    box["value"].update(broken)
    box["value"] = {k: v for k, v in box["value"].items() if v is not ...}  # ...: the key is missing
    result.remove(next(r for r in result if r["id"] == "a-0"))  # really deleted
    result.append({"id": "kp1", "type": "keypointlabels", "from_name": "kp", "to_name": "image",
                   "value": {"x": 5.0, "y": 5.0, "width": 1.0, "keypointlabels": ["zebra"]}})  # not a shape of ours
    res = import_labelstudio(store, write_tasks(tmp_path, tasks))
    assert (res.corrections.kept, res.corrections.rejected, res.corrections.added) == (5, 1, 0)
    assert (res.tasks.regions_unreadable, res.tasks.items_ignored) == (1, 1)
    assert _det(res, "a.jpg", "a-3") == image_record("a.jpg").detections[3]


@pytest.mark.parametrize("value", [
    {"format": "rle", "rle": "abc"},
    {"format": "rle", "rle": [1, 2, 3]},
    {"format": "rle", "rle": [300, 2, 3]},
    {"format": "png", "rle": [0]},
])
def test_a_brush_that_cannot_be_read_keeps_its_detection(exported, tmp_path, caplog, value):
    store, tasks = exported
    result = task_result(tasks, "a.jpg")
    result.remove(next(r for r in result if r["id"] == "a-0"))
    result.append({"id": "a-0", "type": "brushlabels", "from_name": "brush", "to_name": "image",
                   "value": {**value, "brushlabels": ["person"]}})
    with caplog.at_level(logging.WARNING, LOG):
        res = import_labelstudio(store, write_tasks(tmp_path, tasks), dry_run=True)
    assert (res.corrections.kept, res.corrections.rejected) == (6, 0)
    assert any("a-0" in m and "kept as it was" in m for m in _one_line_warnings(caplog))


def test_a_brush_of_another_image_size_keeps_its_detection(exported, tmp_path):
    store, tasks = exported
    result = task_result(tasks, "a.jpg")
    result.remove(next(r for r in result if r["id"] == "a-0"))
    result.append(_brush_region("a-0", np.ones((10, 10), bool), "person"))
    res = import_labelstudio(store, write_tasks(tmp_path, tasks), dry_run=True)
    assert (res.corrections.kept, res.corrections.rejected, res.tasks.regions_unreadable) == (6, 0, 1)


# -- item 12: a label with a control character is never stored ---------------------------------


def test_a_label_with_a_control_character_is_refused_and_exports_still_work(exported, tmp_path, caplog):
    store, tasks = exported
    result = task_result(tasks, "a.jpg")
    box = next(r for r in result if r["id"] == "a-3")
    box["value"]["rectanglelabels"] = ["zeb\x1bra\n"]
    result.append({"id": "newbox01", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
                   "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["cat\x00"]}})
    with caplog.at_level(logging.WARNING, LOG):
        res = import_labelstudio(store, write_tasks(tmp_path, tasks))
    assert res.tasks.labels_refused == 2
    assert (res.corrections.relabeled, res.corrections.added, res.corrections.invalid) == (0, 0, 1)
    assert _det(res, "a.jpg", "a-3").label == "zebra"
    msgs = _one_line_warnings(caplog)
    assert any("task 1" in m and "a-3" in m and "control character" in m for m in msgs)
    labels = {d.label for i in store.iter_images(res.revision) for d in i.detections}
    assert not any(ch < " " for label in labels for ch in label)
    written = export(store, "coco,labelstudio", tmp_path / "again")  # the revision exports
    assert written["coco"] and written["labelstudio"]


# -- item 15: polygons too large to rasterise are refused quickly, with short messages ----------


def test_a_polygon_over_the_vertex_limit_is_not_read_and_its_message_is_short(exported, tmp_path, caplog):
    store, tasks = exported
    region = next(r for r in task_result(tasks, "a.jpg") if r["id"] == "a-0")
    t = np.linspace(0, 2 * np.pi, MAX_POLYGON_VERTICES + 1, endpoint=False)
    region["value"]["points"] = np.stack([50 + 20 * np.cos(t), 50 + 20 * np.sin(t)], 1).tolist()
    with caplog.at_level(logging.WARNING, LOG):
        res = import_labelstudio(store, write_tasks(tmp_path, tasks), dry_run=True)
    assert (res.corrections.kept, res.tasks.regions_unreadable) == (6, 1)
    (msg,) = [m for m in _one_line_warnings(caplog) if "a-0" in m]
    assert str(MAX_POLYGON_VERTICES) in msg


def test_a_bad_polygons_message_quotes_an_excerpt(exported, tmp_path, caplog):
    store, tasks = exported
    region = next(r for r in task_result(tasks, "a.jpg") if r["id"] == "a-0")
    region["value"]["points"] = [[float(i % 100), "x"] for i in range(5000)]
    with caplog.at_level(logging.WARNING, LOG):
        import_labelstudio(store, write_tasks(tmp_path, tasks), dry_run=True)
    (msg,) = [m for m in _one_line_warnings(caplog) if "a-0" in m]
    where = msg.index("region")
    assert len(msg) - where < 200 + EXCERPT_CHARS and "4999" not in msg


def test_rasterising_stops_at_the_annotations_budget(exported, tmp_path, monkeypatch, caplog):
    store, tasks = exported
    result = task_result(tasks, "a.jpg")
    rng = np.random.default_rng(0)
    zigzags = [rng.uniform(0, 100, (1000, 2)).round(3).tolist() for _ in range(30)]
    for k, pts in enumerate(zigzags):
        result.append({"id": f"zig{k:03d}", "type": "polygonlabels", "from_name": "polygon", "to_name": "image",
                       "value": {"points": pts, "polygonlabels": ["zebra"]}})
    square = [[10.0, 10.0], [20.0, 10.0], [20.0, 20.0], [10.0, 20.0]]
    result.append({"id": "square01", "type": "polygonlabels", "from_name": "polygon", "to_name": "image",
                   "value": {"points": square, "polygonlabels": ["zebra"]}})
    crossings = [lsshapes.row_crossings([np.asarray(points_to_pixels(p, 80, 60))], 60) for p in zigzags]
    budget = sum(crossings[:4]) + min(crossings) // 2
    monkeypatch.setattr(lsshapes, "MAX_ROW_CROSSINGS", budget)
    affordable, left = [], budget  # the rule: a polygon is rasterised while what is left pays for it
    for c in crossings:
        affordable.append(c <= left)
        left -= c if c <= left else 0
    assert 4 <= sum(affordable) < len(zigzags)  # the case is what it claims
    with caplog.at_level(logging.WARNING, LOG):
        res = import_labelstudio(store, write_tasks(tmp_path, tasks), dry_run=True)
    assert res.tasks.regions_unreadable == len(zigzags) - sum(affordable)
    assert res.corrections.added == sum(affordable) + 1  # the square costs 2 crossings per row, under what is left
    assert res.corrections.kept == 6
    _one_line_warnings(caplog)


def test_row_crossings_counts_what_the_rasteriser_visits():
    square = np.array([[1.0, 1.0], [5.0, 1.0], [5.0, 4.0], [1.0, 4.0]])  # rows 1, 2, 3 inside
    assert lsshapes.row_crossings([square], 10) == 6
    assert lsshapes.row_crossings([square + (0, 100)], 10) == 0  # below the image


def test_parse_export_reads_brushes_without_writing(exported):
    store, tasks = exported
    orig = image_record("a.jpg").detections[1]
    result = task_result(tasks, "a.jpg")
    for r in [r for r in result if r["id"].startswith("a-1")]:
        result.remove(r)
    result.append(_brush_region("a-1", masks.decode(orig.mask), "traffic light"))
    review = parse_export(tasks, list(store.iter_images("original")))
    (box,) = [b for b in review.reviews["a.jpg"] if b.id == "a-1"]
    assert box.box == orig.box and box.mask is None  # unchanged: the exact mask stays


def test_the_cli_notes_unreadable_regions_and_refused_labels(exported, tmp_path):
    from click.testing import CliRunner

    from autolabel.cli import main

    store, tasks = exported
    result = task_result(tasks, "a.jpg")
    next(r for r in result if r["id"] == "a-0")["value"]["points"] = "0,0 10,0 10,10"
    next(r for r in result if r["id"] == "a-3")["value"]["rectanglelabels"] = ["zebra\x07"]
    r = CliRunner().invoke(main, ["import", "labelstudio", str(store.run_dir), str(write_tasks(tmp_path, tasks))])
    assert r.exit_code == 0, r.output
    assert "note: 1 region(s) could not be read" in r.stderr and "kept as they were" in r.stderr
    assert "note: 1 label(s) holding a control character were refused" in r.stderr
    assert "kept 6" in r.stdout or "6 kept" in r.stdout
