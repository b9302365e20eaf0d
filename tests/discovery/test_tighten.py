"""Tightening: a region around an object and its surroundings becomes the object, an object's
own region stays, and the candidates, features and pool follow the module's rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from autolabel.discovery.regions import FOUR, Region, mask_box
from autolabel.discovery.tighten import FEATURES, NESTED_AREA, NESTED_INSIDE, features, nested, probabilities, read, tighten
from autolabel.geometry import iou

COL = {name: i for i, name in enumerate(FEATURES)}


def _scene(seed: int = 0, noise: float = 0.3) -> tuple[torch.Tensor, tuple[int, int], np.ndarray, np.ndarray]:
    """Keys of a 20 x 30 grid: background, an object (8 x 8 patches, keys three times as long
    as the rest) and a ring of surroundings around it (2 patches wide) whose keys are at cosine
    0.25 to the object's: grown from a seed at cosine 0 to 0.2 the object takes its surroundings
    in, at 0.3 it stands alone. Returns keys ``(600, 16)``, the grid, the surroundings' region
    (object included) and the object's mask."""
    rng = np.random.default_rng(seed)
    h, w, c = 20, 30, 16
    e = np.eye(c)
    keys = np.zeros((h, w, c))
    keys[:] = e[0]
    around = np.zeros((h, w), dtype=bool)
    around[4:16, 2:14] = True
    obj = np.zeros((h, w), dtype=bool)
    obj[6:14, 4:12] = True
    keys[around] = 0.25 * e[1] + np.sqrt(1 - 0.25 ** 2) * e[2]
    keys[obj] = 3.0 * e[1]
    keys += rng.normal(0.0, noise, keys.shape) * np.linalg.norm(keys, axis=2, keepdims=True) / np.sqrt(c)
    return torch.tensor(keys.reshape(h * w, c), dtype=torch.float32), (h, w), around, obj


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_an_object_with_its_surroundings_becomes_the_object(seed: int) -> None:
    keys, grid, around, obj = _scene(seed)
    reading = read(keys, grid)
    region = Region(mask_box(around), 0.7, int(np.flatnonzero(around.ravel())[0]), around)
    (out,) = tighten([region], reading, reading.pool.boxes, 0.0)
    assert iou(out.box, mask_box(obj)) >= 0.8 > iou(region.box, mask_box(obj))
    assert out.objectness == 0.7
    assert out.box == mask_box(out.mask) and out.mask.ravel()[out.seed]
    assert (out.mask & obj).sum() >= 0.8 * obj.sum()
    # without a second reading (no scale agreement) the pick is the same
    (alone,) = tighten([region], reading, None, 0.0)
    assert iou(alone.box, mask_box(obj)) >= 0.8


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_an_objects_own_region_stays(seed: int) -> None:
    keys, grid, _, obj = _scene(seed)
    reading = read(keys, grid)
    region = Region(mask_box(obj), 0.4, int(np.flatnonzero(obj.ravel())[0]), obj)
    (out,) = tighten([region], reading, reading.pool.boxes, 0.0)
    assert iou(out.box, region.box) >= 0.8


def test_a_margin_keeps_regions_and_their_order() -> None:
    keys, grid, around, obj = _scene()
    reading = read(keys, grid)
    regions = [Region(mask_box(around), 0.9, 0, around), Region(mask_box(obj), 0.5, 0, obj)]
    assert tighten(regions, reading, reading.pool.boxes, 0.999) == regions  # the very objects
    out = tighten(regions, reading, reading.pool.boxes, 0.0)
    assert [r.objectness for r in out] == [0.9, 0.5]


def test_the_candidates_are_the_region_and_its_nested_proposals() -> None:
    keys, grid, around, _ = _scene()
    reading = read(keys, grid)
    region = Region(mask_box(around), 0.7, 0, around)
    idx, x = features(region, reading, None)
    assert x.shape == (len(idx), len(FEATURES)) and idx[0] == -1 and len(idx) > 1
    assert x[0, COL["is_region"]] == 1 and (x[1:, COL["is_region"]] == 0).all()
    assert x[0, COL["iou_region"]] == pytest.approx(1.0) and x[0, COL["log_relative_area"]] == pytest.approx(0.0)
    assert (x[:, COL["scale_agreement"]] == 0).all()  # no second reading
    x1, y1, x2, y2 = region.box
    area = (x2 - x1) * (y2 - y1)
    for i in idx[1:]:
        b = reading.pool.boxes[i]
        barea = (b[2] - b[0]) * (b[3] - b[1])
        assert NESTED_AREA[0] * area <= barea <= NESTED_AREA[1] * area
        ix = (min(b[2], x2 + 0.5) - max(b[0], x1 - 0.5)) * (min(b[3], y2 + 0.5) - max(b[1], y1 - 0.5))
        assert ix >= NESTED_INSIDE * barea
    # every pool row that passes the rule is a candidate, and no other
    assert list(idx[1:]) == list(nested(np.array(region.box, float), reading.pool.boxes))
    _, same = features(region, reading, reading.pool.boxes)  # read against itself: children agree fully
    assert (same[1:, COL["scale_agreement"]] == pytest.approx(1.0))
    assert (same[:, COL["consensus"]][1:] >= np.log(2.0)).all()  # each child counts itself


