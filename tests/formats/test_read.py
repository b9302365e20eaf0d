import zipfile

import pytest

from autolabel.formats import GroundTruthError, GroundTruthImage, detect_format, read_groundtruth
from tests.formats.conftest import CLASSES, FLAT, boxes_of, expected_boxes
from tests.formats.writers import write_all, write_cvat


def test_formats_are_detected_from_the_path(tmp_path):
    paths = write_all(tmp_path, FLAT, CLASSES)
    assert {f: detect_format(p) for f, p in paths.items()} == {f: f for f in paths}
    assert detect_format(tmp_path / "coco") == "coco"  # the exporter's folder
    assert detect_format(tmp_path / "cvat") == "cvat"
    assert detect_format(tmp_path / "yolo" / "data.yaml") == "yolo"


def test_every_format_reads_the_same_boxes(tmp_path):
    paths = write_all(tmp_path, FLAT, CLASSES)
    sizes = {p.rsplit(".", 1)[0]: (w, h) for p, w, h, _ in FLAT}
    want = {k.rsplit(".", 1)[0]: v for k, v in expected_boxes(FLAT).items()}
    for fmt, p in paths.items():
        gt = read_groundtruth(p)
        assert gt.format == fmt
        fitted = type(gt)(fmt, gt.source, gt.classes, tuple(i.fit_to(*sizes[i.path.rsplit(".", 1)[0]]) for i in gt.images))
        assert {k.rsplit(".", 1)[0]: v for k, v in boxes_of(fitted).items()} == want, fmt


def test_unknown_paths_are_named(tmp_path):
    with pytest.raises(GroundTruthError, match=f"ground truth {tmp_path / 'nope'} does not exist"):
        read_groundtruth(tmp_path / "nope")
    (tmp_path / "labels.csv").write_text("x")
    with pytest.raises(GroundTruthError, match=r"labels\.csv.*--gt-format"):
        read_groundtruth(tmp_path / "labels.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GroundTruthError, match=r"folder .*empty.*data\.yaml \(YOLO\), Annotations/ \(VOC\)"):
        read_groundtruth(tmp_path / "empty")
    with pytest.raises(GroundTruthError, match="unknown ground-truth format 'kitti'"):
        read_groundtruth(tmp_path / "empty", "kitti")


def test_format_override_reads_an_oddly_named_file(tmp_path):
    p = write_cvat(tmp_path / "labels.txt", FLAT, CLASSES)
    assert boxes_of(read_groundtruth(p, "cvat")) == expected_boxes(FLAT)


@pytest.mark.parametrize("nested", [False, True])
def test_zip_archives_are_read(tmp_path, nested):
    p = write_cvat(tmp_path / "src" / "annotations.xml", FLAT, CLASSES)
    z = tmp_path / "task.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(p, "export/annotations.xml" if nested else "annotations.xml")
    gt = read_groundtruth(z)
    assert gt.source == z and gt.format == "cvat"
    assert boxes_of(gt) == expected_boxes(FLAT)


def test_fit_to_scales_clips_and_drops_empty_boxes():
    g = GroundTruthImage("a.jpg", 200, 100, ((10, 10, 50, 50), (-5, 90, 300, 120), (250, 0, 260, 10)), ("a", "b", "c"))
    f = g.fit_to(100, 50)  # labelled at twice the size
    assert f.boxes == ((5.0, 5.0, 25.0, 25.0), (0.0, 45.0, 100.0, 50.0))
    assert f.labels == ("a", "b") and (f.width, f.height) == (100, 50)
    n = GroundTruthImage("a", None, None, ((0.1, 0.2, 0.5, 1.0),), ("a",), normalized=True).fit_to(100, 50)
    assert n.boxes == ((10.0, 10.0, 50.0, 50.0),) and not n.normalized


def test_records_validate():
    with pytest.raises(GroundTruthError, match="2 boxes but 1 labels"):
        GroundTruthImage("a.jpg", 10, 10, ((0, 0, 1, 1), (0, 0, 2, 2)), ("a",))
    with pytest.raises(GroundTruthError, match="width must be a positive int"):
        GroundTruthImage("a.jpg", 0, 10)
