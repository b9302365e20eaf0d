"""Hostile names and options met by ``export`` and ``evaluate`` the way a user meets them
(issue 14, items 3, 7, 8, 9, 10, 12, 14, 16): real files, the real CLI, and what independent
readers (ElementTree, pycocotools, the csv module, json) read back.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote_to_bytes

import numpy as np
import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.store import RunStore
from tests.cli.test_annotate import TINY
from tests.conftest import write_image
from tests.evaluate.fixtures import make_run

HOSTILE = ["a.png", "bad\udcff.png", "esc\x1b[31m.png", "cr\rx.png", "nel\x85.png", "ctl\x01.png", "p%41.png"]
"""Names from old zips, Windows shares and careless scripts: a byte that is not UTF-8, an
ANSI escape, a bare carriage return, U+0085, a C0 control, and a literal percent sign."""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output, output


def _write_raw(folder: Path, name: str, source: Path) -> None:
    """Write a copy of ``source`` at ``folder/name``, the name taken as its exact bytes."""
    with open(os.path.join(os.fsencode(folder), os.fsencode(name)), "wb") as f:
        f.write(source.read_bytes())


def _csv_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def _exact(name: str, source_bytes: str) -> bytes:
    """The file name's bytes as image_names.csv gives them."""
    return unquote_to_bytes(source_bytes) if source_bytes else name.encode("utf-8")


