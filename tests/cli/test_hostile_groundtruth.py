"""Hostile ground truth met by ``autolabel evaluate`` (issue 14, item 13): every malformed file
is exit code 1 and one line naming the file and the field; never a traceback, never a silent
misreading (COCO ``"bbox": "1234"`` is not ``[1, 2, 3, 4]``); a zip bomb is refused.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from tests.evaluate.fixtures import RUN, make_run


def _coco(images: object = None, annotations: object = None, categories: object = None) -> str:
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}] if images is None else images,
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40]}]
        if annotations is None else annotations,
        "categories": [{"id": 1, "name": "dog"}] if categories is None else categories,
    }
    return json.dumps(doc)


def _ann(**kw: object) -> list[dict[str, object]]:
    return [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], **kw}]


def _write_coco(text: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / "gt.json"
        p.write_text(text, encoding="utf-8")
        return p
    return make


def _write_bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name
    return make


def _voc(width: str = "100", labelmap: bytes | None = None, xmin: str = "11") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        root = tmp / "voc"
        (root / "Annotations").mkdir(parents=True)
        (root / "Annotations" / "a.xml").write_text(
            f"<annotation><filename>a.jpg</filename><size><width>{width}</width><height>80</height></size>"
            f"<object><name>dog</name><bndbox><xmin>{xmin}</xmin><ymin>11</ymin><xmax>50</xmax><ymax>50</ymax>"
            "</bndbox></object></annotation>", encoding="utf-8")
        if labelmap is not None:
            (root / "labelmap.txt").write_bytes(labelmap)
        return root
    return make


def _yolo_list(listing: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        root = tmp / "yolo"
        (root / "labels" / "train").mkdir(parents=True)
        (root / "images" / "train").mkdir(parents=True)
        (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n", encoding="utf-8")
        (root / "train.txt").write_bytes(listing)
        (root / "data.yaml").write_text("train: train.txt\nnames: [dog]\n", encoding="utf-8")
        return root
    return make


def _yolo_label(line: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        root = tmp / "yolo"
        (root / "labels" / "train").mkdir(parents=True)
        (root / "labels" / "train" / "a.txt").write_text(line + "\n", encoding="utf-8")
        (root / "data.yaml").write_text("train: images/train\nnames: [dog]\n", encoding="utf-8")
        return root
    return make


def _cvat(box_attrs: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / "annotations.xml"
        p.write_text('<annotations><version>1.1</version><image id="0" name="a.jpg" width="100" height="80">'
                     f'<box label="dog" xtl="10" ytl="10" xbr="50" ybr="50" {box_attrs}/></image></annotations>',
                     encoding="utf-8")
        return p
    return make


CASES = {
    # COCO: numbers that are not finite, lists given as ints, ids given as lists, a string bbox
    "coco width Infinity": (_write_coco(_coco(images=[{"id": 1, "file_name": "a.jpg", "width": float("inf"), "height": 80}])),
                            "images[0]: 'width' must be a positive integer, got inf"),
    "coco width 1e400": (_write_coco(_coco().replace('"width": 100', '"width": 1e400')),
                         "images[0]: 'width' must be a positive integer, got inf"),
    "coco width of 400 digits": (_write_coco(_coco().replace('"width": 100', '"width": 1' + "0" * 400)),
                                 "images[0]: 'width' must be a positive integer, got 1000"),
    "coco width of 5000 digits": (_write_coco(_coco().replace('"width": 100', '"width": 1' + "0" * 5000)),
                                  "cannot read COCO JSON (Exceeds the limit (4300 digits)"),
    "coco bbox of 400 digits": (_write_coco(_coco(annotations=_ann(bbox=[1, 1, 10**400, 4]))),
                                "annotations[0]: 'bbox' has a non-finite value"),
    "coco annotations is an int": (_write_coco(_coco(annotations=5)), "'annotations' must be a list, got 5"),
    "coco categories is an int": (_write_coco(_coco(categories=7)), "'categories' must be a list, got 7"),
    "coco image id is a list": (_write_coco(_coco(images=[{"id": [1], "file_name": "a.jpg"}])),
                                "images[0]: 'id' must be an integer or a string, got [1]"),
    "coco image_id is a list": (_write_coco(_coco(annotations=_ann(image_id=[1]))),
                                "annotations[0]: 'image_id' must be an integer or a string, got [1]"),
    "coco category_id is a list": (_write_coco(_coco(annotations=_ann(category_id=[1]))),
                                   "annotations[0]: 'category_id' must be an integer or a string, got [1]"),
    "coco bbox is a string": (_write_coco(_coco(annotations=_ann(bbox="1234"))),
                              "annotations[0]: 'bbox' must be a list [x, y, w, h] of 4 numbers, got '1234'"),
    "coco bbox holds Infinity": (_write_coco(_coco(annotations=_ann(bbox=[1, 1, float("inf"), 4]))),
                                 "annotations[0]: 'bbox' has a non-finite value"),
    "coco file_name is a list": (_write_coco(_coco(images=[{"id": 1, "file_name": ["a.jpg"]}])),
                                 "images[0]: 'file_name' must be a non-empty string"),
    "coco 100k-deep nesting": (_write_coco('{"images": ' + "[" * 100_000 + "]" * 100_000 + "}"), "nested too deeply"),
    "coco not UTF-8": (_write_bytes("gt.json", b'{"images": ["\xff"]}'), "not UTF-8 text"),
    # VOC
    "voc width inf": (_voc(width="inf"), "<size><width> must be an integer, got 'inf'"),
    "voc xmin nan": (_voc(xmin="nan"), "<xmin> must be a finite number, got 'nan'"),
    "voc labelmap not UTF-8": (_voc(labelmap=b"dog:::\n\xffcat:::\n"), "labelmap.txt: not UTF-8 text"),
    # YOLO
    "yolo image list not UTF-8": (_yolo_list(b"images/train/a.jpg\nimages/train/\xff.jpg\n"),
                                  "train.txt (the train image list): not UTF-8 text"),
    "yolo label inf": (_yolo_label("0 inf 0.5 0.2 0.2"), "line 1: a value is not a finite number"),
    # CVAT
    "cvat rotation abc": (_cvat('rotation="abc"'), "attribute rotation must be a number, got 'abc'"),
}


def _yolo_names_list(tmp: Path) -> Path:
    root = _yolo_label("0 0.5 0.5 0.2 0.2")(tmp)
    (root / "data.yaml").write_text("train: images/train\nnames: [[dog]]\n", encoding="utf-8")
    return root


def _cvat_inf(tmp: Path) -> Path:
    p = _cvat('occluded="0"')(tmp)
    p.write_text(p.read_text(encoding="utf-8").replace('xtl="10"', 'xtl="inf"'), encoding="utf-8")
    return p


CASES["yolo names hold a list"] = (_yolo_names_list, "every class in 'names' must be a name, got ['dog']")
CASES["cvat xtl inf"] = (_cvat_inf, "attribute xtl must be a finite number, got 'inf'")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run", RUN).run_dir


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_groundtruth_is_one_line_naming_file_and_field(case: str, tmp_path: Path, run_dir: Path) -> None:
    make, expected = CASES[case]
    gt = make(tmp_path)
    r = CliRunner().invoke(main, ["evaluate", str(run_dir), "--gt", str(gt), "--no-plot"])
    assert "Traceback" not in r.output, r.output
    assert r.exit_code == 1, r.output[-2000:]
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 400, r.output[:2000]
    assert str(tmp_path) in lines[0]  # names the file
    assert expected in lines[0], lines[0]


def test_a_zip_bomb_is_refused(tmp_path: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A few kB that unpack to more than the cap: refused while inflating, nothing kept."""
    import autolabel.formats

    monkeypatch.setattr(autolabel.formats, "MAX_UNPACKED_BYTES", 1 << 20)
    z = tmp_path / "gt.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("annotations.xml", b"<annotations>" + b" " * (8 << 20) + b"</annotations>")
    assert z.stat().st_size < 64 << 10
    r = CliRunner().invoke(main, ["evaluate", str(run_dir), "--gt", str(z), "--no-plot"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{z}: unpacks to more than 1,048,576 bytes of annotations (a zip bomb?)" in r.output


def test_a_zip_with_too_many_members_is_refused(tmp_path: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import autolabel.formats

    monkeypatch.setattr(autolabel.formats, "MAX_ZIP_MEMBERS", 10)
    z = tmp_path / "gt.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for i in range(11):
            zf.writestr(f"Annotations/{i}.xml", b"<annotation/>")
    r = CliRunner().invoke(main, ["evaluate", str(run_dir), "--gt", str(z), "--no-plot"])
    assert r.exit_code == 1 and f"{z}: holds 11 members, more than 10" in r.output


def test_a_zip_with_images_unpacks_them_as_names_only(tmp_path: Path, run_dir: Path) -> None:
    """Images in a CVAT export zip are not unpacked (the readers need their names only)."""
    from tests.formats.writers import write_cvat

    xml = write_cvat(tmp_path / "annotations.xml", [("a.jpg", 100, 80, [((10, 10, 50, 50), "dog")])], ["dog"])
    z = tmp_path / "task.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(xml, "annotations.xml")
        zf.writestr("images/a.jpg", b"\0" * (4 << 20))
    r = CliRunner().invoke(main, ["evaluate", str(run_dir), "--gt", str(z), "--no-plot"])
    assert r.exit_code == 0, r.output
    assert "Images: 1 evaluated" in r.output
