"""The crowd subset of a labelled set and the count of boxes that cover a cluster of objects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.formats.base import GroundTruthImage
from autolabel.tools.devset.crowds import cluster_boxes, cluster_members, crowded
from autolabel.tools.devset.labelled import LabelledSet, save_records
from autolabel.types import Detection, ImageAnnotations

OBJS = np.array([(10, 10, 30, 30), (32, 10, 52, 30), (54, 10, 74, 30), (10, 60, 30, 80)], dtype=float)


def test_cluster_members() -> None:
    assert cluster_members((10, 10, 52, 30), OBJS) == [0, 1]  # two objects side by side in one box
    assert cluster_members((10, 10, 74, 30), OBJS) == [0, 1, 2]
    assert cluster_members((10, 10, 30, 30), OBJS) == []  # one object, exactly
    assert cluster_members((9, 9, 33, 31), OBJS) == []  # one object, loosely (its own IoU is the best)
    assert cluster_members((0, 0, 100, 100), OBJS) == []  # a backdrop box fits no group at IoU 0.5
    assert cluster_members((10, 10, 52, 30), OBJS[:1]) == []  # one object in the image
    row = np.array([(10.0 * k, 0, 10.0 * k + 8, 8) for k in range(8)])
    assert cluster_members((0, 0, 28, 8), row) == [0, 1, 2]
    assert cluster_members((0, 0, 78, 8), row) == []  # eight objects: a box on the whole scene
    assert cluster_members((0, 0, 78, 8), row, max_members=8) == list(range(8))


def _gt(path: str, n: int, crowd: int = 0) -> GroundTruthImage:
    boxes = tuple((10.0 * k, 0.0, 10.0 * k + 8, 8.0) for k in range(n + crowd))
    return GroundTruthImage(path, 200, 100, boxes, ("o",) * len(boxes), ignore=(False,) * n + (True,) * crowd)


def test_crowded_counts_objects_not_crowd_regions() -> None:
    s = LabelledSet(Path("a.json"), Path("."), (_gt("a.png", 8), _gt("b.png", 7, crowd=3), _gt("c.png", 12)))
    assert [g.path for g in crowded(s, 8).images] == ["a.png", "c.png"]
    assert [g.path for g in crowded(s, 1).images] == ["a.png", "b.png", "c.png"]


def test_cluster_boxes_counts_boxes_objects_and_images() -> None:
    g = GroundTruthImage("a.png", 100, 100, tuple(map(tuple, OBJS)), ("o",) * 4)
    dets = (Detection("a-0", (10, 10, 52, 30), "o", 0.9, 0.9), Detection("a-1", (32, 10, 74, 30), "o", 0.8, 0.8),
            Detection("a-2", (10, 60, 30, 80), "o", 0.7, 0.7))
    rec = ImageAnnotations("a.png", 100, 100, dets)
    other = (GroundTruthImage("b.png", 100, 100, tuple(map(tuple, OBJS)), ("o",) * 4),
             ImageAnnotations("b.png", 100, 100, (Detection("b-0", (10, 60, 30, 80), "o", 0.9, 0.9),)))
    c = cluster_boxes([(g, rec), other])
    assert (c.boxes, c.objects, c.images) == (2, 3, 1)  # objects 0, 1 and 2; object 1 under both boxes counts once


def _folder(tmp_path: Path) -> tuple[Path, Path]:
    from PIL import Image

    root = tmp_path / "images"
    root.mkdir()
    ims, anns = [], []
    for k, n in enumerate((9, 2)):
        Image.new("RGB", (120, 100), (40 * k, 90, 150)).save(root / f"{k}.png")
        ims.append({"id": k + 1, "file_name": f"{k}.png", "width": 120, "height": 100})
        for j in range(n):
            anns.append({"id": len(anns) + 1, "image_id": k + 1, "category_id": 1, "bbox": [12 * j, 10, 10, 10],
                         "iscrowd": 0, "area": 100})
    ann = tmp_path / "gt.json"
    ann.write_text(json.dumps({"images": ims, "annotations": anns, "categories": [{"id": 1, "name": "o"}]}))
    return ann, root


def test_devset_min_objects_measures_the_crowded_images_and_counts_cluster_boxes(tmp_path: Path) -> None:
    ann, root = _folder(tmp_path)
    recs = tmp_path / "r.jsonl"
    save_records(recs, [ImageAnnotations("0.png", 120, 100, (Detection("0-0", (0, 10, 22, 20), "o", 0.9, 0.9),)),
                        ImageAnnotations("1.png", 120, 100, (Detection("1-0", (0, 10, 22, 20), "o", 0.9, 0.9),))])
    args = ["devset", "--annotations", str(ann), "--images", str(root), "--records", str(recs), "--json"]
    every = CliRunner().invoke(main, args)
    crowd = CliRunner().invoke(main, [*args, "--min-objects", "8"])
    assert every.exit_code == 0 and crowd.exit_code == 0, (every.output, crowd.output)
    a, b = json.loads(every.output)["reports"][0], json.loads(crowd.output)["reports"][0]
    assert (a["images"], a["gt_boxes"], a["cluster_boxes"], a["objects_in_cluster_boxes"]) == (2, 11, 2, 4)
    assert (b["images"], b["gt_boxes"], b["cluster_boxes"], b["objects_in_cluster_boxes"]) == (1, 9, 1, 2)
    table = CliRunner().invoke(main, args[:-1] + ["--min-objects", "8"])
    assert table.exit_code == 0 and "cluster boxes: 1 covering 2 objects in 1 images" in table.output
    bad = CliRunner().invoke(main, ["devset", "--min-objects", "8"])
    assert bad.exit_code == 2 and "--annotations" in bad.output
