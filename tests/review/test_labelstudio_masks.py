"""``autolabel import labelstudio`` with polygons: our own polygon predictions accepted as they are
change nothing; an edited or drawn polygon becomes the box's mask (rasterised by pixel centres),
the box its bounds."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from autolabel import masks
from autolabel.export import export
from autolabel.review.labelstudio import import_labelstudio, parse_export
from autolabel.store import RunStore
from tests.exporters.masked_sample import build_masked_run, filled, image_record


@pytest.fixture
def exported(tmp_path: Path) -> tuple[RunStore, list[dict]]:
    """A masked run and its tasks 'annotated' by accepting every prediction as it is."""
    run = build_masked_run(tmp_path)
    export(run, "labelstudio", tmp_path / "out", shapes="polygon")
    tasks = json.loads((tmp_path / "out/labelstudio/tasks.json").read_text(encoding="utf-8"))
    for n, t in enumerate(tasks, 1):
        t["id"] = n
        t["annotations"] = [{"id": n, "was_cancelled": False, "updated_at": "2024-05-01T10:00:00Z",
                             "result": copy.deepcopy(t["predictions"][0]["result"])}]
    return RunStore(run), tasks


def _write(tmp_path: Path, tasks: list[dict]) -> Path:
    p = tmp_path / "export.json"
    p.write_text(json.dumps(tasks), encoding="utf-8")
    return p


def _result(tasks: list[dict], path: str) -> list[dict]:
    return next(t for t in tasks if t["data"]["path"] == path)["annotations"][0]["result"]


def test_accepted_polygons_change_nothing(exported, tmp_path):
    store, tasks = exported
    before = {i.path: i for i in store.iter_images("original")}
    res = import_labelstudio(store, _write(tmp_path, tasks), dry_run=True)
    c = res.corrections
    assert (c.kept, c.moved, c.relabeled, c.rejected, c.added) == (6, 0, 0, 0, 0)
    assert res.tasks.regions == 6 and res.tasks.regions_matched == 6 and res.tasks.items_ignored == 0
    for img in res.images:  # same boxes, same exact masks; now marked as reviewed
        assert img.detections == tuple(d.with_(reviewed=True) for d in before[img.path].detections)


def test_parts_make_one_box(exported):
    store, tasks = exported
    images = list(store.iter_images("original"))
    review = parse_export(tasks, images)
    boxes = review.reviews["a.jpg"]
    assert [b.id for b in boxes] == ["a-0", "a-1", "a-2", "a-3"]  # a-1's two polygons are one box
    assert boxes[1].box == image_record("a.jpg").detections[1].box


def test_an_edited_polygon_becomes_the_mask(exported, tmp_path):
    store, tasks = exported
    ring = next(r for r in _result(tasks, "a.jpg") if r["id"] == "a-2")
    ring["value"]["points"] = [[x + 5.0, y] for x, y in ring["value"]["points"]]  # 5 % of 80 px = 4 px right
    res = import_labelstudio(store, _write(tmp_path, tasks))
    assert res.corrections.moved == 1 and res.corrections.kept == 5
    det = next(d for d in next(i for i in res.images if i.path == "a.jpg").detections if d.id == "a-2")
    old = filled(masks.decode(image_record("a.jpg").detections[2].mask))
    want = np.zeros_like(old)
    want[:, 4:] = old[:, :-4]
    got = masks.decode(det.mask)
    assert masks.mask_iou(got, want) >= 0.95
    assert det.box == masks.bbox(got) and det.source == "human"
    stored = next(i for i in store.iter_images(res.revision) if i.path == "a.jpg")
    assert next(d for d in stored.detections if d.id == "a-2").mask == det.mask


def test_a_drawn_polygon_is_a_new_masked_box_and_a_deleted_part_shrinks_the_mask(exported, tmp_path):
    store, tasks = exported
    result = _result(tasks, "sub dir/b.png")
    result.append({"id": "Xk3_q9PzAa", "type": "polygonlabels", "from_name": "polygon", "to_name": "image",
                   "original_width": 40, "original_height": 30, "image_rotation": 0,
                   "value": {"points": [[50.0, 10.0], [75.0, 10.0], [75.0, 50.0], [50.0, 50.0]], "closed": True,
                             "polygonlabels": ["zebra"]}})
    a = _result(tasks, "a.jpg")
    a.remove(next(r for r in a if r["id"] == "a-1_p2"))
    res = import_labelstudio(store, _write(tmp_path, tasks))
    b = next(i for i in res.images if i.path == "sub dir/b.png")
    new = b.detections[-1]
    assert new.label == "zebra" and new.source == "human" and new.box == (20.0, 3.0, 30.0, 15.0)
    assert masks.area(new.mask) == 10 * 12
    a1 = next(d for d in next(i for i in res.images if i.path == "a.jpg").detections if d.id == "a-1")
    m = masks.decode(image_record("a.jpg").detections[1].mask)
    assert masks.area(a1.mask) in (int(m[:42].sum()), int(m[42:].sum()))  # one of the two parts left
    assert res.corrections.added == 1 and res.corrections.moved == 1
