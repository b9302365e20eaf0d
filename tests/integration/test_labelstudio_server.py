"""A real Label Studio server shows our boxes where they belong, and corrections come back.

One Label Studio per session (``label_studio`` fixture); this module creates a project with
our ``labeling_config.xml``, registers the run's image folder as local-files storage, imports
our ``tasks.json``, and reads everything back through the REST API. Then a reviewer's
annotation is posted (a region deleted, one relabeled, one moved, one drawn), the project is
exported as Label Studio JSON, and ``autolabel import labelstudio`` turns it into a revision.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from autolabel.store import RunStore
from tests.integration.conftest import REPO, LabelStudio, clean_env, image_scale, label_colours, ls_project, ls_venv, open_labeling_page, submit_annotation
from tests.integration.runs import CLASSES, HandMadeRun, make_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PX_TOL = 0.01
"""Largest allowed difference between a box in the run and what Label Studio holds (pixels)."""


IMAGE_DIR = "photos"
"""The run's image root, a sub-folder of Label Studio's document root: Label Studio refuses a
local storage whose path *is* the document root ("cannot be the same as
LOCAL_FILES_DOCUMENT_ROOT ... Please add a subdirectory"), and serves local files only from
inside a registered storage. So: document root = the image root's parent, storage = the image
root, URLs ``/data/local-files/?d=<image root's name>/<path>``."""
URL_PREFIX = f"/data/local-files/?d={IMAGE_DIR}/"


def expected_url(relpath: str) -> str:
    """The local-files URL FORMATS.md prescribes: ``/data/local-files/?d=`` + ``quote(path under the document root)``."""
    return URL_PREFIX + quote(relpath, safe="/")


def region_px(region: dict[str, Any], width: int, height: int) -> tuple[float, float, float, float]:
    v = region["value"]
    x1, y1 = v["x"] * width / 100.0, v["y"] * height / 100.0
    return (x1, y1, x1 + v["width"] * width / 100.0, y1 + v["height"] * height / 100.0)


def close(a, b, tol=PX_TOL) -> bool:
    return all(abs(p - q) < tol for p, q in zip(a, b))


def all_tasks(ls: LabelStudio, project: int) -> list[dict[str, Any]]:
    """Every task of the project with its predictions and annotations (one GET per task)."""
    ids: list[int] = []
    page = 1
    while True:
        status, payload = ls.api("GET", f"/api/tasks?project={project}&page={page}&page_size=100")
        if status == 404 or not payload.get("tasks"):
            break
        ids += [t["id"] for t in payload["tasks"]]
        if len(ids) >= payload.get("total", 0):
            break
        page += 1
    return [ls.ok("GET", f"/api/tasks/{i}") for i in sorted(ids)]


@pytest.fixture(scope="module")
def ls_export(label_studio: LabelStudio, tmp_path_factory: pytest.TempPathFactory) -> tuple[HandMadeRun, Path]:
    """A hand-made run whose images live in Label Studio's document root, exported for Label Studio."""
    from autolabel.export import export

    base = tmp_path_factory.mktemp("ls-run")
    run = make_run(base / "run", label_studio.document_root / IMAGE_DIR)
    written = export(run.run_dir, ["labelstudio"], base / "export", image_url_prefix=URL_PREFIX)
    files = {p.name: p for p in written["labelstudio"]}
    assert {"tasks.json", "labeling_config.xml"} <= set(files), written
    return run, files["tasks.json"].parent


@pytest.fixture(scope="module")
def project(label_studio: LabelStudio, ls_export: tuple[HandMadeRun, Path]) -> dict[str, Any]:
    """A project made from our config, with the image folder as storage and our tasks imported."""
    run, out = ls_export
    return ls_project(label_studio, "autolabel round trip", out, run.image_root)



def run_autolabel(*args: str) -> subprocess.CompletedProcess:
    """``python -m autolabel ARGS`` from this checkout, as a user runs it (output captured)."""
    return subprocess.run([sys.executable, "-m", "autolabel", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=clean_env(PYTHONPATH=str(REPO)))

def test_label_studio_parses_our_labeling_config(project):
    parsed = project["project"]["parsed_label_config"]
    assert list(parsed) == ["label"], parsed
    control = parsed["label"]
    assert control["type"] == "RectangleLabels"
    assert control["to_name"] == ["image"]
    assert [i["value"] for i in control["inputs"]] == ["image"]
    # every class, in the run's order, names character for character ('&' and ',' included)
    assert control["labels"] == list(CLASSES)


def test_one_task_per_image_with_our_prediction(label_studio, ls_export, project):
    run, _ = ls_export
    assert project["import"]["task_count"] == len(run.images)
    assert project["import"]["prediction_count"] == len(run.images)
    tasks = all_tasks(label_studio, project["project"]["id"])
    by_url = {t["data"]["image"]: t for t in tasks}
    assert sorted(by_url) == sorted(expected_url(img.path) for img in run.images)
    labels = set(project["project"]["parsed_label_config"]["label"]["labels"])
    for img in run.images:
        task = by_url[expected_url(img.path)]
        assert len(task["predictions"]) == 1, task["predictions"]
        pred = task["predictions"][0]
        assert pred["model_version"] == run.model_version
        regions = pred["result"]
        assert len(regions) == len(img.detections), (img.path, regions)
        assert len({r["id"] for r in regions}) == len(regions)
        unmatched = list(regions)
        for d in img.detections:
            hits = [
                r
                for r in unmatched
                if r["value"]["rectanglelabels"] == [d.label]
                and abs(r["score"] - d.score) < 1e-9
                and close(region_px(r, img.width, img.height), d.box)
            ]
            assert len(hits) == 1, f"{img.path}: detection {d.id} {d.label} {d.box} not found once in {regions}"
            unmatched.remove(hits[0])
        for r in regions:
            assert r["type"] == "rectanglelabels" and r["from_name"] == "label" and r["to_name"] == "image"
            assert set(r["value"]["rectanglelabels"]) <= labels, f"label outside the config: {r}"
            assert (r["original_width"], r["original_height"]) == (img.width, img.height)
            assert r["value"]["rotation"] == 0


def test_every_image_url_serves_the_image(label_studio, ls_export, project):
    run, _ = ls_export
    for img in run.images:
        status, body = label_studio.api("GET", expected_url(img.path), raw=True)
        assert status == 200, f"{img.path}: HTTP {status}"
        assert body == (run.image_root / img.path).read_bytes(), f"{img.path}: served bytes differ from the file"


def test_predictions_validate_with_label_studio_sdk(ls_export):
    """label-studio-sdk's own validator accepts every prediction against our config."""
    _, out = ls_export
    script = (
        "import json, sys\n"
        "from label_studio_sdk.label_interface import LabelInterface\n"
        "li = LabelInterface(open(sys.argv[1], encoding='utf-8').read())\n"
        "bad = []\n"
        "for t in json.load(open(sys.argv[2], encoding='utf-8')):\n"
        "    for p in t['predictions']:\n"
        "        errs = li.validate_prediction(p, return_errors=True)\n"
        "        if errs is not True and errs:\n"
        "            bad.append([t['data']['image'], errs])\n"
        "print(json.dumps(bad))\n"
    )
    py = ls_venv() / "bin" / "python"
    r = subprocess.run(
        [str(py), "-c", script, str(out / "labeling_config.xml"), str(out / "tasks.json")],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


def test_label_studio_refuses_a_storage_at_its_document_root(label_studio, project):
    """Why the image root must be *below* the document root (see :data:`IMAGE_DIR`)."""
    status, payload = label_studio.api(
        "POST", "/api/storages/localfiles", {"project": project["project"]["id"], "title": "root", "path": str(label_studio.document_root)}
    )
    assert status == 400 and "cannot be the same as LOCAL_FILES_DOCUMENT_ROOT" in str(payload), (status, payload)


def test_export_cli_prints_a_label_studio_setup_that_works(tmp_path):
    """The setup `autolabel export` prints, checked against Label Studio's rules: the storage
    is a sub-folder of the document root, and every task URL's ``d=`` path, resolved against
    the document root, is the image, inside the storage."""
    import re
    from urllib.parse import parse_qs, urlsplit

    run = make_run(tmp_path / "run", tmp_path / "data" / "photos")
    r = run_autolabel("export", str(run.run_dir), "-f", "labelstudio", "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stdout + r.stderr
    root = re.search(r"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=(\S+)", r.stdout)
    storage = re.search(r"Local Storage with path (\S+)", r.stdout)
    assert root and storage, r.stdout
    root_dir, storage_dir = Path(root.group(1)).resolve(), Path(storage.group(1).rstrip(".,;")).resolve()
    assert storage_dir != root_dir and root_dir in storage_dir.parents, f"storage {storage_dir} vs document root {root_dir}"
    tasks = json.loads((tmp_path / "out" / "labelstudio" / "tasks.json").read_text(encoding="utf-8"))
    for t in tasks:
        d = parse_qs(urlsplit(t["data"]["image"]).query)["d"][0]
        file = (root_dir / d).resolve()
        assert storage_dir in file.parents and file == (run.image_root / t["data"]["path"]).resolve(), (t["data"], file)


def edge_hits(img, rect: tuple[float, float, float, float], colour: tuple[int, int, int], visible, samples: int = 24) -> tuple[int, int]:
    """Count points along the edges of screen rectangle ``rect`` where a stroke of ``colour`` is drawn.

    Label Studio draws a thin anti-aliased stroke over the photo, so a stroke pixel is a blend
    ``p = a * colour + (1 - a) * background``. A point is a hit if, within 3 px across the
    edge, some pixel departs from its surroundings (5 px either side) towards ``colour`` by
    at least a quarter of the way, and in that direction. Only points inside ``visible`` (the
    stage, which clips the image) count. Returns ``(hits, points)``.
    """
    import numpy as np

    px = np.asarray(img.convert("RGB")).astype(float)
    c = np.array(colour, dtype=float)
    x1, y1, x2, y2 = rect
    vx1, vy1, vx2, vy2 = visible

    def hit(xi: int, yi: int, horizontal: bool) -> bool:
        for o in range(-3, 4):
            if horizontal:
                p, before, after = px[yi + o, xi], px[yi + o - 5, xi], px[yi + o + 5, xi]
            else:
                p, before, after = px[yi, xi + o], px[yi, xi + o - 5], px[yi, xi + o + 5]
            bg = (before + after) / 2
            d = c - bg
            if float(d @ d) < 900:  # the label colour is too close to the photo here to tell
                continue
            v = p - bg
            a = float(v @ d) / float(d @ d)
            if a > 0.25 and np.linalg.norm(v - a * d) < 0.5 * np.linalg.norm(v):
                return True
        return False

    hits = points = 0
    for t in np.linspace(0.1, 0.9, samples):
        xt, yt = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
        for x, y, horizontal in ((xt, y1, True), (xt, y2, True), (x1, yt, False), (x2, yt, False)):
            if vx1 + 9 <= x <= vx2 - 9 and vy1 + 9 <= y <= vy2 - 9:
                points += 1
                hits += hit(int(round(x)), int(round(y)), horizontal)
    return hits, points


def test_labeling_ui_draws_our_boxes_and_submit_keeps_their_ids(label_studio, ls_export, project, chromium, tmp_path):
    """The real labeling page, logged in, in headless Chromium: each predicted box is drawn in
    its label's colour exactly where the run has it, the regions list shows labels and scores,
    and pressing Submit stores an annotation whose region ids are our detection ids."""

    from PIL import Image

    from tests.integration.cdp import Browser

    run, out = ls_export
    pid = project["project"]["id"]
    img = run.by_path()["cam1/chelsea.jpg"]
    task = {t["data"]["image"]: t for t in all_tasks(label_studio, pid)}[expected_url(img.path)]
    colours = label_colours(out / "labeling_config.xml", img)

    with Browser(chromium, tmp_path / "chromium", size=(1400, 1000)) as b:
        rect, view = open_labeling_page(b, label_studio, pid, task["id"], [f"{d.score:.2f}" for d in img.detections])
        shot = b.screenshot(tmp_path / "labeling.png")
        text = b.evaluate("document.body.innerText")

        ix, iy, sx, sy = image_scale(rect, img)
        with Image.open(shot) as im:
            for d in img.detections:
                x1, y1, x2, y2 = d.box
                on_screen = (ix + x1 * sx, iy + y1 * sy, ix + x2 * sx, iy + y2 * sy)
                hits, points = edge_hits(im, on_screen, colours[d.label], view)
                assert points >= 20 and hits >= 0.9 * points, (
                    f"{d.label} box {d.box} at {on_screen} on screen (image at {rect}, stage {view}): "
                    f"{hits}/{points} edge points drawn in its colour ({shot})")
                # control: the same box 8 screen px (about 4 image px) off is not what is drawn
                for dx, dy in ((8, 8), (-8, -8)):
                    off, n = edge_hits(im, (on_screen[0] + dx, on_screen[1] + dy, on_screen[2] + dx, on_screen[3] + dy), colours[d.label], view)
                    assert off <= 0.2 * n, f"{d.label}: a shifted box also matches ({off}/{n}); the check cannot tell"
                assert d.label in text

        anns = submit_annotation(b, label_studio, task["id"])
    (ann,) = anns
    pred = task["predictions"][0]
    assert ann["parent_prediction"] == pred["id"]
    assert sorted(r["id"] for r in ann["result"]) == sorted(r["id"] for r in pred["result"])
    by_id = {r["id"]: r for r in pred["result"]}
    for r in ann["result"]:
        assert r["value"]["rectanglelabels"] == by_id[r["id"]]["value"]["rectanglelabels"]
        assert close(region_px(r, img.width, img.height), region_px(by_id[r["id"]], img.width, img.height))


def test_reviewer_corrections_come_back_as_a_revision(label_studio, ls_export, project, tmp_path):
    run, _ = ls_export
    pid = project["project"]["id"]
    tasks = {t["data"]["image"]: t for t in all_tasks(label_studio, pid)}
    by_path = run.by_path()

    # cam1/chelsea.jpg: the reviewer starts from the prediction, deletes the coffee mug,
    # relabels the shaker, moves the cat's box, and draws a person.
    img = by_path["cam1/chelsea.jpg"]
    task = tasks[expected_url(img.path)]
    pred = task["predictions"][0]
    dets = {d.label: d for d in img.detections}
    result = []
    for r in pred["result"]:
        r = {k: v for k, v in r.items() if k != "score"}
        label = r["value"]["rectanglelabels"][0]
        if label == "coffee mug":
            continue  # deleted
        if label == "salt & pepper, shaker":
            r["value"] = {**r["value"], "rectanglelabels": ["coffee mug"]}
        if label == "tabby cat":
            r["value"] = {**r["value"], "x": r["value"]["x"] + 2.0, "width": r["value"]["width"] - 2.0}
        result.append(r)
    drawn_px = (10.0, 20.0, 110.0, 170.0)
    result.append(
        {
            "id": "Qw3rTy7UiO",  # Label Studio's own id for a drawn region
            "type": "rectanglelabels",
            "from_name": "label",
            "to_name": "image",
            "original_width": img.width,
            "original_height": img.height,
            "image_rotation": 0,
            "value": {
                "x": 100.0 * drawn_px[0] / img.width,
                "y": 100.0 * drawn_px[1] / img.height,
                "width": 100.0 * (drawn_px[2] - drawn_px[0]) / img.width,
                "height": 100.0 * (drawn_px[3] - drawn_px[1]) / img.height,
                "rotation": 0,
                "rectanglelabels": ["person"],
            },
        }
    )
    label_studio.ok("POST", f"/api/tasks/{task['id']}/annotations", {"result": result, "parent_prediction": pred["id"], "lead_time": 12.5})

    # "cam 2/chelsea.jpg" (same file name, other photo): accepted as predicted
    other = by_path["cam 2/chelsea.jpg"]
    otask = tasks[expected_url(other.path)]
    opred = otask["predictions"][0]
    accepted = [{k: v for k, v in r.items() if k != "score"} for r in opred["result"]]
    label_studio.ok("POST", f"/api/tasks/{otask['id']}/annotations", {"result": accepted, "parent_prediction": opred["id"]})

    # what a user downloads from Export > JSON (all tasks, annotated or not)
    exported = label_studio.ok("GET", f"/api/projects/{pid}/export?exportType=JSON&download_all_tasks=true")
    assert len(exported) == len(run.images)
    export_file = tmp_path / "project-export.json"
    export_file.write_text(json.dumps(exported), encoding="utf-8")

    original = (run.run_dir / "predictions.jsonl").read_bytes()
    r = run_autolabel("import", "labelstudio", str(run.run_dir), str(export_file))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wrote revision 001-labelstudio" in r.stdout, r.stdout
    assert f"{len(run.images) - 2} without annotation" in r.stdout, r.stdout

    store = RunStore(run.run_dir)
    assert store.revisions() == ["001-labelstudio"]
    assert (run.run_dir / "predictions.jsonl").read_bytes() == original
    latest = {i.path: i for i in store.iter_images("latest")}

    got = {d.id: d for d in latest["cam1/chelsea.jpg"].detections}
    assert dets["coffee mug"].id not in got
    shaker = got[dets["salt & pepper, shaker"].id]
    assert shaker.label == "coffee mug" and shaker.source == "human" and shaker.score == 1.0
    assert close(shaker.box, dets["salt & pepper, shaker"].box)
    cat = got[dets["tabby cat"].id]
    x1, y1, x2, y2 = dets["tabby cat"].box
    assert close(cat.box, (x1 + 0.02 * img.width, y1, x2, y2))
    assert cat.label == "tabby cat" and cat.source == "human"
    new = [d for i, d in got.items() if i not in {x.id for x in img.detections}]
    assert len(new) == 1 and new[0].label == "person" and close(new[0].box, drawn_px)
    assert all(d.reviewed for d in got.values())

    # same-named image in another folder: its own box, unchanged, now reviewed
    (o,) = latest["cam 2/chelsea.jpg"].detections
    (before,) = other.detections
    assert o.id == before.id and o.box == before.box and o.label == before.label and o.reviewed
    # images nobody annotated keep their predictions exactly
    for path in set(by_path) - {"cam1/chelsea.jpg", "cam 2/chelsea.jpg"}:
        assert latest[path] == by_path[path]

    summary = store.revision_summary("001-labelstudio")
    assert {k: summary[k] for k in ("kept", "relabeled", "moved", "rejected", "added")} == {
        "kept": 1,
        "relabeled": 1,
        "moved": 1,
        "rejected": 1,
        "added": 1,
    }
    assert summary["tasks_annotated"] == 2 and summary["tasks_unannotated"] == len(run.images) - 2
