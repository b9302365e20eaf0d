"""YOLO: label lines and ``data.yaml`` as the exporter writes them (table-tested) and the
ground-truth reader."""

import pytest
import yaml

from autolabel.formats import GroundTruthError
from autolabel.formats.yolo import parse_label_file, read_yolo, yolo_data_yaml, yolo_line
from tests.formats.conftest import CLASSES, FLAT, NESTED, boxes_of, datumaro_boxes, expected_boxes
from tests.formats.writers import write_yolo


def _pixels(gt, sizes):
    return type(gt)(gt.format, gt.source, gt.classes, tuple(i.fit_to(*sizes[i.path]) for i in gt.images))


def test_labels_without_images_stay_normalised_until_sized(tmp_path):
    write_yolo(tmp_path / "yolo", FLAT, CLASSES)
    gt = read_yolo(tmp_path / "yolo")
    assert gt.classes == tuple(CLASSES)
    assert [i.path for i in gt.images] == ["a", "b", "c"]  # stems: the extension is unknown
    assert all(i.normalized and i.width is None for i in gt.images)
    assert gt.images[1].boxes == ((0.0, 0.0, 0.2, 0.25),)
    sizes = {"a": (64, 48), "b": (50, 40), "c": (32, 32)}
    assert boxes_of(_pixels(gt, sizes)) == {k.rsplit(".", 1)[0]: v for k, v in expected_boxes(FLAT).items()}


def test_images_give_the_full_relative_path(tmp_path):
    write_yolo(tmp_path / "yolo", NESTED, CLASSES, images=True)
    gt = read_yolo(tmp_path / "yolo")
    assert [i.path for i in gt.images] == ["cam1/0001.jpg", "cam2/0001.jpg"]  # train and val: read once
    assert boxes_of(_pixels(gt, {p: (64, 40) for p in ("cam1/0001.jpg", "cam2/0001.jpg")})) == expected_boxes(NESTED)


def test_same_boxes_as_datumaro(tmp_path):
    write_yolo(tmp_path / "yolo", FLAT, CLASSES, images=True)
    gt = read_yolo(tmp_path / "yolo")
    sizes = {p: (w, h) for p, w, h, _ in FLAT}
    ours = {k.rsplit(".", 1)[0]: v for k, v in boxes_of(_pixels(gt, sizes)).items()}
    assert ours == datumaro_boxes(tmp_path / "yolo", "yolo")


def test_names_as_a_list_polygons_and_a_confidence_column(tmp_path):
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({"names": ["cat", "dog"]}))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "x.txt").write_text("1 0.5 0.5 0.2 0.4\n0 0.1 0.1 0.3 0.1 0.2 0.4\n1 0.5 0.5 0.2 0.2 0.9\n")
    gt = read_yolo(tmp_path)
    img = gt.images[0]
    assert img.labels == ("dog", "cat", "dog")
    assert [tuple(round(v, 9) for v in b) for b in img.boxes] == [(0.4, 0.3, 0.6, 0.7), (0.1, 0.1, 0.3, 0.4), (0.4, 0.4, 0.6, 0.6)]


@pytest.mark.parametrize("line,match", [
    ("7 0.5 0.5 0.1 0.1", r"x\.txt: line 1: class 7 is not in data.yaml's names"),
    ("0 0.5 0.5", r"x\.txt: line 1: expected 5 columns"),
    ("a 0.5 0.5 0.1 0.1", r"x\.txt: line 1: expected 'class xc yc w h' numbers"),
])
def test_bad_label_lines_name_file_and_line(tmp_path, line, match):
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({"names": {0: "cat"}}))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "x.txt").write_text(line + "\n")
    with pytest.raises(GroundTruthError, match=match):
        read_yolo(tmp_path)


def test_names_must_run_without_gaps(tmp_path):
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({"names": {0: "cat", 2: "dog"}}))
    with pytest.raises(GroundTruthError, match="data.yaml: 'names' keys must run 0..1 without gaps"):
        read_yolo(tmp_path)


def test_no_label_files_is_an_error(tmp_path):
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({"names": {0: "cat"}, "train": "images/train"}))
    (tmp_path / "images" / "train").mkdir(parents=True)
    with pytest.raises(GroundTruthError, match="no YOLO label files found"):
        read_yolo(tmp_path)


# -- what the exporter writes ----------------------------------------------------------------


@pytest.mark.parametrize("cls, box, w, h, line", [
    (0, (0.0, 0.0, 64.0, 48.0), 64, 48, "0 0.500000 0.500000 1.000000 1.000000\n"),      # every border
    (3, (0.0, 0.0, 16.0, 12.0), 64, 48, "3 0.125000 0.125000 0.250000 0.250000\n"),      # top-left corner
    (5, (48.0, 36.0, 64.0, 48.0), 64, 48, "5 0.875000 0.875000 0.250000 0.250000\n"),    # bottom-right corner
    (1, (10.0, 10.0, 10.0001, 10.0001), 100, 100, "1 0.100000 0.100000 0.000001 0.000001\n"),  # never 1e-06
])
def test_yolo_line(cls, box, w, h, line):
    assert yolo_line(cls, box, w, h) == line
    fields = line.split()
    assert len(fields) == 5 and all(f.replace(".", "").isdigit() for f in fields)  # datumaro's probe


def test_yolo_line_with_score_has_six_columns():
    assert yolo_line(2, (0.0, 0.0, 32.0, 24.0), 64, 48, score=0.9125) == "2 0.250000 0.250000 0.500000 0.500000 0.912500\n"


def test_yolo_line_is_centre_based():
    assert yolo_line(0, (10.0, 20.0, 30.0, 60.0), 100, 80) == "0 0.200000 0.500000 0.200000 0.500000\n"


def test_data_yaml_names_in_key_order():
    text = yolo_data_yaml(["b: colon", "salt & pepper, shaker", "jack-o'-lantern", "[x]", "#hash"], "train")
    data = yaml.safe_load(text)
    assert "path" not in data
    assert data["train"] == data["val"] == "images/train"
    assert list(data["names"].items()) == list(enumerate(["b: colon", "salt & pepper, shaker", "jack-o'-lantern", "[x]", "#hash"]))


def test_written_lines_read_back_as_the_same_boxes(tmp_path):
    boxes = [(0.0, 0.0, 64.0, 48.0), (10.5, 12.25, 40.0, 30.0)]
    txt = tmp_path / "a.txt"
    txt.write_text(yolo_line(1, boxes[0], 64, 48) + yolo_line(0, boxes[1], 64, 48, score=0.5), encoding="utf-8")
    got, labels = parse_label_file(txt, ["person", "dog"])
    assert labels == ("dog", "person")
    for (x1, y1, x2, y2), want in zip(got, boxes):
        assert (x1 * 64, y1 * 48, x2 * 64, y2 * 48) == pytest.approx(want, abs=1e-4)  # 6 decimals