# -- items 3 and 7: names that are not UTF-8 or hold control characters ------------------------


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run annotated by the real CLI over images with every hostile name."""
    tmp = tmp_path_factory.mktemp("hostile")
    images = tmp / "imgs"
    write_image(images / "a.png")
    for name in HOSTILE[1:]:
        _write_raw(images, name, images / "a.png")
    run = tmp / "run"
    r = CliRunner().invoke(main, ["annotate", str(images), "-o", str(run), *TINY, "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert sorted(i.path for i in RunStore(run).iter_images()) == sorted(HOSTILE)
    return images, run


def test_hostile_names_export_readably_in_every_format(runner: CliRunner, hostile_run, tmp_path: Path) -> None:
    images, run = hostile_run
    out = tmp_path / "out"
    r = runner.invoke(main, ["export", str(run), "-f", "all", "-o", str(out), "--copy-images"])
    _no_traceback(r.output)
    assert r.exit_code == 0, r.output
    original = (images / "a.png").read_bytes()
    exact = sorted(os.fsencode(n) for n in HOSTILE)

    # COCO: pycocotools loads it; every file_name is plain UTF-8 text naming a copied image.
    from pycocotools.coco import COCO

    coco = COCO(str(out / "coco/annotations/instances_default.json"))
    names = sorted(im["file_name"] for im in coco.dataset["images"])
    assert len(names) == len(HOSTILE)
    assert sorted(unquote_to_bytes(n) if n != "p%41.png" else n.encode() for n in names) == exact
    assert "bad%FF.png" in names and "esc%1B[31m.png" in names and "p%41.png" in names
    for n in names:
        assert (out / "coco/images/default" / n).read_bytes() == original

    # CVAT: annotations.xml parses; its names are the same escaped names.
    root = ET.parse(out / "cvat/annotations.xml").getroot()
    assert sorted(im.get("name") for im in root.iter("image")) == names
    assert all((out / "cvat/images" / n).is_file() for n in names)

    # VOC and YOLO: every file parses, image_names.csv (csv module) maps back to the exact bytes.
    for fmt, img_dir in (("voc", "JPEGImages"), ("yolo", "images/train")):
        rows = _csv_rows(out / fmt / "image_names.csv")
        assert rows[0] == ["name", "source", "source_bytes"]
        assert len(rows) == 1 + len(HOSTILE)  # a bare \r or U+0085 never splits a row
        assert sorted(_exact(src, sb) for _, src, sb in rows[1:]) == exact
        for name, _, _ in rows[1:]:
            assert name.isprintable() and (out / fmt / img_dir / name).read_bytes() == original
    for xml in (out / "voc/Annotations").glob("*.xml"):
        ET.parse(xml)
    ET.parse(out / "labelstudio/labeling_config.xml")

    # Label Studio: tasks.json is valid UTF-8 JSON; data.path is the run's exact path; each
    # URL names the copied image (document root: the export folder).
    tasks = json.loads((out / "labelstudio/tasks.json").read_bytes().decode("utf-8"))
    assert sorted(os.fsencode(t["data"]["path"]) for t in tasks) == exact
    from autolabel.formats.labelstudio import url_to_relpath

    for t in tasks:
        rel = url_to_relpath(t["data"]["image"])
        assert rel.startswith("images/") and (out / "labelstudio" / rel).read_bytes() == original


def test_hostile_names_export_without_copying(runner: CliRunner, hostile_run, tmp_path: Path) -> None:
    """Without --copy-images, Label Studio's URLs percent-encode the exact bytes and the note says
    why Label Studio cannot serve those; nothing is refused."""
    _, run = hostile_run
    out = tmp_path / "out"
    r = runner.invoke(main, ["export", str(run), "-f", "labelstudio,coco,cvat", "-o", str(out)])
    assert r.exit_code == 0, r.output
    tasks = json.loads((out / "labelstudio/tasks.json").read_text(encoding="utf-8"))
    urls = {t["data"]["path"]: t["data"]["image"] for t in tasks}
    assert urls["bad\udcff.png"].endswith("?d=imgs/bad%FF.png")
    assert urls["p%41.png"].endswith("?d=imgs/p%2541.png")
    assert "1 image name(s) are not UTF-8" in r.output and "--copy-images" in r.output


def test_a_class_name_no_format_can_carry_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    # When the vocabulary is built: one line naming the class, before any model loads.
    images = tmp_path / "imgs"
    write_image(images / "a.png")
    r = runner.invoke(main, ["annotate", str(images), "-o", str(tmp_path / "run"), *TINY, "--classes", "cat,do\x1bg"])
    _no_traceback(r.output)
    assert r.exit_code == 1, r.output
    assert len(r.output.strip().splitlines()) == 1 and "do\\x1bg" in r.output and "\x1b" not in r.output
    # At export start (a run written by an older version, or by hand): nothing is written.
    make_run(tmp_path / "old", [("a.jpg", 100, 80, [((1, 1, 50, 50), "sea\x85lion", 0.9, 0.9)])], ["sea\x85lion"])
    r = runner.invoke(main, ["export", str(tmp_path / "old"), "-f", "voc", "-o", str(tmp_path / "out")])
    _no_traceback(r.output)
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1, r.output
    assert "sea\\x85lion" in r.output and "--classes" in r.output
    assert not (tmp_path / "out" / "voc").exists()


# -- item 8: flat names over 255 bytes --------------------------------------------------------


def test_flat_names_over_255_bytes_are_shortened_and_map_back(runner: CliRunner, tmp_path: Path) -> None:
    long_dir, long_file = "d" * 200, "é" * 120 + ".jpg"  # 244 bytes: a legal file name
    paths = [f"{long_dir}/{long_file}", f"{long_dir}/{'é' * 119}x.jpg", "short.jpg"]
    store = make_run(tmp_path / "run", [(p, 64, 48, [((1, 1, 30, 30), "dog", 0.9, 0.9)]) for p in paths], ["dog"])
    root = tmp_path / "images"
    for p in paths:
        write_image(root / p, fmt="JPEG")
    out = tmp_path / "out"
    r = runner.invoke(main, ["export", str(store.run_dir), "-f", "voc,yolo", "-o", str(out), "--copy-images"])
    _no_traceback(r.output)
    assert r.exit_code == 0, r.output
    for fmt in ("voc", "yolo"):
        rows = _csv_rows(out / fmt / "image_names.csv")
        assert sorted(src for _, src, _ in rows[1:]) == sorted(paths)
        names = [n for n, _, _ in rows[1:]]
        assert len(set(names)) == 3 and "short.jpg" in names
        for n in names:
            assert len(n.encode("utf-8")) <= 255 and n.endswith(".jpg")  # and <stem>.xml / .txt fit too
    for f in [*out.rglob("*")]:
        assert len(f.name.encode("utf-8")) <= 255
    # Deterministic: the same run gives the same names.
    r2 = runner.invoke(main, ["export", str(store.run_dir), "-f", "voc", "-o", str(tmp_path / "out2")])
    assert r2.exit_code == 0
    assert (tmp_path / "out2/voc/image_names.csv").read_bytes() == (out / "voc/image_names.csv").read_bytes()
    for xml in (out / "voc/Annotations").glob("*.xml"):
        assert ET.parse(xml).getroot().findtext("filename") in [n for n, _, _ in _csv_rows(out / "voc/image_names.csv")]


# -- item 9: --link-images on a relative symlink ------------------------------------------------


def test_link_images_links_the_target_of_a_relative_symlink(runner: CliRunner, tmp_path: Path) -> None:
    store = make_run(tmp_path / "run", [("l.png", 64, 48, [((1, 1, 30, 30), "dog", 0.9, 0.9)])], ["dog"])
    root = tmp_path / "images"
    write_image(root / "real" / "a.png")
    os.symlink("real/a.png", root / "l.png")  # relative: dangling anywhere else
    out = tmp_path / "out"
    r = runner.invoke(main, ["export", str(store.run_dir), "-f", "coco,cvat", "-o", str(out), "--link-images"])
    assert r.exit_code == 0, r.output
    for linked in (out / "coco/images/default/l.png", out / "cvat/images/l.png"):
        assert linked.exists() and not linked.is_symlink()
        assert os.path.samefile(linked, root / "real" / "a.png")


# -- item 10: copied images for Label Studio, YOLO without images ------------------------------


def test_label_studio_urls_point_at_copied_images(runner: CliRunner, tmp_path: Path) -> None:
    store = make_run(tmp_path / "run", [("cam1/a b.png", 64, 48, [((1, 1, 30, 30), "dog", 0.9, 0.9)])], ["dog"])
    write_image(tmp_path / "images" / "cam1" / "a b.png")
    out = tmp_path / "out"
    r = runner.invoke(main, ["export", str(store.run_dir), "-f", "labelstudio", "-o", str(out), "--copy-images"])
    assert r.exit_code == 0, r.output
    (task,) = json.loads((out / "labelstudio/tasks.json").read_text(encoding="utf-8"))
    assert task["data"]["image"] == "/data/local-files/?d=images/cam1/a%20b.png"
    # The printed setup names the export as document root: d= resolves to the copy.
    assert f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={out / 'labelstudio'} " in r.output
    assert (out / "labelstudio" / "images/cam1/a b.png").is_file()


def test_yolo_export_without_images_says_images_train_is_empty(runner: CliRunner, tmp_path: Path) -> None:
    store = make_run(tmp_path / "run", [("a.png", 64, 48, [])], ["dog"])
    out = tmp_path / "out"
    r = runner.invoke(main, ["export", str(store.run_dir), "-f", "yolo", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "yolo: data.yaml's train/val point at images/train, which this export leaves empty" in r.output
    assert "--copy-images" in r.output and not (out / "yolo/images/train").exists()
    write_image(tmp_path / "images" / "a.png")
    r = runner.invoke(main, ["export", str(store.run_dir), "-f", "yolo", "-o", str(out), "--copy-images"])
    assert r.exit_code == 0 and "leaves empty" not in r.output, r.output


# -- item 14: evaluate a run against its own VOC / YOLO export --------------------------------

NESTED = ["cam1/0001.jpg", "cam2/0001.jpg", "img 003.jpg", "img_003.jpg", "back\\slash.jpg", "IMG.jpg", "img.jpg",
          "deep/er/x.jpg", "x.jpg", "bad\udcff.jpg"]


@pytest.mark.parametrize("fmt,copy", [("voc", False), ("yolo", False), ("yolo", True)])
def test_evaluate_against_own_export_pairs_every_image(runner: CliRunner, tmp_path: Path, fmt: str, copy: bool) -> None:
    sample = [(p, 64, 48, [((1 + i, 1, 30 + i, 30), "dog", 0.9, 0.9)]) for i, p in enumerate(NESTED)]
    store = make_run(tmp_path / "run", sample, ["dog"])
    if copy:
        for p in NESTED:
            write_image(Path(os.fsdecode(os.path.join(os.fsencode(tmp_path / "images"), os.fsencode(p)))), fmt="JPEG")
    out = tmp_path / "out"
    r = runner.invoke(main, ["export", str(store.run_dir), "-f", fmt, "-o", str(out), *(["--copy-images"] if copy else [])])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["evaluate", str(store.run_dir), "--gt", str(out / fmt), "--json", "--no-plot"])
    _no_traceback(r.output)
    assert r.exit_code == 0, r.output
    images = json.loads(r.output)["images"]
    assert images["evaluated"] == len(NESTED), images
    assert images["gt_without_run_image"] == [] and images["run_without_gt"] == 0
    assert images["paired_by"] == {"path": len(NESTED)}


# -- item 16: files and folders follow the umask ----------------------------------------------


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_files_and_folders_follow_the_umask(runner: CliRunner, tmp_path: Path, umask_022) -> None:
    store = make_run(tmp_path / "run", [("a.jpg", 64, 48, [((1, 1, 30, 30), "dog", 0.9, 0.9)])], ["dog"])
    img = next(store.iter_images())
    store.write_revision("test", [img], {"note": "umask"})
    assert _mode(store.run_dir / "manifest.json") == 0o644
    assert _mode(store.run_dir / "predictions.jsonl") == 0o644
    revisions = [p for p in store.run_dir.rglob("*") if "revision" in str(p.relative_to(store.run_dir))]
    assert revisions and all(_mode(p) == (0o755 if p.is_dir() else 0o644) for p in revisions), \
        [(p, oct(_mode(p))) for p in revisions]
    from tests.formats.writers import write_coco

    gt = write_coco(tmp_path / "gt.json", [("a.jpg", 64, 48, [((1, 1, 30, 30), "dog")])], ["dog"])
    r = runner.invoke(main, ["evaluate", str(store.run_dir), "--gt", str(gt), "--no-plot"])
    assert r.exit_code == 0, r.output
    assert _mode(store.run_dir / "evaluation.json") == 0o644
    out = tmp_path / "out"
    r = runner.invoke(main, ["export", str(store.run_dir), "-f", "all", "-o", str(out)])
    assert r.exit_code == 0, r.output
    for p in [out, *out.rglob("*")]:
        assert _mode(p) == (0o755 if p.is_dir() else 0o644), (p, oct(_mode(p)))


def test_datumaro_reads_the_hostile_names_back(runner: CliRunner, hostile_run, tmp_path: Path) -> None:
    """An independent reader of VOC and YOLO finds every image, under the names image_names.csv lists."""
    from datumaro.components.dataset import Dataset

    _, run = hostile_run
    out = tmp_path / "out"
    r = runner.invoke(main, ["export", str(run), "-f", "voc,yolo,coco", "-o", str(out), "--copy-images"])
    assert r.exit_code == 0, r.output
    for fmt in ("voc", "yolo", "coco"):
        ds = Dataset.import_from(str(out / fmt), fmt)
        ids = sorted(item.id.rsplit("/", 1)[-1] for item in ds)
        if fmt == "coco":
            listed = json.loads((out / "coco/annotations/instances_default.json").read_text(encoding="utf-8"))["images"]
            expected = sorted(Path(im["file_name"]).stem for im in listed)
        else:
            expected = sorted(Path(n).stem for n, _, _ in _csv_rows(out / fmt / "image_names.csv")[1:])
        assert ids == expected and len(ids) == len(HOSTILE), (fmt, ids)
        assert sum(len(item.annotations) for item in ds) == sum(
            len(i.detections) for i in RunStore(run).iter_images()), fmt


# -- issue 26 item 4: what a VOC segmentation PNG cannot carry sinks VOC alone ------------------


def _squares_run(run_dir: Path, n_objects: int, classes: list[str], labels: list[str] | None = None) -> Path:
    """A run of ``many.png`` (200x150) with ``n_objects`` masked 2x2 squares, and ``ok.png`` with one."""
    from autolabel import masks
    from autolabel.types import Detection, ImageAnnotations
    from tests.runs import write_run

    def square(i: int, w: int, h: int, label: str, stem: str) -> Detection:
        m = np.zeros((h, w), bool)
        x, y = 10 * (i % 20), 10 * (i // 20)
        m[y:y + 2, x:x + 2] = True
        return Detection(f"{stem}-{i}", masks.bbox(m), label, 0.9, 0.9, mask=masks.encode(m))

    labels = labels or [classes[0]] * n_objects
    many = ImageAnnotations("many.png", 200, 150, tuple(square(i, 200, 150, labels[i], "many") for i in range(n_objects)))
    ok = ImageAnnotations("ok.png", 40, 30, (square(0, 40, 30, classes[0], "ok"),))
    return write_run(run_dir, [many, ok], classes=classes).run_dir


def test_an_image_of_300_objects_fails_voc_alone(runner: CliRunner, tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    run = _squares_run(tmp_path / "run", 300, ["dot"])
    before = (run / "predictions.jsonl").read_bytes()
    out = tmp_path / "out"
    r = runner.invoke(main, ["export", str(run), "-f", "coco,yolo,voc", "-o", str(out)])
    _no_traceback(r.output)
    assert r.exit_code == 1, r.output
    last = r.output.strip().splitlines()[-1]
    assert last == ("error: voc: many.png: 300 objects, object 300 has a mask; a VOC SegmentationObject PNG holds "
                    "objects 1 to 254: write VOC without segmentation PNGs (-O voc_masks=false) or the masks in "
                    "another format (coco, yolo written)"), last
    assert sum(1 for line in r.output.splitlines() if line.startswith("error:")) == 1
    assert len(COCO(str(out / "coco/annotations/instances_default.json")).getAnnIds()) == 301
    assert len((out / "yolo/labels/train/many.txt").read_text(encoding="utf-8").splitlines()) == 300
    assert sorted(p.name for p in out.iterdir()) == ["coco", "yolo"]  # no VOC, no scratch folder
    assert (run / "predictions.jsonl").read_bytes() == before

    # VOC boxes without the PNGs
    r = runner.invoke(main, ["export", str(run), "-f", "voc", "-o", str(out), "-O", "voc_masks=false"])
    assert r.exit_code == 0, r.output
    root = ET.parse(out / "voc/Annotations/many.xml").getroot()
    assert len(root.findall("object")) == 300 and root.findtext("segmented") == "0"
    assert not (out / "voc/SegmentationObject").exists()
    assert (out / "voc/labelmap.txt").read_text(encoding="utf-8") == "dot:::\n"


def test_254_objects_and_254_classes_fit_a_png(runner: CliRunner, tmp_path: Path) -> None:
    from PIL import Image

    classes = [f"c{i:03d}" for i in range(254)]
    run = _squares_run(tmp_path / "run", 254, classes, labels=list(reversed(classes)))
    r = runner.invoke(main, ["export", str(run), "-f", "voc", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    objects = np.asarray(Image.open(tmp_path / "out/voc/SegmentationObject/many.png"))
    classes_png = np.asarray(Image.open(tmp_path / "out/voc/SegmentationClass/many.png"))
    assert objects.max() == 254 and objects[0, 0] == 1 and classes_png[0, 0] == 254


def test_a_run_of_300_classes_names_the_image_and_the_class(runner: CliRunner, tmp_path: Path) -> None:
    classes = [f"c{i:03d}" for i in range(300)]
    run = _squares_run(tmp_path / "run", 8, classes, labels=classes[:7] + ["c299"])
    out = tmp_path / "out"
    r = runner.invoke(main, ["export", str(run), "-f", "voc,coco", "-o", str(out)])
    _no_traceback(r.output)
    assert r.exit_code == 1, r.output
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("error: voc: many.png: object many-7 is class 'c299', number 300 of the run's 300; "
                           "a VOC SegmentationClass PNG holds classes 1 to 254: "), last
    assert last.endswith("(coco written)")
    assert (out / "coco/annotations/instances_default.json").is_file() and not (out / "voc").exists()
