"""The exporter tests' sample run and independent-reader helpers.

The sample is a small stored run with real image files, built without models, that contains
every case the formats get wrong (see FORMATS.md):

* class names with spaces, a comma, ``&`` and an apostrophe; a declared class no box uses;
  a label outside the manifest's classes (appended to the class list by the run store);
* boxes touching each of the four borders, and one covering the whole image;
* an image with no boxes; duplicate basenames in two subfolders; a unicode folder and file
  name with a space and a ``+``; ``img 003.jpg`` and ``img_003.jpg`` (same flat name);
* a low-score box (for ``min_score``) and a corrected revision (for ``--original``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image

from autolabel.types import Detection, ImageAnnotations
from tests.runs import write_run

CLASSES = ["person", "traffic light", "salt & pepper, shaker", "jack-o'-lantern", "unused class"]
"""The manifest's class list; the run adds ``zebra`` (a label outside it) at the end."""

RUN_CLASSES = (*CLASSES, "zebra")

# path -> (width, height, [(id, box, label, score, objectness), ...])
IMAGES: dict[str, tuple[int, int, list[tuple[str, tuple[float, float, float, float], str, float, float]]]] = {
    "cam1/0001.jpg": (64, 48, [
        ("0001-0", (0.0, 0.0, 20.5, 15.25), "person", 0.91, 0.7),               # left + top border
        ("0001-1", (10.3, 12.7, 40.9, 30.1), "salt & pepper, shaker", 0.62, 0.4),
        ("0001-2", (44.0, 2.0, 60.0, 9.5), "traffic light", 0.05, 0.2),         # below min_score 0.1
    ]),
    "cam2/0001.jpg": (64, 48, [
        ("0001-0", (30.2, 20.6, 64.0, 48.0), "traffic light", 0.777, 0.55),     # right + bottom border
        ("0001-1", (0.0, 0.0, 64.0, 48.0), "jack-o'-lantern", 0.333, 0.9),      # whole image
    ]),
    "empty.png": (50, 40, []),
    "img 003.jpg": (32, 24, [
        ("img 003-0", (3.5, 4.25, 28.75, 20.0), "person", 0.5, 0.5),
    ]),
    "img_003.jpg": (40, 30, [
        ("img_003-0", (1.0, 2.0, 39.0, 29.0), "traffic light", 0.25, 0.125),
    ]),
    "ünïcode ß/fötö 1+2.jpg": (40, 30, [
        ("fötö 1+2-0", (5.0, 5.0, 35.0, 25.0), "zebra", 0.55, 0.45),
    ]),
}

FLAT_NAMES = {
    "cam1/0001.jpg": "cam1__0001.jpg",
    "cam2/0001.jpg": "cam2__0001.jpg",
    "empty.png": "empty.png",
    "img 003.jpg": "img_003.jpg",
    # same flat stem as "img 003.jpg" (sorted first): gets the first 8 hex digits of sha1(path)
    "img_003.jpg": "img_003-{}.jpg",
    "ünïcode ß/fötö 1+2.jpg": "ünïcode_ß__fötö_1+2.jpg",
}
"""Expected flat names in VOC and YOLO, written out by hand (the hash filled in by
:func:`flat_names`)."""


def flat_names() -> dict[str, str]:
    import hashlib

    out = dict(FLAT_NAMES)
    out["img_003.jpg"] = out["img_003.jpg"].format(hashlib.sha1(b"img_003.jpg").hexdigest()[:8])
    return out


def _write_image(path: Path, width: int, height: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (width, height), ((seed * 40) % 256, (seed * 90) % 256, (seed * 150) % 256))
    img.save(path)


def build_run(root: Path, with_revision: bool = True) -> Path:
    """Write the sample images under ``root/images`` and the run under ``root/run``; returns the run dir."""
    images = root / "images"
    for i, (rel, (w, h, _)) in enumerate(sorted(IMAGES.items())):
        _write_image(images / rel, w, h, i + 1)
    revisions = []
    if with_revision:
        corrected = []
        for rel in sorted(IMAGES):
            img = image_record(rel)
            if rel == "cam2/0001.jpg":
                d0 = img.detections[0].with_(label="person", source="human", reviewed=True)
                img = ImageAnnotations(img.path, img.width, img.height, (d0,))
            corrected.append(img)
        revisions.append(("fiftyone", corrected, {"edited": 1, "removed": 1}))
    # Written out of order on purpose: the store must still yield sorted paths.
    store = write_run(root / "run", [image_record(rel) for rel in sorted(IMAGES, reverse=True)],
                      image_root=images.resolve(), classes=CLASSES, config={"preset": "test"},
                      label_space="test", revisions=revisions)
    return store.run_dir


