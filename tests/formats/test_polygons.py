"""Masks to polygons and back (:mod:`autolabel.formats.polygons`), checked against pycocotools'
polygon rasteriser (``frPyObjects``), which every COCO reader uses."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from autolabel import masks
from autolabel.formats.polygons import (
    hole_area,
    join_parts,
    mask_to_polygons,
    polygons_bbox,
    polygons_to_mask,
    signed_area,
)
from autolabel.formats.voc import voc_colormap

H, W = 60, 80
YY, XX = np.mgrid[:H, :W]


def _shapes() -> dict[str, np.ndarray]:
    rect = np.zeros((H, W), bool)
    rect[10:30, 20:50] = True
    two = np.zeros((H, W), bool)
    two[5:15, 5:15] = True
    two[40:55, 60:78] = True
    ell = np.zeros((H, W), bool)
    ell[:, :10] = True
    ell[50:, :] = True
    pixel = np.zeros((H, W), bool)
    pixel[3, 3] = True
    thin = np.zeros((H, W), bool)
    thin[3:5, 3:30] = True
    diagonal = np.zeros((H, W), bool)
    diagonal[20:22, 20:22] = True
    diagonal[22:24, 22:24] = True  # touches the first square at a corner only
    return {
        "rect": rect, "disc": (XX - 40) ** 2 + (YY - 30) ** 2 < 15 ** 2, "two parts": two, "L on two borders": ell,
        "pixel": pixel, "thin": thin, "diagonal": diagonal, "full": np.ones((H, W), bool),
        "ellipse": ((XX - 30) / 25.0) ** 2 + ((YY - 28) / 9.0) ** 2 < 1,
    }


SHAPES = _shapes()


def _coco_fill(polys, h=H, w=W) -> np.ndarray:
    flat = [[float(v) for v in p.ravel()] for p in polys]
    return coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(flat, h, w))).astype(bool)


@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.parametrize("tolerance", [0.0, 1.0, 2.0])
def test_filled_polygons_reproduce_the_mask(name, tolerance):
    m = SHAPES[name]
    polys = mask_to_polygons(m, tolerance)
    assert all(len(p) >= 3 and (p >= 0).all() and (p[:, 0] <= W).all() and (p[:, 1] <= H).all() for p in polys)
    ours, theirs = polygons_to_mask(polys, H, W), _coco_fill(polys)
    if tolerance == 0:  # the contour runs along pixel borders: exact for both rasterisers
        assert (ours == m).all() and (theirs == m).all()
    floor = 0.9 if tolerance <= 1 else 0.85
    assert masks.mask_iou(ours, m) >= floor and masks.mask_iou(theirs, m) >= floor, (name, tolerance)
    assert polygons_bbox(polys) == pytest.approx(masks.bbox(m), abs=tolerance + 1e-9)


def test_parts_holes_and_simplification():
    assert len(mask_to_polygons(SHAPES["two parts"])) == 2
    assert [len(p) for p in mask_to_polygons(SHAPES["rect"])] == [4]  # a rectangle is its 4 corners
    assert len(mask_to_polygons(SHAPES["diagonal"])) == 2  # parts are 4-connected
    disc = SHAPES["disc"]
    assert len(mask_to_polygons(disc, 0)[0]) > len(mask_to_polygons(disc, 1)[0]) > len(mask_to_polygons(disc, 3)[0])
    ring = disc & ~((XX - 40) ** 2 + (YY - 30) ** 2 < 6 ** 2)
    (poly,) = mask_to_polygons(ring, 0)  # the outer boundary only: the hole is filled
    assert (polygons_to_mask([poly], H, W) == disc).all()
    assert hole_area(ring) == int((disc & ~ring).sum()) and hole_area(disc) == 0
    assert mask_to_polygons(np.zeros((H, W), bool)) == []
    assert signed_area(mask_to_polygons(SHAPES["rect"])[0]) == pytest.approx(-600.0)  # counter-clockwise on screen
    with pytest.raises(ValueError):
        mask_to_polygons(SHAPES["rect"], -1)


def test_rle_input_and_join():
    m = SHAPES["two parts"]
    assert all((a == b).all() for a, b in zip(mask_to_polygons(masks.encode(m)), mask_to_polygons(m)))
    joined = join_parts(mask_to_polygons(m))
    assert (polygons_to_mask([joined], H, W) == m).all()
    assert (_coco_fill([joined]) == m).all()  # the bridges have no area for pycocotools either
    assert len(join_parts([])) == 0


def test_rasteriser_by_pixel_centres():
    tri = [(0, 0), (4, 0), (0, 4)]
    got = polygons_to_mask([tri], 5, 5)
    centres = [(x + 0.5, y + 0.5) for y in range(5) for x in range(5)]
    assert got.ravel().tolist() == [x + y < 4 for x, y in centres]
    assert not polygons_to_mask([[(0, 0), (3, 3)]], 4, 4).any()  # fewer than 3 vertices: nothing


def test_voc_colormap():
    cmap = voc_colormap()
    assert cmap[:4] == [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
    assert cmap[15] == (192, 128, 128) and cmap[255] == (224, 224, 192)


def test_scikit_image_is_imported_only_when_a_polygon_is_made():
    import subprocess

    code = ("import sys, autolabel.formats, autolabel.formats.polygons, exporters.coco, exporters.cvat, "
            "exporters.labelstudio, exporters.voc, exporters.yolo_seg; print('skimage' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
