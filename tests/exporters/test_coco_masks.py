"""COCO masks read back by pycocotools (``annToMask``), datumaro and ``COCOeval(iouType="segm")``."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from autolabel import masks
from autolabel.export import export
from tests.exporters.masked_sample import SHAPES, filled, masked_detections


def _load(folder: Path):
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(folder / "coco/annotations/instances_default.json"))


def _by_autolabel_id(gt) -> dict[tuple[str, str], dict]:
    return {(gt.imgs[a["image_id"]]["file_name"], a["autolabel_id"]): a for a in gt.anns.values()}


def test_polygons_by_default_give_back_the_mask(masked_run: Path, tmp_path: Path):
    export(masked_run, "coco", tmp_path)
    gt = _load(tmp_path)
    anns = _by_autolabel_id(gt)
    assert len(anns) == sum(len(d) for _, _, d in SHAPES.values())
    for path, det_id, _, m in masked_detections():
        a = anns[(path, det_id)]
        assert isinstance(a["segmentation"], list) and all(len(p) >= 6 and len(p) % 2 == 0 for p in a["segmentation"])
        got = gt.annToMask(a).astype(bool)
        iou = masks.mask_iou(got, filled(m))
        print(f"{path} {det_id}: {len(a['segmentation'])} polygon(s), IoU with the filled mask {iou:.3f}, "
              f"with the stored RLE {masks.mask_iou(got, m):.3f}")
        assert iou >= 0.9, (path, det_id, iou)
        assert a["area"] == int(m.sum())  # the mask's area, also where a polygon fills a hole
    assert len(anns[("a.jpg", "a-1")]["segmentation"]) == 2  # an object in two parts: two polygons
    box = anns[("a.jpg", "a-3")]  # a box without a mask stays a box
    assert box["segmentation"] == [] and box["area"] == pytest.approx(30.5 * 11.25)


def test_rle_mode_is_exact(masked_run: Path, tmp_path: Path):
    export(masked_run, "coco", tmp_path, segmentation="rle", coco_results=True)
    gt = _load(tmp_path)
    anns = _by_autolabel_id(gt)
    for path, det_id, _, m in masked_detections():
        a = anns[(path, det_id)]
        assert set(a["segmentation"]) == {"size", "counts"}
        assert masks.mask_iou(gt.annToMask(a).astype(bool), m) == 1.0
        assert a["area"] == int(m.sum())
    assert anns[("a.jpg", "a-3")]["segmentation"] == []
    results = json.loads((tmp_path / "coco/results-default.json").read_text())
    assert sum("segmentation" in r for r in results) == len(masked_detections())


def test_polygon_tolerance_option(masked_run: Path, tmp_path: Path):
    export(masked_run, "coco", tmp_path / "fine", polygon_tolerance=0)
    export(masked_run, "coco", tmp_path / "coarse", polygon_tolerance="3")
    fine, coarse = _by_autolabel_id(_load(tmp_path / "fine")), _by_autolabel_id(_load(tmp_path / "coarse"))
    ring = ("a.jpg", "a-2")
    assert sum(map(len, coarse[ring]["segmentation"])) < sum(map(len, fine[ring]["segmentation"]))
    # tolerance 0: the contour runs along pixel borders, so the filled polygon is the (filled) mask exactly
    gt = _load(tmp_path / "fine")
    for path, det_id, _, m in masked_detections():
        assert (gt.annToMask(fine[(path, det_id)]).astype(bool) == filled(m)).all(), det_id


def test_segm_evaluation_of_the_export_against_itself(masked_run: Path, tmp_path: Path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    export(masked_run, "coco", tmp_path, segmentation="rle", coco_results=True)
    doc = json.loads((tmp_path / "coco/annotations/instances_default.json").read_text())
    # pycocotools' segm mode cannot rasterise the empty segmentation of a box without a mask
    doc["annotations"] = [a for a in doc["annotations"] if a["segmentation"]]
    results = [r for r in json.loads((tmp_path / "coco/results-default.json").read_text()) if "segmentation" in r]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = doc
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_datumaro_reads_polygons_and_rle(masked_run: Path, tmp_path: Path):
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset

    export(masked_run, "coco", tmp_path / "poly", copy_images=True)
    export(masked_run, "coco", tmp_path / "rle", segmentation="rle", copy_images=True)
    for mode, kind in (("poly", AnnotationType.polygon), ("rle", AnnotationType.mask)):
        ds = Dataset.import_from(str(tmp_path / mode / "coco"), "coco")
        n = 0
        for item in ds:
            path = next(p for p in SHAPES if p.rsplit(".", 1)[0] == item.id)
            w, h = SHAPES[path][0], SHAPES[path][1]
            shapes = [a for a in item.annotations if a.type == kind]
            assert all(a.label is not None for a in shapes)
            got = np.zeros((h, w), bool)
            for a in shapes:
                got |= a.image.astype(bool) if kind == AnnotationType.mask else _fill_dm_polygon(a, h, w)
            want = np.zeros((h, w), bool)
            for p, _, _, m in masked_detections():
                if p == path:
                    want |= m if mode == "rle" else filled(m)
            if mode == "rle":
                assert (got == want).all(), item.id
            else:
                assert masks.mask_iou(got, want) >= 0.95 if want.any() else not got.any(), item.id
            n += len(shapes)
        # one shape per part: the two-part object gives two polygons in polygon mode
        assert n == len(masked_detections()) + (1 if mode == "poly" else 0), mode


def _fill_dm_polygon(a, h: int, w: int) -> np.ndarray:
    from autolabel.formats.polygons import polygons_to_mask

    return polygons_to_mask([np.asarray(a.points).reshape(-1, 2)], h, w)
