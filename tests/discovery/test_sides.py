"""Masks on the object's side: solid masks, background regions, and planted scenes through
discovery and refinement.

Planted scenes are label grids (one label per patch: 0 background, 1 and 3 objects, 2 a
frame); their keys give every label its own direction (a centred simplex: any two labels have
cosine -1 / (k - 1)) plus a little noise, as a feature extractor would give clearly distinct
things. Their pixels paint each label its own colour, with noise, at 16 px a patch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autolabel.discovery.maskcut import maskcut_regions
from autolabel.discovery.refine import refine_region, work_image
from autolabel.discovery.regions import region_from_mask
from autolabel.discovery.sides import encloses_objects, hole_share, image_borders, solid
from autolabel.discovery.tokencut import tokencut_regions
from autolabel.discovery.votes import vote_regions

H, W = 15, 20  # grid (patches)
P = 16  # pixels per patch
COLOURS = {0: (0.25, 0.5, 0.2), 1: (0.85, 0.35, 0.1), 2: (0.97, 0.97, 0.95), 3: (0.2, 0.3, 0.8)}


def planted(name: str) -> np.ndarray:
    """``(H, W)`` int label grid of a planted scene."""
    lab = np.zeros((H, W), dtype=np.int64)
    if name == "uniform":  # an object on a large uniform background
        lab[5:9, 7:12] = 1
    elif name == "frame":  # an object inside a photo with a white frame (a 2-patch ring)
        lab[:] = 2
        lab[2:-2, 2:-2] = 0
        lab[6:10, 8:12] = 1
    elif name == "border":  # an object cut by the left and bottom borders
        lab[8:, 0:5] = 1
    elif name == "two":  # two objects
        lab[3:7, 3:7] = 1
        lab[8:12, 12:17] = 3
    return lab


def keys_of(lab: np.ndarray, noise: float = 0.05, seed: int = 0) -> torch.Tensor:
    """``(H * W, 8)`` float32 keys: each label's simplex direction plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    dirs = np.eye(8)[:4] - np.eye(8)[:4].mean(axis=0)
    k = dirs[lab.ravel()] + noise * rng.normal(size=(lab.size, 8))
    return torch.tensor(k, dtype=torch.float32)


def pixels_of(lab: np.ndarray, seed: int = 0) -> np.ndarray:
    """``(H * P, W * P, 3)`` float32 RGB: each label's colour plus noise."""
    rng = np.random.default_rng(seed)
    up = np.repeat(np.repeat(lab, P, axis=0), P, axis=1)
    img = np.stack([np.asarray(COLOURS[int(v)]) for v in range(4)])[up]
    return np.clip(img + rng.normal(0.0, 0.03, img.shape), 0.0, 1.0).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def objects_of(lab: np.ndarray) -> list[np.ndarray]:
    return [lab == v for v in (1, 3) if (lab == v).any()]


def exported(regions):
    """What the pipeline keeps of a method's regions (autolabel.pipeline.refine.Refining.localise)."""
    return [r for r in regions if not encloses_objects(r.mask)]


# -- the grid helpers ------------------------------------------------------------------------


def test_solid_closes_gaps_and_fills_holes_within_the_box() -> None:
    m = np.zeros((10, 12), dtype=bool)
    m[2:8, 3:9] = True
    m[4:6, 5:7] = False   # a 2 x 2 hole
    m[2, 4] = False       # a one-patch notch on the top edge
    m[2:8, 6] = False     # a one-patch wide slit through the whole blob (a lace gap)
    s = solid(m)
    assert s[2:8, 3:9].all()          # the blob it outlines, notch, slit and hole included
    assert (s & ~m).sum() > 0 and (m & ~s).sum() == 0
    assert not s[:2].any() and not s[8:].any() and not s[:, :3].any() and not s[:, 9:].any()


def test_solid_keeps_cells_on_the_grid_border_and_leaves_wide_gaps() -> None:
    m = np.zeros((6, 10), dtype=bool)
    m[:, 0:2] = True   # a strip on the left border
    m[:, 5:7] = True   # another, three patches away: not a one-patch gap
    s = solid(m)
    assert s[:, 0:2].all() and s[:, 5:7].all()
    assert not s[:, 2:5].any()
    assert not solid(np.zeros((3, 3), dtype=bool)).any()


def test_borders_and_hole_share() -> None:
    lab = planted("frame")
    ring = lab == 2
    assert image_borders(ring) == 4
    assert hole_share(ring) == pytest.approx(1.0 - ring.sum() / ring.size)
    assert image_borders(planted("border") == 1) == 2
    assert image_borders(planted("uniform") == 1) == 0 and hole_share(planted("uniform") == 1) == 0.0


@pytest.mark.parametrize("name,encloses", [("frame", True), ("uniform", False), ("border", False), ("two", False)])
def test_encloses_objects(name: str, encloses: bool) -> None:
    lab = planted(name)
    assert encloses_objects(lab == 2) is encloses if name == "frame" else not encloses_objects(lab == 1)
    if name == "uniform":  # the background around the object: touches 4 sides but is mostly itself
        assert not encloses_objects(lab == 0)


