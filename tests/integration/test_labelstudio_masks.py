"""A real Label Studio server accepts and shows our mask predictions as polygons.

A hand-made run whose every detection carries a mask (an ellipse inside its box, see
:func:`tests.integration.runs.make_run`) is exported with ``autolabel export -f labelstudio``
into the document-root layout of :mod:`tests.integration.test_labelstudio_server`; a project is
made from our ``labeling_config.xml`` (RectangleLabels and PolygonLabels), the image folder is
registered as local storage and ``tasks.json`` imported through the REST API. The server must
hand every polygon back as written, and its labeling page (headless Chromium) must draw each
polygon's edges in its label's colour where the mask's outline is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autolabel import masks
from autolabel.formats.labelstudio import part_region_id, points_to_pixels, region_id
from tests.integration.conftest import LabelStudio, image_scale, label_colours, ls_project, open_labeling_page, submit_annotation
from tests.integration.runs import CLASSES, HandMadeRun, make_run
from tests.integration.test_labelstudio_server import IMAGE_DIR, all_tasks, expected_url, run_autolabel

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PCT_TOL = 0.01
"""Largest allowed difference between a point we wrote and what Label Studio holds (percent)."""

SHOWN = "cam1/chelsea.jpg"
"""The image whose labeling page is checked (three masks, three label colours)."""


@pytest.fixture(scope="module")
def masked_export(label_studio: LabelStudio, tmp_path_factory: pytest.TempPathFactory) -> tuple[HandMadeRun, Path]:
    """A masked hand-made run with its images in Label Studio's document root, exported by the CLI."""
    base = tmp_path_factory.mktemp("ls-masks")
    # the other module's run may already use IMAGE_DIR: this run's folder sits beside it
    run = make_run(base / "run", label_studio.document_root / f"{IMAGE_DIR}-masks", masks=True)
    assert all(d.mask is not None for img in run.images for d in img.detections)
    r = run_autolabel("export", str(run.run_dir), "-f", "labelstudio", "-o", str(base / "export"),
                      "-O", "labelstudio.shapes=polygon")
    assert r.returncode == 0, r.stdout + r.stderr
    out = base / "export" / "labelstudio"
    assert (out / "tasks.json").is_file() and (out / "labeling_config.xml").is_file(), r.stdout
    return run, out


@pytest.fixture(scope="module")
def masked_project(label_studio: LabelStudio, masked_export: tuple[HandMadeRun, Path]) -> dict[str, Any]:
    run, out = masked_export
    return ls_project(label_studio, "autolabel masks", out, run.image_root)


def url(img_path: str) -> str:
    """The task URL the CLI writes for this run: local files under ``<image folder name>/``."""
    return expected_url(img_path).replace(f"?d={IMAGE_DIR}/", f"?d={IMAGE_DIR}-masks/", 1)


def polygon_iou(points_px: list[tuple[float, float]], mask: np.ndarray) -> float:
    """IoU of a pixel polygon, rasterised with PIL, with a bool mask of the image's size."""
    from PIL import Image, ImageDraw

    h, w = mask.shape
    canvas = Image.new("1", (w, h), 0)
    # PIL fills pixel (i, j) when its corner (i, j) is inside; shift by half a pixel to test centres
    ImageDraw.Draw(canvas).polygon([(x - 0.5, y - 0.5) for x, y in points_px], fill=1, outline=1)
    drawn = np.asarray(canvas, dtype=bool)
    return float((drawn & mask).sum()) / float((drawn | mask).sum())


def test_label_studio_parses_rectangle_and_polygon_labels(masked_project):
    parsed = masked_project["project"]["parsed_label_config"]
    assert sorted(parsed) == ["label", "polygon"], parsed
    assert parsed["label"]["type"] == "RectangleLabels"
    assert parsed["polygon"]["type"] == "PolygonLabels"
    for control in parsed.values():
        assert control["to_name"] == ["image"]
        assert control["labels"] == list(CLASSES)


def test_server_keeps_every_polygon_as_written(label_studio, masked_export, masked_project):
    run, _ = masked_export
    report = masked_project["import"]
    assert report["task_count"] == len(run.images) and report["prediction_count"] == len(run.images), report
    written = {t["data"]["image"]: t for t in masked_project["tasks"]}
    served = {t["data"]["image"]: t for t in all_tasks(label_studio, masked_project["project"]["id"])}
    assert sorted(served) == sorted(written) == sorted(url(img.path) for img in run.images)
    n_polygons = 0
    for img in run.images:
        (pred,) = served[url(img.path)]["predictions"]
        (ours,) = written[url(img.path)]["predictions"]
        assert pred["model_version"] == run.model_version
        regions = {r["id"]: r for r in pred["result"]}
        assert len(regions) == len(pred["result"]) == len(ours["result"]), (img.path, pred["result"])
        # every detection is one polygon (an ellipse has one part), no rectangle left
        assert sorted(regions) == sorted(part_region_id(region_id(d.id), 0) for d in img.detections)
        for d in img.detections:
            r = regions[region_id(d.id)]
            (w,) = [x for x in ours["result"] if x["id"] == r["id"]]
            assert r["type"] == "polygonlabels" and r["from_name"] == "polygon" and r["to_name"] == "image", r
            assert r["value"]["polygonlabels"] == [d.label]
            assert abs(r["score"] - d.score) < 1e-9
            assert (r["original_width"], r["original_height"]) == (img.width, img.height)
            got, want = r["value"]["points"], w["value"]["points"]
            assert len(got) == len(want) >= 3, (d.id, got)
            assert all(abs(a - b) < PCT_TOL for p, q in zip(got, want) for a, b in zip(p, q)), (d.id, got, want)
            # and what we wrote is the mask's outline (independent raster check)
            iou = polygon_iou(points_to_pixels(got, img.width, img.height), masks.decode(d.mask))
            assert iou > 0.9, f"{img.path} {d.label}: polygon vs mask IoU {iou:.3f}"
            n_polygons += 1
    assert n_polygons == sum(len(img.detections) for img in run.images) > 0


