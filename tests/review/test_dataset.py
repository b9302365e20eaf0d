"""FiftyOne review: the dataset built from a run, a simulated reviewer, pulling corrections back.

Everything here runs against a real ``mongod`` started for this module (see
``tests/review/support.py``); the pure helpers are in ``test_fields.py`` and ``test_state.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autolabel.errors import RunError
from autolabel.review import dataset as review
from autolabel.store import RunStore
from autolabel.types import Detection
from tests.review.support import CLASSES, make_run, sample_records, use_private_fiftyone


# -- with a real database ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fo(tmp_path_factory):
    with use_private_fiftyone(tmp_path_factory.mktemp("fiftyone")):
        import fiftyone

        yield fiftyone


def _by_path(ds):
    return {s.autolabel_path: s for s in ds}


@pytest.mark.slow
def test_build_dataset(fo, tmp_path):
    store = RunStore(make_run(tmp_path / "build"))
    res = review.build_dataset(store)
    assert res == review.BuildResult(dataset="autolabel-build", added=4, existing=0, created=True)
    ds = fo.load_dataset("autolabel-build")
    assert ds.persistent and len(ds) == 4  # broken.jpg failed intake: no sample
    samples = _by_path(ds)
    assert sorted(samples) == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"]
    assert samples["coffee.jpg"].filepath == str((Path(__file__).parent.parent / "sample_data" / "coffee.jpg").resolve())
    assert samples["coffee.jpg"].metadata.width == 600 and samples["coffee.jpg"].metadata.height == 400

    total = 0
    for rec in sample_records():
        s = samples[rec["path"]]
        assert s.autolabel_revision == "original"
        dets = s.predictions.detections
        assert [d["autolabel_id"] for d in dets] == [d["id"] for d in rec["detections"]]
        for d, r in zip(dets, rec["detections"]):
            total += 1
            assert d.label == r["label"] and d.confidence == r["score"] and d["objectness"] == r["objectness"]
            assert d["label_id"] == r["label_id"] and d["topk"] == [a["label"] for a in r["topk"]]
            x1, y1, x2, y2 = r["box"]
            w, h = rec["width"], rec["height"]
            assert d.bounding_box == pytest.approx([x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h])
            assert d.tags == [] and d["source"] == "auto"
    assert total == 7 == ds.count("predictions.detections")

    assert ds.list_saved_views() == list(review.VIEWS)
    low = ds.load_saved_view("low-confidence")
    assert low.values("predictions.confidence") == sorted(low.values("predictions.confidence"))
    assert low.values("predictions.autolabel_id")[:2] == ["chelsea-2", "rocket-1"]
    assert ds.load_saved_view("low-objectness").values("predictions.autolabel_id")[0] == "rocket-1"

    rocket = ds.match({"autolabel_path": "rocket.jpg"}).first()
    rocket.predictions.detections[0].label = "dog"  # a chosen class no box had: its own label_id
    rocket.save()
    review.pull(store)
    det = next(d for i in store.iter_images() for d in i.detections if d.id == "rocket-0")
    assert (det.label, det.label_id) == ("dog", "dog")
    over = ds.load_saved_view("overlapping")
    assert over.values("autolabel_path") == ["chelsea.jpg"] and over.first().overlaps == 1
    outside = ds.load_saved_view("outside-classes")
    assert outside.values("predictions.detections.autolabel_id") == [["chelsea-2"]]
    assert ds.load_saved_view("no-boxes").values("autolabel_path") == ["astronaut.jpg"]

    assert ds.active_label_schemas == ["predictions"]
    schema = ds.label_schemas["predictions"]
    assert schema["classes"] == CLASSES + ["Egyptian cat"]  # the run's full class list
    ro = {a["name"]: a.get("read_only", False) for a in schema["attributes"]}
    assert ro["confidence"] and ro["objectness"] and ro["autolabel_id"] and not ro["tags"]
    assert json.loads((tmp_path / "build" / "review.json").read_text()) == {"dataset": "autolabel-build"}


def _simulate_reviewer(fo, ds):
    """Edit the dataset the way the App does: tag labels, patch label and box, add a detection."""
    ds.select_labels(ids=[d.id for s in ds for d in s.predictions.detections if d["autolabel_id"] in ("chelsea-2", "rocket-1")]).tag_labels("reject")
    ds.select_labels(ids=[d.id for s in ds for d in s.predictions.detections if d["autolabel_id"] == "rocket-0"]).tag_labels("ok")
    samples = _by_path(ds)
    chelsea = samples["chelsea.jpg"]
    for d in chelsea.predictions.detections:
        if d["autolabel_id"] == "chelsea-1":
            d.label = "tabby"  # a top-k alternative: its synset is known
    chelsea.save()
    coffee = samples["coffee.jpg"]
    for d in coffee.predictions.detections:
        if d["autolabel_id"] == "coffee-0":
            d.bounding_box = [100 / 600, 50 / 400, 300 / 600, 250 / 400]  # moved: (100, 50, 400, 300)
        if d["autolabel_id"] == "coffee-1":
            d.label = "space shuttle"  # not among its alternatives: synset from the run
    coffee.save()
    astro = samples["astronaut.jpg"]
    astro.predictions.detections.append(
        fo.Detection.from_dict({"_cls": "Detection", "label": "space shuttle", "bounding_box": [0.25, 0.25, 0.5, 0.5], "tags": []})
    )
    astro.save()


@pytest.mark.slow
def test_review_and_pull_corrections(fo, tmp_path):
    run = make_run(tmp_path / "pull")
    store = RunStore(run)
    original_bytes = store.predictions_path.read_bytes()
    review.build_dataset(store)
    ds = fo.load_dataset("autolabel-pull")
    _simulate_reviewer(fo, ds)

    res = review.pull(store)
    assert res.revision == "001-fiftyone"
    assert res.dataset == "autolabel-pull" and res.corrections.relabeled == 2
    s = res.to_dict()
    assert {k: s[k] for k in ("kept", "relabeled", "moved", "rejected", "added", "reviewed")} == {
        "kept": 2, "relabeled": 2, "moved": 1, "rejected": 2, "added": 1, "reviewed": 1
    }
    assert (s["boxes_before"], s["boxes_after"], s["images_reviewed"], s["dataset"]) == (7, 6, 4, "autolabel-pull")
    assert store.revision_summary("001-fiftyone")["relabeled"] == 2
    assert store.predictions_path.read_bytes() == original_bytes  # never overwritten

    images = {i.path: i for i in store.iter_images()}  # latest = the corrected revision
    dets = {d.id: d for i in images.values() for d in i.detections}
    assert len(dets) == 7 - 2 + 1
    assert "chelsea-2" not in dets and "rocket-1" not in dets
    assert (dets["chelsea-1"].label, dets["chelsea-1"].label_id, dets["chelsea-1"].source) == ("tabby", "n02123045", "human")
    assert (dets["coffee-1"].label, dets["coffee-1"].label_id) == ("space shuttle", "n04266014")
    assert dets["coffee-0"].box == pytest.approx((100, 50, 400, 300)) and dets["coffee-0"].score == 0.8
    assert dets["rocket-0"].reviewed is True and dets["rocket-0"].source == "auto"
    assert dets["chelsea-0"] == Detection.from_dict(sample_records()[1]["detections"][0])  # untouched, exactly
    added = [d for d in images["astronaut.jpg"].detections]
    assert [(d.id, d.label, d.source) for d in added] == [("astronaut-h1", "space shuttle", "human")]
    assert added[0].box == pytest.approx((128, 128, 384, 384))
    # the original stays available
    assert sum(len(i.detections) for i in store.iter_images("original")) == 7

    # the new box's id was written back, so a second pull keeps it and changes nothing else
    assert [d["autolabel_id"] for d in fo.load_dataset("autolabel-pull").match({"autolabel_path": "astronaut.jpg"}).first().predictions.detections] == ["astronaut-h1"]
    again = review.pull(store)  # nothing changed since: no new revision (issue 14, item 21)
    assert (again.revision, again.base) == (None, "001-fiftyone")
    assert again.corrections.boxes_after == 6
    assert store.revisions() == ["001-fiftyone"]


@pytest.mark.slow
def test_rerun_adds_new_images_only_and_keeps_tags(fo, tmp_path):
    records = sample_records()
    store = RunStore(make_run(tmp_path / "rerun", records[:3]))
    review.build_dataset(store)
    ds = fo.load_dataset("autolabel-rerun")
    ds.select_labels(ids=[ds.match({"autolabel_path": "chelsea.jpg"}).first().predictions.detections[0].id]).tag_labels("reject")
    coffee = ds.match({"autolabel_path": "coffee.jpg"}).first()
    coffee.predictions.detections[0].label = "tabby"
    coffee.save()

    with store.prediction_writer() as w:  # annotate added an image
        w.append(records[3])
    again = review.build_dataset(store)
    assert (again.added, again.existing, again.created) == (1, 3, False)
    assert review.build_dataset(store).added == 0
    ds = fo.load_dataset("autolabel-rerun")
    assert len(ds) == 4 and sorted(ds.values("autolabel_path")) == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"]
    assert ds.count_label_tags() == {"reject": 1}
    assert ds.match({"autolabel_path": "coffee.jpg"}).first().predictions.detections[0].label == "tabby"
    assert ds.load_saved_view("low-objectness").values("predictions.autolabel_id")[0] == "rocket-1"


@pytest.mark.slow
def test_new_images_start_from_the_latest_revision(fo, tmp_path):
    records = sample_records()
    store = RunStore(make_run(tmp_path / "base", records))
    corrected = [Detection.from_dict(d) for d in records[3]["detections"][:1]]
    from autolabel.types import ImageAnnotations

    imgs = list(store.iter_images())
    imgs[3] = ImageAnnotations(path="rocket.jpg", width=640, height=427, detections=tuple(corrected))
    store.write_revision("labelstudio", imgs, {"rejected": 1})
    review.build_dataset(store)
    ds = fo.load_dataset("autolabel-base")
    rocket = ds.match({"autolabel_path": "rocket.jpg"}).first()
    assert rocket.autolabel_revision == "001-labelstudio"
    assert [d["autolabel_id"] for d in rocket.predictions.detections] == ["rocket-0"]
    res = review.pull(store)  # nothing changed in FiftyOne: compared with the revision it came from
    assert res.corrections.rejected == 0 and res.corrections.kept == 6
    assert (res.revision, res.base) == (None, "001-labelstudio") and store.revisions() == ["001-labelstudio"]
    assert [d.id for d in next(i for i in store.iter_images() if i.path == "rocket.jpg").detections] == ["rocket-0"]


@pytest.mark.slow
def test_dataset_names_and_errors(fo, tmp_path):
    a = RunStore(make_run(tmp_path / "a" / "same"))
    b = RunStore(make_run(tmp_path / "b" / "same"))
    review.build_dataset(a)
    with pytest.raises(RunError, match="--dataset"):
        review.build_dataset(b)  # same run name, other run: no silent mixing
    assert review.build_dataset(b, "same-b").dataset == "same-b"
    assert review.pull(b).dataset == "same-b"  # remembered in review.json
    c = RunStore(make_run(tmp_path / "c"))
    with pytest.raises(RunError, match="autolabel review"):
        review.pull(c)


def test_label_space_ids():
    ids = review.label_space_ids("imagenet-1k")
    assert len(ids) == 1000 and ids["tabby"] == "n02123045" and ids["espresso"] == "n07920052"
    assert review.label_space_ids("unknown") == {} and review.label_space_ids(None) == {}
    assert review.label_space_ids("no-such-space") == {}
    # an empty run map still falls back to the label space (loaded only when needed)
    from autolabel.review.corrections import ReviewedBox, correct_image
    from autolabel.types import ImageAnnotations

    lazy = review._LabelIds({}, "imagenet-1k")
    img = ImageAnnotations("a.jpg", 10, 10)
    added = correct_image(img, [ReviewedBox(None, (1, 1, 5, 5), "espresso")], lazy).image.detections[0]
    assert added.label_id == "n07920052"


@pytest.mark.slow
def test_open_vocabulary_run_offers_its_label_space(fo, tmp_path):
    store = RunStore(make_run(tmp_path / "open", classes=None))
    m = store.read_manifest()
    m["label_space"] = "imagenet-1k"
    store.write_manifest(m)
    review.build_dataset(store)
    ds = fo.load_dataset("autolabel-open")
    classes = ds.label_schemas["predictions"]["classes"]
    occurring = ["Egyptian cat", "coffee mug", "space shuttle", "tabby", "tiger cat"]
    assert classes[:5] == occurring and "espresso" in classes and len(classes) == 1000
    assert len(ds.load_saved_view("outside-classes")) == 0  # no classes chosen: nothing is outside
    coffee = ds.match({"autolabel_path": "coffee.jpg"}).first()
    coffee.predictions.detections[1].label = "espresso"
    coffee.save()
    review.pull(store)
    det = next(d for i in store.iter_images() for d in i.detections if d.id == "coffee-1")
    assert (det.label, det.label_id) == ("espresso", "n07920052")


EXPECTED_CORRECTED = [
    ("astronaut.jpg", "space shuttle", (128.0, 128.0, 384.0, 384.0)),  # drawn in the App
    ("chelsea.jpg", "tabby", (120.0, 20.0, 400.0, 290.0)),
    ("chelsea.jpg", "tabby", (130.0, 30.0, 390.0, 280.0)),  # relabeled from tiger cat
    ("coffee.jpg", "coffee mug", (100.0, 50.0, 400.0, 300.0)),  # moved
    ("coffee.jpg", "space shuttle", (10.0, 300.0, 120.0, 400.0)),  # relabeled
    ("rocket.jpg", "space shuttle", (250.0, 10.0, 330.0, 400.0)),
]
"""(image, label, x1 y1 x2 y2 px) of the corrected revision made by ``_simulate_reviewer``."""


def _rounded(rows):
    return sorted((f, n, tuple(round(v, 2) for v in b)) for f, n, b in rows)


@pytest.mark.slow
def test_exports_use_the_corrections(fo, tmp_path):
    """Every format exports the corrected revision; each is read back by an independent reader."""
    import xml.etree.ElementTree as ET

    import yaml
    from pycocotools.coco import COCO

    from autolabel.export import export

    run = make_run(tmp_path / "exp")
    store = RunStore(run)
    review.build_dataset(store)
    _simulate_reviewer(fo, fo.load_dataset("autolabel-exp"))
    review.pull(store)
    out = tmp_path / "out"
    files = export(run, ["coco", "voc", "yolo", "cvat", "labelstudio"], out)
    sizes = {r["path"]: (r["width"], r["height"]) for r in sample_records()}

    # COCO through pycocotools
    (coco_json,) = [p for p in files["coco"] if p.suffix == ".json"]
    coco = COCO(str(coco_json))
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    fnames = {i["id"]: i["file_name"] for i in coco.loadImgs(coco.getImgIds())}
    got = [(fnames[a["image_id"]], names[a["category_id"]], (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]))
           for a in coco.loadAnns(coco.getAnnIds())]
    assert len(got) == 7 - 2 + 1
    assert _rounded(got) == _rounded(EXPECTED_CORRECTED)
    # Our detection ids survive the review and the export (COCO's own ids are renumbered).
    corrected_ids = sorted(d.id for img in store.iter_images() for d in img.detections)
    assert sorted(a["autolabel_id"] for a in coco.loadAnns(coco.getAnnIds())) == corrected_ids
    original_ids = {d.id for img in store.iter_images("original") for d in img.detections}
    assert len(set(corrected_ids) & original_ids) == 5  # 7 - 2 rejected kept their ids; 1 new

    # Pascal VOC through ElementTree (1-based pixel corners)
    voc = []
    for xml in sorted((out / "voc" / "Annotations").glob("*.xml")):
        root = ET.parse(xml).getroot()
        for obj in root.iter("object"):
            bb = obj.find("bndbox")
            voc.append((root.findtext("filename"), obj.findtext("name"), tuple(float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))))
    assert len(voc) == 6 and sorted((f, n) for f, n, _ in voc) == sorted((f, n) for f, n, _ in EXPECTED_CORRECTED)

    # YOLO: class index into data.yaml names, normalised centre boxes
    yolo_names = yaml.safe_load((out / "yolo" / "data.yaml").read_text())["names"]
    yolo = []
    for txt in sorted((out / "yolo" / "labels").rglob("*.txt")):
        w, h = sizes[txt.stem + ".jpg"]
        for line in txt.read_text().splitlines():
            c, cx, cy, bw, bh = line.split()[:5]
            cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
            yolo.append((txt.stem + ".jpg", yolo_names[int(c)], (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)))
    assert _rounded(yolo) == _rounded(EXPECTED_CORRECTED)

    # CVAT for images 1.1 through ElementTree
    cvat = [(img.get("name"), box.get("label"), tuple(float(box.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")))
            for img in ET.parse(out / "cvat" / "annotations.xml").getroot().iter("image") for box in img.iter("box")]
    assert _rounded(cvat) == _rounded(EXPECTED_CORRECTED)

    # Label Studio: our stable ids are the region ids, the drawn box's included
    tasks = json.loads((out / "labelstudio" / "tasks.json").read_text())
    regions = {r["id"]: r["value"]["rectanglelabels"][0] for t in tasks for p in t["predictions"] for r in p["result"]}
    assert regions == {"astronaut-h1": "space shuttle", "chelsea-0": "tabby", "chelsea-1": "tabby",
                       "coffee-0": "coffee mug", "coffee-1": "space shuttle", "rocket-0": "space shuttle"}

    # --original: the raw predictions are still exported on request
    raw = export(run, "coco", tmp_path / "raw", revision="original")
    (raw_json,) = [p for p in raw["coco"] if p.suffix == ".json"]
    assert len(COCO(str(raw_json)).getAnnIds()) == 7


@pytest.mark.slow
def test_empty_run_then_images_arrive(fo, tmp_path):
    store = RunStore(make_run(tmp_path / "empty", []))
    assert review.build_dataset(store).added == 0
    assert fo.load_dataset("autolabel-empty").active_label_schemas == ["predictions"]
    empty = review.pull(store)
    assert empty.corrections.boxes_after == 0 and empty.revision is None and store.revisions() == []
    with store.prediction_writer() as w:
        w.append(sample_records()[1])
    assert review.build_dataset(store).added == 1
    ds = fo.load_dataset("autolabel-empty")
    assert ds.active_label_schemas == ["predictions"] and len(ds.load_saved_view("low-confidence")) == 3
