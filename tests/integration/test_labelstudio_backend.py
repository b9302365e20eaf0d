"""`autolabel serve labelstudio` connected to a real Label Studio 1.23 as its ML backend.

The backend runs as a user starts it (``python -m autolabel serve labelstudio --preset lite``,
a subprocess stopped by PID). Projects are made through Label Studio's REST API with a
RectangleLabels, a PolygonLabels and a BrushLabels config; the backend is connected with
``POST /api/ml`` (Label Studio checks ``/health`` and ``/setup`` then); tasks are imported as
uploaded files and through a local-files storage; the Data Manager's "Retrieve predictions"
action (``retrieve_tasks_predictions``) asks the backend; the predictions Label Studio stored
are read back and checked, and label-studio-sdk validates them against the config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration import servers
from tests.integration.conftest import REPO, LabelStudio, clean_env, ls_venv
from tests.integration.servers import http, missing_tool

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The session's Label Studio starts with ML_BLOCK_LOCAL_IP=false and SSRF_PROTECTION_ENABLED=false
# (tests/integration/conftest.py): it refuses a backend on 127.0.0.1 otherwise; `connect` checks.

SAMPLE = REPO / "sample_data"
PHOTOS = ["chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg"]
LABELS = ["cat", "cup"]
COLOURS = {"cat": (255, 0, 0), "cup": (0, 0, 255)}
HEX = {k: "#" + "".join(f"{c:02x}" for c in v) for k, v in COLOURS.items()}
"""Each label's colour in the configs (the labeling page draws a region's outline in it)."""


def config(tag: str, name: str) -> str:
    labels = "".join(f'<Label value="{v}" background="{HEX[v]}"/>' for v in LABELS)
    # rectangles unfilled: only their outlines are drawn in the label's colour (the page check)
    style = ' fillOpacity="0" strokeWidth="2"' if tag == "RectangleLabels" else ""
    return f'<View><Image name="image" value="$image"/><{tag} name="{name}" toName="image"{style}>{labels}</{tag}></View>'


@pytest.fixture(scope="module")
def backend(label_studio: LabelStudio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``autolabel serve labelstudio --preset lite`` on a free port; its URL. Stopped by PID."""
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        missing_tool("uvicorn is not installed (pip install 'uvicorn>=0.30'; autolabel's setup.cfg requires it)")
    base = tmp_path_factory.mktemp("ls-backend")
    port = servers.free_port()
    cmd = [sys.executable, "-m", "autolabel", "-v", "serve", "labelstudio", "--preset", "lite", "--port", str(port),
           "--label-studio-url", label_studio.url, "--api-key", label_studio.token]
    env = clean_env(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    proc = servers.spawn("autolabel serve", cmd, env, base / "backend.log", cwd=base)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        status, body = http("GET", url + "/health", timeout=5)
        return status == 200 and body.get("status") == "UP"

    try:
        servers.wait_until_ready(proc, ready, 300, f"autolabel serve labelstudio (port {port})")
        yield url
    finally:
        code = proc.stop()
        servers.log.warning("stopped the backend (pid %d), exit code %s; log %s", proc.pid, code, proc.log_path)
        assert not servers.group_alive(proc.pid), f"the backend's process group {proc.pid} outlived its stop"


def upload(ls: LabelStudio, project: int, names: list[str]) -> None:
    """Import ``names`` from sample_data as uploaded files (multipart, as the UI's import does)."""
    import httpx

    files = [(f"file{i}", (n, (SAMPLE / n).read_bytes(), "image/jpeg")) for i, n in enumerate(names)]  # one field each
    r = httpx.post(f"{ls.url}/api/projects/{project}/import", files=files, headers=ls.headers, timeout=120)
    assert r.status_code in (200, 201), r.text[:2000]


def started_with(ls: LabelStudio, name: str) -> str | None:
    """The value of env ``name`` in the Label Studio server process (None: unset or unreadable)."""
    try:
        raw = Path(f"/proc/{ls.process.pid}/environ").read_bytes()
    except OSError:
        return None
    env = dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    value = env.get(name.encode())
    return value.decode() if value is not None else None


def connect(ls: LabelStudio, project: int, backend: str) -> dict[str, Any]:
    for name in ("ML_BLOCK_LOCAL_IP", "SSRF_PROTECTION_ENABLED"):
        value = started_with(ls, name)
        assert value in ("false", None), f"Label Studio runs with {name}={value}: it refuses a backend on 127.0.0.1"
    ml = ls.ok("POST", "/api/ml", {"project": project, "url": backend, "title": "autolabel", "is_interactive": False})
    assert ml.get("state") not in ("ER", "DI"), ml  # error / disconnected
    return ml


def retrieve_predictions(ls: LabelStudio, project: int) -> None:
    """The Data Manager's "Retrieve predictions" action on every task of ``project``."""
    status, body = http("POST", f"{ls.url}/api/dm/actions?id=retrieve_tasks_predictions&project={project}",
                        {"selectedItems": {"all": True, "excluded": []}}, headers=ls.headers, timeout=900)
    assert status == 200, f"HTTP {status}: {str(body)[:2000]}"


def tasks_of(ls: LabelStudio, project: int) -> list[dict[str, Any]]:
    listed = ls.ok("GET", f"/api/tasks?project={project}&page_size=100")
    return [ls.ok("GET", f"/api/tasks/{t['id']}") for t in listed["tasks"]]


def validate_with_sdk(xml: str, predictions: list[dict[str, Any]], tmp: Path) -> Any:
    """label-studio-sdk's own check of each prediction against ``xml``; decodes brush masks
    with its converter. Returns ``{"errors": [...], "brush": [[rle values, nonzero alpha], ...]}``."""
    (tmp / "config.xml").write_text(xml, encoding="utf-8")
    (tmp / "predictions.json").write_text(json.dumps(predictions), encoding="utf-8")
    script = (
        "import json, sys\n"
        "from label_studio_sdk.label_interface import LabelInterface\n"
        "from label_studio_sdk.converter.brush import decode_rle\n"
        "li = LabelInterface(open(sys.argv[1], encoding='utf-8').read())\n"
        "preds = json.load(open(sys.argv[2], encoding='utf-8'))\n"
        "errors, brush = [], []\n"
        "for p in preds:\n"
        "    e = li.validate_prediction(p, return_errors=True)\n"
        "    if e is not True and e:\n"
        "        errors.append(e)\n"
        "    for r in p['result']:\n"
        "        if r['type'] == 'brushlabels':\n"
        "            a = decode_rle(r['value']['rle'])\n"
        "            brush.append([int(a.size), int((a.reshape(-1, 4)[:, 3] > 0).sum()), r['original_width'], r['original_height']])\n"
        "print(json.dumps({'errors': errors, 'brush': brush}))\n"
    )
    r = subprocess.run([str(ls_venv() / "bin" / "python"), "-c", script, str(tmp / "config.xml"), str(tmp / "predictions.json")],
                       capture_output=True, text=True, timeout=120, env=clean_env())
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def our_prediction(task: dict[str, Any], version: str) -> dict[str, Any]:
    preds = task["predictions"]
    assert len(preds) == 1, f"task {task['id']} ({task['data']}): {len(preds)} predictions"
    assert preds[0]["model_version"] == version
    return preds[0]


def label_of(region: dict[str, Any]) -> list[str]:
    return region["value"][region["type"]]


@pytest.fixture(scope="module")
def rectangles(label_studio: LabelStudio, backend: str) -> dict[str, Any]:
    """A RectangleLabels project: uploaded photos and a local-files storage, backend connected,
    predictions retrieved."""
    ls = label_studio
    xml = config("RectangleLabels", "label")
    proj = ls.ok("POST", "/api/projects", {"title": "backend: rectangles", "label_config": xml})
    upload(ls, proj["id"], PHOTOS)
    folder = ls.document_root / "backend-photos"
    folder.mkdir()
    shutil.copy(SAMPLE / "chelsea.jpg", folder / "chelsea local.jpg")
    storage = ls.ok("POST", "/api/storages/localfiles", {"project": proj["id"], "title": "photos", "path": str(folder),
                                                          "use_blob_urls": True, "regex_filter": ".*jpg"})
    ls.ok("POST", f"/api/storages/localfiles/{storage['id']}/sync")
    ml = connect(ls, proj["id"], backend)
    retrieve_predictions(ls, proj["id"])
    version = ls.ok("GET", f"/api/ml/{ml['id']}")["model_version"]
    return {"project": proj, "xml": xml, "tasks": tasks_of(ls, proj["id"]), "version": version}


def test_backend_connects_and_reports_our_model_version(rectangles):
    assert rectangles["version"].startswith("autolabel-") and "-lite-" in rectangles["version"]


def test_every_task_has_one_prediction_with_config_labels_only(rectangles, tmp_path):
    tasks = rectangles["tasks"]
    urls = [t["data"]["image"] for t in tasks]
    assert len(tasks) == len(PHOTOS) + 1, urls
    assert sum(u.startswith("/data/upload/") for u in urls) == len(PHOTOS)
    assert sum(u.startswith("/data/local-files/?d=") for u in urls) == 1, urls
    preds = [our_prediction(t, rectangles["version"]) for t in tasks]
    for p in preds:
        assert 0.0 <= p["score"] <= 1.0
        for r in p["result"]:
            assert r["type"] == "rectanglelabels" and r["from_name"] == "label" and r["to_name"] == "image"
            assert label_of(r) and set(label_of(r)) <= set(LABELS)
            assert 0.0 <= r["score"] <= 1.0
            v = r["value"]
            assert 0 <= v["x"] <= v["x"] + v["width"] <= 100.0 + 1e-9 and 0 <= v["y"] <= v["y"] + v["height"] <= 100.0 + 1e-9
    assert validate_with_sdk(rectangles["xml"], preds, tmp_path)["errors"] == []


def test_the_cat_photos_best_box_is_a_cat(rectangles):
    cats = [t for t in rectangles["tasks"] if "chelsea" in t["data"]["image"]]
    assert len(cats) == 2  # uploaded, and from the local-files storage
    for t in cats:
        result = our_prediction(t, rectangles["version"])["result"]
        assert result, f"no region on {t['data']['image']}"
        best = max(result, key=lambda r: r["score"])
        assert label_of(best) == ["cat"], best
        assert (best["original_width"], best["original_height"]) == (451, 300)


@pytest.mark.parametrize(("tag", "kind"), [("PolygonLabels", "polygonlabels"), ("BrushLabels", "brushlabels")])
def test_polygon_and_brush_projects_get_their_region_type(label_studio, backend, tag, kind, tmp_path):
    ls = label_studio
    xml = config(tag, "shape")
    proj = ls.ok("POST", "/api/projects", {"title": f"backend: {kind}", "label_config": xml})
    upload(ls, proj["id"], ["chelsea.jpg"])
    connect(ls, proj["id"], backend)
    retrieve_predictions(ls, proj["id"])
    (task,) = tasks_of(ls, proj["id"])
    (pred,) = task["predictions"]
    assert pred["result"], "no region on the cat photo"
    assert {r["type"] for r in pred["result"]} == {kind}
    assert {lab for r in pred["result"] for lab in label_of(r)} <= set(LABELS)
    best = max(pred["result"], key=lambda r: r["score"])
    assert label_of(best) == ["cat"]
    checked = validate_with_sdk(xml, [pred], tmp_path)
    assert checked["errors"] == []
    if kind == "polygonlabels":
        for r in pred["result"]:
            assert len(r["value"]["points"]) >= 3
            assert all(0 <= c <= 100 for pt in r["value"]["points"] for c in pt)
    else:  # label-studio-sdk decodes every mask to the image's size, with some pixels set
        assert len(checked["brush"]) == len(pred["result"])
        for size, on, w, h in checked["brush"]:
            assert size == w * h * 4 and 0 < on < w * h


def test_labeling_page_draws_the_best_cat_box(label_studio, rectangles, chromium, tmp_path):
    """The real labeling page, in headless Chromium, shows the predicted regions: the best cat
    box's outline is drawn in the cat label's colour where the prediction puts it."""
    from types import SimpleNamespace

    from PIL import Image

    from tests.integration.cdp import Browser
    from tests.integration.conftest import image_scale, open_labeling_page

    task = next(t for t in rectangles["tasks"] if t["data"]["image"].startswith("/data/upload/") and "chelsea" in t["data"]["image"])
    best = max(our_prediction(task, rectangles["version"])["result"], key=lambda r: r["score"])
    w, h = best["original_width"], best["original_height"]
    with Browser(chromium, tmp_path / "chromium", size=(1400, 1000)) as b:
        for attempt in range(3):
            try:
                rect, view = open_labeling_page(b, label_studio, rectangles["project"]["id"], task["id"], ["cat"])
                break
            except TypeError:  # conftest's settle loop meets a re-render (its probe answers None): open again
                if attempt == 2:
                    raise
        shot = b.screenshot(tmp_path / "labeling.png")
    docs_copy = os.environ.get("AUTOLABEL_DOCS_SCREENSHOT")  # scripts/make_docs_images.py --labelstudio
    if docs_copy:
        with Image.open(shot) as im:
            im.convert("RGB").save(docs_copy, quality=85, optimize=True)
    ix, iy, sx, sy = image_scale(rect, SimpleNamespace(width=w, height=h))
    v = best["value"]
    x1, y1 = ix + v["x"] * w / 100 * sx, iy + v["y"] * h / 100 * sy
    x2, y2 = x1 + v["width"] * w / 100 * sx, y1 + v["height"] * h / 100 * sy
    assert COLOURS["cat"] == (255, 0, 0)  # what drawn() looks for

    def drawn(x: float, y: float, im: Image.Image) -> bool:
        # the outline is about 2 px wide: look within 2 px of the point
        for dx in (-2, -1, 0, 1, 2):
            for dy in (-2, -1, 0, 1, 2):
                px, py = int(round(x + dx)), int(round(y + dy))
                if view[0] <= px < view[2] and view[1] <= py < view[3]:
                    r, g, bl = im.getpixel((px, py))[:3]
                    if r > 190 and g < 70 and bl < 70:
                        return True
        return False

    def outline_hits(grow: float, im: Image.Image) -> tuple[int, int]:
        a, b, c, d = x1 - grow, y1 - grow, x2 + grow, y2 + grow
        edge = [(a + (c - a) * t / 40, y) for t in range(2, 39) for y in (b, d)]
        edge += [(x, b + (d - b) * t / 40) for t in range(2, 39) for x in (a, c)]
        inside = [(p, q) for p, q in edge if view[0] + 3 <= p <= view[2] - 3 and view[1] + 3 <= q <= view[3] - 3]
        return sum(drawn(p, q, im) for p, q in inside), len(inside)

    with Image.open(shot) as im:
        im = im.convert("RGB")
        hits, n = outline_hits(0.0, im)
        assert n >= 40, f"the box {x1, y1, x2, y2} is mostly outside the visible stage {view} ({shot})"
        assert hits >= 0.8 * n, f"{hits}/{n} points of the best cat box's outline drawn in red ({shot})"
        for grow in (-10.0, 10.0):  # control: the outline 10 px in or out is not what is drawn
            off, m = outline_hits(grow, im)
            assert off <= 0.35 * m, f"an outline {grow:+} px off also looks drawn ({off}/{m}); the check cannot tell ({shot})"