def polygon_edge_hits(img, polygon, colour, visible, offset: float = 0.0, spacing: float = 6.0) -> tuple[int, int]:
    """Count points along the edges of screen polygon ``polygon`` where a stroke of ``colour`` is drawn.

    The rule of :func:`tests.integration.test_labelstudio_server.edge_hits`, across each edge
    along its normal: a point is a hit if, within 3 px across the edge, some pixel departs
    from its surroundings (5 px either side) towards ``colour`` by at least a quarter of the
    way, and in that direction. Points are taken every ``spacing`` px on edges longer than
    8 px, moved ``offset`` px along the normal (a control: the outline moved off the stroke);
    only points inside ``visible`` (the stage) count. Returns ``(hits, points)``.
    """
    px = np.asarray(img.convert("RGB")).astype(float)
    c = np.array(colour, dtype=float)
    vx1, vy1, vx2, vy2 = visible

    def at(x: float, y: float) -> np.ndarray:
        return px[int(round(y)), int(round(x))]

    def hit(x: float, y: float, nx: float, ny: float) -> bool:
        for o in range(-3, 4):
            p = at(x + o * nx, y + o * ny)
            bg = (at(x + (o - 5) * nx, y + (o - 5) * ny) + at(x + (o + 5) * nx, y + (o + 5) * ny)) / 2
            d = c - bg
            if float(d @ d) < 900:  # the label colour is too close to the photo here to tell
                continue
            v = p - bg
            a = float(v @ d) / float(d @ d)
            if a > 0.25 and np.linalg.norm(v - a * d) < 0.5 * np.linalg.norm(v):
                return True
        return False

    hits = points = 0
    pts = list(polygon)
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1]):
        length = float(np.hypot(x2 - x1, y2 - y1))
        if length < 8:
            continue
        nx, ny = -(y2 - y1) / length, (x2 - x1) / length
        for t in np.linspace(0.2, 0.8, max(1, int(length / spacing))):
            x, y = x1 + t * (x2 - x1) + offset * nx, y1 + t * (y2 - y1) + offset * ny
            if vx1 + 12 <= x <= vx2 - 12 and vy1 + 12 <= y <= vy2 - 12:
                points += 1
                hits += hit(x, y, nx, ny)
    return hits, points


def test_labeling_ui_draws_our_polygons(label_studio, masked_export, masked_project, chromium, tmp_path):
    """The real labeling page, logged in, in headless Chromium: each predicted polygon's edges
    are drawn in its label's colour where the run's mask outline is (and not 8 px beside it),
    and pressing Submit stores the polygons under our region ids."""
    from PIL import Image

    from tests.integration.cdp import Browser

    run, out = masked_export
    pid = masked_project["project"]["id"]
    img = run.by_path()[SHOWN]
    task = {t["data"]["image"]: t for t in all_tasks(label_studio, pid)}[url(img.path)]
    pred = task["predictions"][0]
    colours = label_colours(out / "labeling_config.xml", img)

    with Browser(chromium, tmp_path / "chromium", size=(1400, 1000)) as b:
        rect, view = open_labeling_page(b, label_studio, pid, task["id"], [f"{d.score:.2f}" for d in img.detections])
        shot = b.screenshot(tmp_path / "labeling.png")
        text = b.evaluate("document.body.innerText")

        ix, iy, sx, sy = image_scale(rect, img)
        regions = {r["id"]: r for r in pred["result"]}
        with Image.open(shot) as im:
            for d in img.detections:
                r = regions[region_id(d.id)]
                on_screen = [(ix + x * sx, iy + y * sy) for x, y in points_to_pixels(r["value"]["points"], img.width, img.height)]
                hits, points = polygon_edge_hits(im, on_screen, colours[d.label], view)
                assert points >= 20 and hits >= 0.85 * points, (
                    f"{d.label} polygon at {on_screen} on screen (image at {rect}, stage {view}): "
                    f"{hits}/{points} edge points drawn in its colour ({shot})")
                # control: the outline moved 8 screen px (about 4 image px) in or out is not what is drawn
                for offset in (8.0, -8.0):
                    off, n = polygon_edge_hits(im, on_screen, colours[d.label], view, offset=offset)
                    assert off <= 0.2 * n, f"{d.label}: an outline {offset:+} px off also matches ({off}/{n}); the check cannot tell"
                assert d.label in text

        anns = submit_annotation(b, label_studio, task["id"])
    (ann,) = anns
    assert ann["parent_prediction"] == pred["id"]
    assert sorted(r["id"] for r in ann["result"]) == sorted(regions), json.dumps(ann["result"])[:2000]
    for r in ann["result"]:
        want = regions[r["id"]]
        assert r["type"] == "polygonlabels" and r["value"]["polygonlabels"] == want["value"]["polygonlabels"]
        got_pts, want_pts = r["value"]["points"], want["value"]["points"]
        assert len(got_pts) == len(want_pts)
        assert all(abs(a - b) < PCT_TOL for p, q in zip(got_pts, want_pts) for a, b in zip(p, q)), r["id"]
