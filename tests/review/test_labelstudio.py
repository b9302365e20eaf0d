"""Label Studio JSON export -> reviewed boxes -> a corrected run revision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.errors import InputError
from autolabel.formats.labelstudio import region_id
from autolabel.review.labelstudio import (
    ImageMatcher,
    import_labelstudio,
    latest_annotation,
    load_export,
    parse_export,
    regions_of,
)
from autolabel.store import RunStore
from autolabel.types import Alternative, Detection, ImageAnnotations
from tests.runs import write_run

# -- helpers --------------------------------------------------------------------------------


def det(id_, box, label, score=0.8, topk=()):
    return Detection(id=id_, box=box, label=label, score=score, objectness=0.9, label_id=f"id:{label}", topk=topk)


IMAGES = (
    ImageAnnotations(
        path="cam1/0001.jpg",
        width=640,
        height=480,
        detections=(
            det("0001-0", (64.0, 48.0, 320.0, 240.0), "person",
                topk=(Alternative("person", "id:person", 0.8), Alternative("salt & pepper, shaker", "n04131690", 0.1))),
            det("0001-1", (400.0, 100.0, 500.0, 300.0), "traffic light"),
            det("0001-2", (10.0, 10.0, 50.0, 60.0), "person"),
        ),
    ),
    ImageAnnotations(path="cam2/0001.jpg", width=300, height=200, detections=(det("0001-0", (30.0, 20.0, 150.0, 100.0), "tabby cat"),)),
    ImageAnnotations(path="dir with space/a+b.jpg", width=100, height=100, detections=(det("a+b-0", (0.0, 0.0, 100.0, 50.0), "person"),)),
)


def region(rid, box, label, w, h, rotation=0, from_name="label", **extra):
    """A rectanglelabels result item for a pixel ``box`` (what Label Studio stores)."""
    x1, y1, x2, y2 = box
    return {
        "id": rid,
        "type": "rectanglelabels",
        "from_name": from_name,
        "to_name": "image",
        "original_width": w,
        "original_height": h,
        "image_rotation": 0,
        "value": {
            "x": 100.0 * x1 / w,
            "y": 100.0 * y1 / h,
            "width": 100.0 * (x2 - x1) / w,
            "height": 100.0 * (y2 - y1) / h,
            "rotation": rotation,
            "rectanglelabels": [label],
        },
        **extra,
    }


def task(url, annotations=(), tid=1):
    return {"id": tid, "data": {"image": url}, "annotations": list(annotations), "predictions": [tid]}


def ann(result, aid=1, updated="2024-05-01T10:00:00.000000Z", cancelled=False):
    return {"id": aid, "result": result, "was_cancelled": cancelled, "created_at": updated, "updated_at": updated}


def make_store(tmp_path: Path, images=IMAGES) -> RunStore:
    return write_run(tmp_path / "run", images, classes=["person", "traffic light", "tabby cat"], label_space="test")


def reviewed_export():
    """cam1/0001.jpg: keep 0001-0 but relabel it, delete 0001-1, move 0001-2, draw a new box.
    cam2/0001.jpg: exported but not annotated. The third image is not in the export."""
    img = IMAGES[0]
    result = [
        region("0001-0", (64.0, 48.0, 320.0, 240.0), "salt & pepper, shaker", 640, 480),
        region("0001-2", (20.0, 15.0, 60.0, 70.0), "person", 640, 480),
        region("Xk3_q9PzAa", (100.0, 200.0, 164.0, 296.0), "tabby cat", 640, 480),
        {"id": "Xk3_q9PzAa", "type": "textarea", "from_name": "note", "to_name": "image", "value": {"text": ["hi"]}},
    ]
    assert img.detections[0].id == "0001-0"
    return [
        task("/data/local-files/?d=images/cam1/0001.jpg", [ann(result)], tid=1),
        task("/data/local-files/?d=images/cam2/0001.jpg", [], tid=2),
    ]


# -- URL -> image ---------------------------------------------------------------------------


def test_matcher_prefers_the_longest_path_suffix_and_never_swaps_same_named_files():
    m = ImageMatcher(["cam1/0001.jpg", "cam2/0001.jpg", "0001.jpg", "dir with space/a+b.jpg", "solo.png"])
    assert m.match("/data/local-files/?d=root/images/cam1/0001.jpg") == "cam1/0001.jpg"
    assert m.match("/data/local-files/?d=root/images/cam2/0001.jpg") == "cam2/0001.jpg"
    assert m.match("/data/local-files/?d=0001.jpg") == "0001.jpg"
    assert m.match("/data/local-files/?d=elsewhere/0001.jpg") == "0001.jpg"  # exact top-level file
    assert m.match("/data/local-files/?d=dir%20with%20space/a%2Bb.jpg") == "dir with space/a+b.jpg"
    # basename fallback only when exactly one run image has that name
    assert m.match("https://cdn.example.com/x/solo.png") == "solo.png"
    assert m.match("/data/upload/7/0a1b2c3d-solo.png") == "solo.png"
    assert m.match("/data/local-files/?d=other/cam9/0002.jpg") is None
    assert m.match("") is None


def test_matcher_refuses_an_ambiguous_basename():
    m = ImageMatcher(["cam1/0001.jpg", "cam2/0001.jpg"])
    assert m.match("/data/local-files/?d=cam3/0001.jpg") is None
    assert m.match("/data/upload/1/deadbeef-0001.jpg") is None


# -- regions --------------------------------------------------------------------------------


def test_regions_merge_items_sharing_an_id_and_skip_non_boxes():
    result = [
        {"id": "r1", "type": "rectangle", "from_name": "box", "to_name": "image", "value": {"x": 1, "y": 2, "width": 3, "height": 4}},
        {"id": "r1", "type": "labels", "from_name": "box", "to_name": "image", "value": {"x": 1, "y": 2, "width": 3, "height": 4, "labels": ["cat", "dog"]}},
        {"id": "r2", "type": "choices", "from_name": "ok", "to_name": "image", "value": {"choices": ["yes"]}},
        {"type": "rectanglelabels", "from_name": "box", "to_name": "image", "value": {"x": 5, "y": 5, "width": 1, "height": 1, "rectanglelabels": ["cat"]}},
        "garbage",
    ]
    regions, ignored = regions_of(result)
    assert [(r.key, r.label, r.labels) for r in regions] == [("r1", "cat", ("cat", "dog")), (None, "cat", ("cat",))]
    assert regions[0].value["width"] == 3
    assert ignored == 2
    only, ignored = regions_of(result, from_name="other")
    assert only == [] and ignored == len(result)


def test_regions_with_derived_ids_map_to_their_detections():
    img = ImageAnnotations(
        path="odd/img #3.jpg",
        width=200,
        height=100,
        detections=(det("img #3-0", (0.0, 0.0, 100.0, 50.0), "person"), det("img #3-1", (100.0, 50.0, 200.0, 100.0), "person")),
    )
    result = [
        region(region_id("img #3-1"), (100.0, 50.0, 200.0, 100.0), "tabby cat", 200, 100),
        region("img #3-0", (0.0, 0.0, 100.0, 50.0), "person", 200, 100),  # the raw id works too
    ]
    review = parse_export([task("/data/local-files/?d=odd/img%20%233.jpg", [ann(result)])], [img])
    assert [(b.id, b.label) for b in review.reviews["odd/img #3.jpg"]] == [("img #3-1", "tabby cat"), ("img #3-0", "person")]


def test_data_path_written_by_our_exporter_wins_over_the_url():
    t = task("https://cdn.example.com/renamed/whatever.jpg", [ann([])])
    t["data"]["path"] = "cam2/0001.jpg"
    assert list(parse_export([t], IMAGES).reviews) == ["cam2/0001.jpg"]
    # a data.path that is not in the run falls back to the URL
    t2 = task("/data/local-files/?d=cam1/0001.jpg", [ann([])])
    t2["data"]["path"] = "not/in/run.jpg"
    assert list(parse_export([t2], IMAGES).reviews) == ["cam1/0001.jpg"]


def test_latest_annotation_is_the_newest_not_cancelled_one():
    a1 = ann([], aid=1, updated="2024-05-01T10:00:00Z")
    a2 = ann([], aid=2, updated="2024-05-03T10:00:00.5Z")
    a3 = ann([], aid=3, updated="2024-06-01T10:00:00Z", cancelled=True)
    assert latest_annotation({"annotations": [a2, a1, a3]})["id"] == 2
    assert latest_annotation({"annotations": [a3]}) is None
    assert latest_annotation({"annotations": []}) is None
    # same time stamps: the higher id (made later) wins
    assert latest_annotation({"annotations": [ann([], aid=5), ann([], aid=9)]})["id"] == 9


# -- the export -----------------------------------------------------------------------------


def test_parse_export_maps_tasks_and_regions():
    review = parse_export(reviewed_export(), IMAGES)
    assert list(review.reviews) == ["cam1/0001.jpg"]
    boxes = review.reviews["cam1/0001.jpg"]
    assert [(b.id, b.label, b.key) for b in boxes] == [
        ("0001-0", "salt & pepper, shaker", "0001-0"),
        ("0001-2", "person", "0001-2"),
        (None, "tabby cat", "Xk3_q9PzAa"),
    ]
    assert boxes[1].box == pytest.approx((20.0, 15.0, 60.0, 70.0))
    assert all("ok" in b.tags for b in boxes)
    s = review.stats
    assert (s.tasks, s.tasks_annotated, s.tasks_unannotated, s.tasks_unmatched) == (2, 1, 1, 0)
    assert (s.regions, s.regions_matched, s.regions_new, s.items_ignored) == (3, 2, 1, 1)


def test_same_named_images_keep_their_own_boxes():
    """cam1/0001.jpg and cam2/0001.jpg both have a detection 0001-0: each task only sees its own."""
    tasks = [
        task("/data/local-files/?d=cam2/0001.jpg", [ann([region("0001-0", (30.0, 20.0, 150.0, 100.0), "tabby cat", 300, 200)])], tid=5),
        task("/data/local-files/?d=cam1/0001.jpg", [ann([])], tid=6),
    ]
    review = parse_export(tasks, IMAGES)
    assert [b.id for b in review.reviews["cam2/0001.jpg"]] == ["0001-0"]
    assert review.reviews["cam2/0001.jpg"][0].box == pytest.approx((30.0, 20.0, 150.0, 100.0))
    assert review.reviews["cam1/0001.jpg"] == []  # every box deleted


def test_duplicate_tasks_newest_annotation_wins():
    old = ann([region("0001-0", (30.0, 20.0, 150.0, 100.0), "person", 300, 200)], aid=1, updated="2024-01-01T00:00:00Z")
    new = ann([region("0001-0", (30.0, 20.0, 150.0, 100.0), "tabby cat", 300, 200)], aid=2, updated="2024-02-01T00:00:00Z")
    tasks = [task("/data/local-files/?d=cam2/0001.jpg", [new], tid=1), task("/data/local-files/?d=cam2/0001.jpg", [old], tid=2)]
    review = parse_export(tasks, IMAGES)
    assert review.reviews["cam2/0001.jpg"][0].label == "tabby cat"
    assert review.annotation_ids["cam2/0001.jpg"] == 2
    assert review.stats.tasks_duplicate == 1 and review.stats.tasks_annotated == 1


def test_cancelled_only_task_is_not_a_review():
    tasks = [task("/data/local-files/?d=cam2/0001.jpg", [ann([], cancelled=True)])]
    review = parse_export(tasks, IMAGES)
    assert review.reviews == {}
    assert review.stats.tasks_cancelled == 1


def test_unmatched_tasks_are_counted_and_all_unmatched_is_an_error():
    tasks = reviewed_export() + [task("/data/local-files/?d=nowhere/zzz.jpg", [ann([])], tid=9)]
    review = parse_export(tasks, IMAGES)
    assert review.stats.tasks_unmatched == 1
    assert review.unmatched == ["/data/local-files/?d=nowhere/zzz.jpg"]
    with pytest.raises(InputError, match="none of its 1 tasks shows an image of this run"):
        parse_export([task("/data/local-files/?d=nowhere/zzz.jpg")], IMAGES, source_name="x.json")
    with pytest.raises(InputError, match="x.json: the export holds no tasks"):
        parse_export([], IMAGES, source_name="x.json")


def test_json_min_export_is_refused_with_a_hint(tmp_path):
    rows = [{"image": "/data/local-files/?d=cam1/0001.jpg", "id": 1, "label": [{"x": 1, "y": 1, "width": 1, "height": 1, "rectanglelabels": ["person"]}]}]
    with pytest.raises(InputError, match="'JSON' format, not 'JSON-MIN'"):
        parse_export(rows, IMAGES, source_name="min.json")


def test_load_export_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_export(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.json is not JSON"):
        load_export(bad)
    obj = tmp_path / "obj.json"
    obj.write_text('{"a": 1}')
    with pytest.raises(InputError, match=r"obj\.json: expected a JSON list"):
        load_export(obj)
    one = tmp_path / "one.json"
    one.write_text(json.dumps(task("x.jpg")))
    assert load_export(one) == [task("x.jpg")]


# -- into the run ---------------------------------------------------------------------------


def test_import_writes_a_revision_with_the_corrections(tmp_path):
    store = make_store(tmp_path)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(reviewed_export()))
    original = (store.run_dir / "predictions.jsonl").read_bytes()

    res = import_labelstudio(store, export)

    assert res.revision == "001-labelstudio"
    assert store.revisions() == ["001-labelstudio"]
    assert (store.run_dir / "predictions.jsonl").read_bytes() == original
    got = {img.path: img for img in store.iter_images("latest")}
    cam1 = {d.id: d for d in got["cam1/0001.jpg"].detections}
    assert set(cam1) == {"0001-0", "0001-2", "0001-h1"}  # 0001-1 deleted in Label Studio
    assert cam1["0001-0"].label == "salt & pepper, shaker"
    assert cam1["0001-0"].label_id == "n04131690"  # from the box's own top-k
    assert cam1["0001-0"].box == (64.0, 48.0, 320.0, 240.0)
    assert cam1["0001-0"].source == "human" and cam1["0001-0"].reviewed
    assert cam1["0001-2"].box == pytest.approx((20.0, 15.0, 60.0, 70.0))
    assert cam1["0001-2"].label == "person" and cam1["0001-2"].score == 0.8
    assert cam1["0001-h1"].box == pytest.approx((100.0, 200.0, 164.0, 296.0))
    assert cam1["0001-h1"].label == "tabby cat" and cam1["0001-h1"].label_id == "id:tabby cat"
    # images without an annotation keep their predictions exactly
    assert got["cam2/0001.jpg"] == IMAGES[1]
    assert got["dir with space/a+b.jpg"] == IMAGES[2]

    summary = store.revision_summary("001-labelstudio")
    assert summary["source"] == "labelstudio"
    assert {k: summary[k] for k in ("kept", "relabeled", "moved", "rejected", "added", "reviewed")} == {
        "kept": 0,
        "relabeled": 1,
        "moved": 1,
        "rejected": 1,
        "added": 1,
        "reviewed": 3,
    }
    assert (summary["images_reviewed"], summary["images_unreviewed"]) == (1, 2)
    assert (summary["tasks_annotated"], summary["tasks_unannotated"]) == (1, 1)
    assert summary["export"] == "export.json" and summary["base_revision"] == "original"
    assert list(summary) == [
        "revision", "source", "kept", "relabeled", "moved", "rejected", "added", "reviewed", "invalid", "masks_dropped",
        "images_reviewed", "images_unreviewed", "boxes_before", "boxes_after",
        "tasks", "tasks_annotated", "tasks_unannotated", "tasks_cancelled", "tasks_unmatched", "tasks_duplicate",
        "regions", "regions_matched", "regions_new", "regions_rotated", "regions_unreadable", "labels_refused",
            "items_ignored", "export", "base_revision",
    ]


def test_a_second_import_builds_on_the_latest_revision(tmp_path):
    store = make_store(tmp_path)
    first = tmp_path / "first.json"
    first.write_text(json.dumps(reviewed_export()))
    import_labelstudio(store, first)
    # the reviewer opens the task again and deletes the box drawn last time (now 0001-h1)
    again = [task("/data/local-files/?d=images/cam1/0001.jpg", [ann([region("0001-0", (64.0, 48.0, 320.0, 240.0), "salt & pepper, shaker", 640, 480)], aid=7)])]
    second = tmp_path / "second.json"
    second.write_text(json.dumps(again))
    res = import_labelstudio(store, second)
    assert res.revision == "002-labelstudio" and res.base_revision == "001-labelstudio"
    ids = [d.id for d in next(i for i in store.iter_images() if i.path == "cam1/0001.jpg").detections]
    assert ids == ["0001-0"]
    assert store.revision_summary("002-labelstudio")["rejected"] == 2


def test_dry_run_writes_nothing(tmp_path):
    store = make_store(tmp_path)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(reviewed_export()))
    res = import_labelstudio(store, export, dry_run=True)
    assert res.revision is None and res.corrections.rejected == 1 and res.to_dict()["rejected"] == 1
    assert store.revisions() == []


def test_import_refuses_a_run_another_process_holds(tmp_path):
    store = make_store(tmp_path)
    export = _write(tmp_path / "export.json", reviewed_export())
    with store.lock():
        r = CliRunner().invoke(main, ["import", "labelstudio", str(store.run_dir), str(export)])
    assert r.exit_code == 1 and "in use by another process" in r.output
    assert store.revisions() == []


def test_cli_import_labelstudio(tmp_path):
    store = make_store(tmp_path)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(reviewed_export()))
    r = CliRunner().invoke(main, ["import", "labelstudio", str(store.run_dir), str(export)])
    assert r.exit_code == 0, r.output
    assert "wrote revision 001-labelstudio" in r.output
    assert "relabeled 1, moved 1, rejected 1, added 1" in r.output
    assert "1 without annotation" in r.output
    assert store.revisions() == ["001-labelstudio"]


def test_cli_errors_are_one_line(tmp_path):
    store = make_store(tmp_path)
    r = CliRunner().invoke(main, ["import", "labelstudio", str(store.run_dir), str(tmp_path / "missing.json")])
    assert r.exit_code == 1
    assert r.output.strip().startswith("error: Label Studio export") and "missing.json" in r.output
    r = CliRunner().invoke(main, ["import", "labelstudio", str(tmp_path / "norun"), str(tmp_path / "missing.json")])
    assert r.exit_code == 1 and "does not exist" in r.output
    bad_rev = tmp_path / "e.json"
    bad_rev.write_text("[]")
    r = CliRunner().invoke(main, ["import", "labelstudio", str(store.run_dir), str(bad_rev), "--base", "009-x"])
    assert r.exit_code == 1 and "no revision '009-x'" in r.output


def _hostile_exports():
    url = "/data/local-files/?d=images/cam1/0001.jpg"
    good = reviewed_export()[0]
    yield "annotations-not-a-list", json.dumps([{**good, "annotations": 5}]), "'annotations' must be a list"
    yield "result-not-a-list", json.dumps([task(url, [{**ann([]), "result": 7, "id": 10**400}])]), "'result' must be a list"
    yield "huge-annotation-id", json.dumps([task(url, [ann([], aid=10**400), ann([], aid=2)])]), None
    yield "deep-nesting", "[" * 100_000 + "]" * 100_000, "nested too deeply"


@pytest.mark.parametrize("case", list(_hostile_exports()), ids=lambda c: c[0])
def test_hostile_label_studio_exports_are_one_line_errors(tmp_path, case):
    """Exports edited by hand or by other tools: one line naming the file or task, never a
    traceback; an id too big for a float still ranks annotations (the newest wins)."""
    _, text, message = case
    store = make_store(tmp_path)
    export = tmp_path / "export.json"
    export.write_text(text)
    r = CliRunner().invoke(main, ["import", "labelstudio", str(store.run_dir), str(export)])
    if message is None:
        assert r.exit_code == 0, r.output
        return
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    assert r.output.startswith("error: ") and message in r.output
    assert store.revisions() == []


# -- against our own exporter ---------------------------------------------------------------


def test_exported_tasks_read_back_unchanged(tmp_path):
    """tasks.json from our exporter, 'annotated' by accepting every prediction as is, imports
    as the same boxes on the same images: nothing moved, relabeled, rejected or added."""
    from autolabel.export import export
    odd = ImageAnnotations(
        path="odd dir/img #3+1.jpg",
        width=333,
        height=101,
        detections=(det("img #3+1-0", (0.5, 0.25, 332.75, 100.5), "tabby cat"), det("img #3+1-1", (10.0, 10.0, 11.0, 11.0), "person")),
    )
    store = make_store(tmp_path, IMAGES + (odd,))
    written = export(store.run_dir, ["labelstudio"], tmp_path / "out")
    tasks_path = next(p for p in written["labelstudio"] if p.name == "tasks.json")
    tasks = json.loads(tasks_path.read_text(encoding="utf-8"))
    for n, t in enumerate(tasks):
        result = [{k: v for k, v in r.items() if k != "score"} for r in t["predictions"][0]["result"]]
        t["annotations"] = [ann(result, aid=n + 1)]
        t["id"] = n + 1
        t["data"].pop("path", None)  # match by the URL alone
    review = parse_export(tasks, IMAGES + (odd,))
    assert review.stats.tasks_unmatched == 0 and review.stats.regions_new == 0
    for img in IMAGES + (odd,):
        boxes = review.reviews[img.path]
        assert [b.id for b in boxes] == [d.id for d in img.detections]
        for b, d in zip(boxes, img.detections):
            assert b.label == d.label
            assert b.box == pytest.approx(d.box, abs=1e-6)
    res = import_labelstudio(store, _write(tmp_path / "accepted.json", tasks))
    s = res.corrections
    assert (s.kept, s.relabeled, s.moved, s.rejected, s.added) == (sum(len(i.detections) for i in IMAGES + (odd,)), 0, 0, 0, 0)
    for got, want in zip(res.images, sorted(IMAGES + (odd,), key=lambda i: i.path)):
        assert [d.box for d in got.detections] == [d.box for d in want.detections]
        assert all(d.reviewed for d in got.detections)


def _write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path