def test_a_field_with_small_holes_is_not_a_frame() -> None:
    """A field touching every side with four cow-shaped holes: mostly field, so not taken for
    the background around objects by the hole rule (the cows are regions of their own)."""
    field = np.ones((H, W), dtype=bool)
    for r, c in [(2, 2), (2, 10), (8, 5), (9, 14)]:
        field[r: r + 4, c: c + 4] = False
    assert image_borders(field) == 4 and 0.0 < hole_share(field) < 0.5
    assert not encloses_objects(field)
    assert encloses_objects(field, min_hole_share=0.2)


# -- planted scenes through discovery --------------------------------------------------------


@pytest.mark.parametrize("name", ["uniform", "frame", "border", "two"])
def test_votes_regions_are_the_objects_not_their_complement(name: str) -> None:
    lab = planted(name)
    regions = exported(vote_regions(keys_of(lab), (H, W)))
    objs = objects_of(lab)
    assert regions
    for obj in objs:  # every object is found, by a region on its own side
        assert max(iou(r.mask, obj) for r in regions) >= 0.9
    for r in regions:  # and no exported region is the complement of one
        assert all(iou(r.mask, ~obj) < 0.5 for obj in objs)
        assert iou(r.mask, lab == 2) < 0.5  # nor the frame


def test_the_frame_ring_is_a_region_the_pipeline_drops() -> None:
    lab = planted("frame")
    regions = vote_regions(keys_of(lab), (H, W))
    ring = [r for r in regions if iou(r.mask, lab == 2) > 0.9]
    assert ring and all(encloses_objects(r.mask) for r in ring)
    assert len(exported(regions)) == len(regions) - len(ring)


@pytest.mark.parametrize("name", ["uniform", "border", "two"])
@pytest.mark.parametrize("method", [tokencut_regions, maskcut_regions])
def test_cut_methods_pick_the_object_side(method, name: str) -> None:
    lab = planted(name)
    regions = exported(method(keys_of(lab), (H, W)))
    objs = objects_of(lab)
    best = max(max(iou(r.mask, o) for o in objs) for r in regions)
    assert best >= 0.9
    assert all(iou(r.mask, ~o) < 0.5 for r in regions for o in objs)


# -- planted scenes through refinement -------------------------------------------------------


@pytest.mark.parametrize("name", ["uniform", "frame", "border", "two"])
def test_refined_masks_cover_the_object_not_the_complement(name: str) -> None:
    lab = planted(name)
    work = work_image(pixels_of(lab), P)
    up = np.repeat(np.repeat(lab, P, axis=0), P, axis=1)
    for v in (1, 3):
        if not (lab == v).any():
            continue
        obj = lab == v
        region = region_from_mask(obj, int(np.flatnonzero(obj)[0]), 0.9)
        m = refine_region(work, region).to_image(W * P, H * P)
        truth = up == v
        assert iou(m, truth) >= 0.9
        assert iou(m, ~truth) < 0.1


def test_a_lace_patch_mask_that_refinement_keeps_is_made_solid() -> None:
    """An object whose colours are its surroundings' (nothing for colour to separate) and whose
    patch mask has one-patch gaps: the mask given back is the blob, not the lace."""
    lab = planted("uniform")
    obj = lab == 1
    lace = obj.copy()
    lace[6, 8] = lace[7, 10] = False  # feature noise: two patches of the object missed
    img = pixels_of(np.zeros_like(lab))  # the object painted like the background
    m = refine_region(work_image(img, P), region_from_mask(lace, int(np.flatnonzero(lace)[0]), 0.9))
    assert not m.refined
    truth = np.repeat(np.repeat(obj, P, axis=0), P, axis=1)
    assert iou(m.to_image(W * P, H * P), truth) == 1.0


def test_a_region_spanning_three_sides_keeps_its_solid_patch_mask(monkeypatch) -> None:
    """A U of background patches (touching the top, left and bottom sides) around an object in
    its bay: its only surroundings are what it encloses, so colour would model the object as
    background; the solid patch mask is kept instead, on the U's side."""
    import autolabel.discovery.refine as refine_mod

    lab = np.zeros((H, W), dtype=np.int64)
    lab[:, 10:] = 3             # the right part of the image: another surface
    lab[4:11, 4:10] = 1         # the object, in the U's bay
    u = lab == 0
    img = pixels_of(lab)
    region = region_from_mask(u, 0, 0.9)
    m = refine_region(work_image(img, P), region)
    assert image_borders(u) == 3 and not m.refined
    assert m.box == tuple(float(v * P) for v in region.box)
    truth = np.repeat(np.repeat(u, P, axis=0), P, axis=1)
    assert iou(m.to_image(W * P, H * P), truth) == 1.0
    monkeypatch.setattr(refine_mod, "ENCLOSED_BORDERS", 5)  # without the rule, colour decides
    assert refine_region(work_image(img, P), region).refined