def test_the_pool_holds_distinct_connected_proposals_of_every_threshold() -> None:
    keys, grid, around, obj = _scene(noise=0.0)
    pool = read(keys, grid).pool
    h, w = grid
    rows = {m.tobytes() for m in pool.masks}
    assert len(rows) == len(pool.masks) >= 2
    assert obj.ravel().tobytes() in rows  # grown at 0.3: the object alone
    assert around.ravel().tobytes() in rows  # grown at 0 to 0.2: object and surroundings
    for m, b in zip(pool.masks, pool.boxes):
        grid_mask = m.reshape(h, w)
        assert grid_mask.sum() >= 2 and ndimage.label(grid_mask, FOUR)[1] == 1
        assert tuple(int(v) for v in b) == mask_box(grid_mask)
        assert not (grid_mask & ~around).any()  # the background (most of the grid) seeds nothing


def test_a_photo_of_background_alone_has_no_pool_and_keeps_its_regions() -> None:
    keys = torch.ones(12 * 16, 8)
    reading = read(keys, (12, 16))
    assert reading.pool.masks.shape == (0, 192)
    mask = np.zeros((12, 16), dtype=bool)
    mask[2:6, 3:9] = True
    region = Region(mask_box(mask), 0.3, 2 * 16 + 3, mask)
    idx, x = features(region, reading, reading.pool.boxes)
    assert list(idx) == [-1] and np.isfinite(x).all()
    assert tighten([region], reading, reading.pool.boxes, 0.0) == [region]


def test_probabilities_are_the_logistic_of_the_weighted_sum() -> None:
    x = np.array([[0.0] * len(FEATURES), [1.0] * len(FEATURES)])
    w = np.arange(len(FEATURES), dtype=np.float64) / 10
    p = probabilities(x, w, -1.0)
    assert p[0] == pytest.approx(1 / (1 + np.e)) and p[1] == pytest.approx(1 / (1 + np.exp(1.0 - w.sum())))


def test_the_replacement_keeps_the_regions_patches_inside_the_proposals_box() -> None:
    """The object's centre (2 x 2 patches) has keys orthogonal to everything else: every
    proposal grown from the object has a hole there, and no proposal is the whole object. The
    region (object and surroundings) holds the centre, so the replacement is the whole object,
    and nothing of the surroundings."""
    keys, grid, around, obj = _scene(noise=0.0)
    k = keys.view(20, 30, 16).clone()
    k[9:11, 7:9] = 3.0 * torch.eye(16)[3]
    reading = read(k.view(-1, 16), grid)
    holed = obj.copy()
    holed[9:11, 7:9] = False
    assert any((m == holed.ravel()).all() for m in reading.pool.masks)
    assert not any((m == obj.ravel()).all() for m in reading.pool.masks)
    (out,) = tighten([Region(mask_box(around), 0.7, 0, around)], reading, reading.pool.boxes, 0.0)
    assert (out.mask == obj).all() and out.box == mask_box(obj)


def test_the_pool_is_each_thresholds_seed_components_without_repeats() -> None:
    """The pool equals the seed components grown threshold by threshold from the lowest-degree
    non-background seeds, one-patch and repeated proposals dropped where they first appear."""
    from autolabel.discovery.components import seed_components
    from autolabel.discovery.scores import cosine
    from autolabel.discovery.tighten import POOL_SEEDS, POOL_THRESHOLDS, proposal_pool

    keys, grid, _, _ = _scene(seed=5, noise=0.6)
    h, w = grid
    sim = cosine(keys[None])[0]
    deg = (sim > 0).float().sum(dim=1)
    fore = torch.nonzero(deg <= 0.5 * h * w).flatten()
    seeds = fore[torch.argsort(deg[fore], stable=True)][:POOL_SEEDS]
    want, seen = [], set()
    for t in POOL_THRESHOLDS:
        for m in seed_components((sim[seeds] > t).view(-1, h, w), seeds).view(len(seeds), -1).numpy():
            if m.sum() >= 2 and m.tobytes() not in seen:
                seen.add(m.tobytes())
                want.append(m)
    got = proposal_pool(keys, grid)
    assert got.shape == (len(want), h * w) and (got == np.stack(want)).all()