def image_root_of(run_dir: Path) -> Path:
    """The image root of a run made by :func:`build_run`."""
    return run_dir.parent / "images"


def image_record(rel: str) -> ImageAnnotations:
    w, h, dets = IMAGES[rel]
    return ImageAnnotations(rel, w, h, tuple(
        Detection(id=i, box=b, label=lab, score=s, objectness=o, label_id=lab) for i, b, lab, s, o in dets))


def expected_boxes(revision: str = "original", min_score: float = 0.0) -> dict[str, list[tuple[str, tuple[float, ...], float]]]:
    """What every reader must give back: path -> sorted [(label, (x1, y1, x2, y2), score)]."""
    out: dict[str, list[tuple[str, tuple[float, ...], float]]] = {}
    for rel in sorted(IMAGES):
        w, h, dets = IMAGES[rel]
        rows = [(lab, b, s) for _, b, lab, s, _ in dets if s >= min_score]
        if revision != "original" and rel == "cam2/0001.jpg":
            rows = [("person", dets[0][1], dets[0][3])]
        out[rel] = sorted(rows)
    return out


def assert_same_boxes(expected: dict[str, list[tuple[str, tuple[float, ...], float]]],
                      got: dict[str, list[tuple[str, tuple[float, ...], float | None]]],
                      px: float = 1e-3, score_tol: float | None = 1e-6, reader: str = "") -> None:
    """Same images, and per image the same labels, boxes (within ``px``) and scores (within
    ``score_tol``; ``None`` = the format carries no score)."""
    assert sorted(got) == sorted(expected), f"{reader}: images differ"
    for path, exp in expected.items():
        g = sorted(got[path], key=lambda r: (r[0], r[1]))
        e = sorted(exp, key=lambda r: (r[0], r[1]))
        assert [r[0] for r in g] == [r[0] for r in e], f"{reader}: labels of {path} differ: {g} vs {e}"
        for (lab, gb, gs), (_, eb, es) in zip(g, e):
            assert len(gb) == 4
            assert all(abs(a - b) <= px for a, b in zip(gb, eb)), f"{reader}: {path} {lab}: box {gb} vs {eb}"
            if score_tol is not None:
                assert gs is not None and abs(gs - es) <= score_tol, f"{reader}: {path} {lab}: score {gs} vs {es}"




# -- independent readers ------------------------------------------------------------------------
Rows = dict[str, list[tuple[str, tuple[float, float, float, float], Any]]]


def fiftyone_boxes(fo: Any, dataset_type: Any, data_root: Path, name_to_path: dict[str, str] | None = None,
                   score_attr: str = "confidence", sizes: dict[str, tuple[int, int]] | None = None,
                   **kwargs: Any) -> Rows:
    """Load with a fiftyone importer; boxes converted back to pixels with each image's true
    size (``sizes``: path -> (W, H), default the sample's), so a wrong declared size shows up as
    a wrong box. Keys: the run's image paths."""
    if sizes is None:
        sizes = {p: (w, h) for p, (w, h, _) in IMAGES.items()}
    ds = fo.Dataset.from_dir(dataset_type=dataset_type, label_field="gt", **kwargs)
    try:
        # importers that can load several label types suffix the field name with the type
        field = "gt" if ds.has_sample_field("gt") else "gt_detections"
        out: Rows = {}
        for sample in ds:
            rel = Path(os.path.relpath(sample.filepath, os.path.abspath(data_root))).as_posix()
            path = name_to_path[rel] if name_to_path is not None else rel
            w, h = sizes[path]
            rows = []
            dets = sample[field].detections if sample[field] is not None else []
            for d in dets:
                x, y, bw, bh = d.bounding_box
                score = d[score_attr] if score_attr in d else None  # noqa: SIM401 - a FiftyOne label has no .get()
                rows.append((d.label, (x * w, y * h, (x + bw) * w, (y + bh) * h), score))
            out[path] = rows
        return out
    finally:
        ds.delete()


def datumaro_boxes(dataset: Any, id_to_path: dict[str, str]) -> Rows:
    """Boxes of a datumaro dataset keyed by the run's image paths (pixels, x2/y2 exclusive)."""
    from datumaro.components.annotation import AnnotationType

    labels = [c.name for c in dataset.categories()[AnnotationType.label]]
    out: Rows = {}
    for item in dataset:
        rows = []
        for a in item.annotations:
            assert a.type == AnnotationType.bbox, f"{item.id}: unexpected {a.type}"
            assert a.label is not None, f"{item.id}: a box lost its label"
            x, y, w, h = a.get_bbox()
            score = a.attributes.get("score")
            rows.append((labels[a.label], (x, y, x + w, y + h), None if score is None else float(score)))
        out[id_to_path[item.id]] = rows
    return out


def read_names_table(path: Path) -> dict[str, str]:
    """``image_names.csv`` as name -> source path, read with the csv module alone."""
    import csv

    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["name", "source", "source_bytes"]
    return {name: src for name, src, _ in rows[1:]}


def store_boxes(run_dir: Path, revision: str = "original") -> tuple[Rows, dict[str, tuple[int, int]]]:
    """What the run store holds: path -> [(label, box, score)], and path -> (W, H)."""
    from autolabel.store import RunStore

    rows: Rows = {}
    sizes: dict[str, tuple[int, int]] = {}
    for img in RunStore(run_dir).iter_images(revision):
        rows[img.path] = sorted((d.label, d.box, d.score) for d in img.detections)
        sizes[img.path] = (img.width, img.height)
    return rows, sizes


# -- label-studio-sdk, run in its own interpreter ---------------------------------------------
REPO = Path(__file__).resolve().parents[2]

LS_SDK_SCRIPT = r"""
import copy, json, sys
from label_studio_sdk.label_interface import LabelInterface

config = open(sys.argv[1], encoding="utf-8").read()
tasks = json.load(open(sys.argv[2], encoding="utf-8"))
li = LabelInterface(config)
li.validate()                              # the config itself (raises if invalid)
out = {"labels": list(li.get_control("label").labels), "errors": [], "data_ok": []}
for t in tasks:
    out["data_ok"].append(li.validate_task({"data": t["data"]}))
    for p in t["predictions"]:
        out["errors"] += li.validate_prediction(p, return_errors=True)
# Controls: the validator must reject pixels and unknown labels, or its silence proves nothing.
p = copy.deepcopy(next(t["predictions"][0] for t in tasks if t["predictions"][0]["result"]))
r = p["result"][0]
r["value"]["x"] = 100.0 * r["original_width"]
out["pixel_errors"] = li.validate_prediction(p, return_errors=True)
r["value"]["x"] = 0.0
r["value"]["rectanglelabels"] = [r["value"]["rectanglelabels"][0] + " (not declared)"]
out["label_errors"] = li.validate_prediction(p, return_errors=True)
print(json.dumps(out))
"""


def ls_python() -> str:
    """The label-studio-sdk interpreter: ``$AUTOLABEL_LS_PYTHON``, default
    ``<repo>/.venv-ls/bin/python``. Skips the test if it is missing, or fails when ``$CI`` is set."""
    import pytest

    py = os.environ.get("AUTOLABEL_LS_PYTHON") or str(REPO / ".venv-ls" / "bin" / "python")
    if Path(py).is_file() and os.access(py, os.X_OK):
        return py
    msg = (f"label-studio-sdk interpreter {py} not found: create it with `python -m venv .venv-ls && "
           ".venv-ls/bin/pip install label-studio-sdk`, or point AUTOLABEL_LS_PYTHON at one")
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def validate_with_ls_sdk(folder: Path) -> dict[str, Any]:
    """Run ``LabelInterface(config).validate_prediction`` on every task of a Label Studio export
    (``folder``) in the SDK's interpreter; returns the script's findings."""
    import json
    import subprocess

    proc = subprocess.run([ls_python(), "-c", LS_SDK_SCRIPT, str(folder / "labeling_config.xml"),
                           str(folder / "tasks.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
