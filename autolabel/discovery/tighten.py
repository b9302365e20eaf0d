"""Tightening: each region replaced by the seed proposal nested in it that looks most like one
object, where one looks more so than the region itself.

About two in five of the boxes lite exports are too large for their object: a group of
objects, an object with its surroundings or a neighbour (``docs/discovery-quality.md``, "Where
the exported boxes go wrong"). The proposals that single seeds grow at several similarity
thresholds are smaller and hold, nested inside such a region, the box of one object far more
often than the region does. This module picks among a region and those nested proposals with a
logistic model on numbers read off the keys (:data:`FEATURES`), fitted on dev284's tune half
(``scripts/fit_tighten.py``).

1. **Pool** (:func:`proposal_pool`): every patch that is not background (as for ``votes``: a
   degree above ``background_degree`` of the grid) is a seed, at most :data:`POOL_SEEDS`, lowest
   degree first; at each of :data:`POOL_THRESHOLDS` its proposal is the 4-connected component,
   holding it, of the patches with cosine similarity above the threshold to it. Duplicates and
   one-patch proposals are dropped.
2. **Candidates** of a region: the region itself and the pool's proposals whose grid box lies at
   least 90 % inside the region's box (widened by half a patch) and covers 20-90 % of its area.
3. **Features** of each candidate (:func:`features`), in the order of :data:`FEATURES`.
4. The candidate with the highest probability replaces the region when that probability exceeds
   the region's own by more than ``margin``. The replacement is the region's own patches inside
   the proposal's box joined with the proposal (the 4-connected piece holding the proposal's
   most central patch), so the object keeps the parts of it the region held; it keeps the
   region's objectness (its rank).

Everything runs on the host in float32: the pool's ``(P, N)`` masks (``P`` about 600 proposals
on lite's 40 x 30 grid, ``N = h * w``), features only for the proposals nested in some region;
25-40 ms a photo on 2 CPU cores, both readings' pools included.

Grid conventions: see :mod:`autolabel.discovery.regions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from autolabel.discovery.components import seed_components
from autolabel.discovery.regions import FOUR, Region, mask_box, mask_boxes
from autolabel.discovery.scores import cosine, degrees
from autolabel.geometry import box_iou

POOL_THRESHOLDS = (0.0, 0.1, 0.2, 0.3)
"""Cosine similarities to the seed above which a patch joins its proposal, one pool per value."""

POOL_SEEDS = 150
"""At most this many seeds a reading (lowest degree first)."""

NESTED_INSIDE = 0.9
"""A proposal is nested in a region when at least this share of its grid box lies inside the
region's box widened by half a patch on each side ..."""

NESTED_AREA = (0.2, 0.9)
"""... and its box covers between these shares of the region's box area."""

FEATURES = ("log_area", "fill", "saliency", "sides", "inside", "ring", "log_aspect", "log_relative_area",
            "iou_region", "scale_agreement", "consensus", "is_region")
"""Per candidate: the log of its patches over the grid's; its patches over its box's cells; the
mean key norm of its box's cells over the grid's; the grid sides its box touches; the mean cosine
of its patches' keys to their mean direction (inside) and of the patches 4-adjacent to it (ring)
to the same direction; the log of its box's height over width; the log of its box area over the
region's; its box IoU with the region; its highest box IoU with a proposal of the second reading
(scale agreement); the log of one plus the number of pool proposals with a box IoU above 0.8
with it (consensus); 1 for the region itself."""

OWN = 7
"""The first ``OWN`` features depend on the candidate alone (:func:`_own_features`)."""

WEIGHTS = (0.2673, -2.7952, 3.9819, -0.6449, -4.5499, -0.7418, 0.3734, 0.0913, 0.2078, 1.6522, 0.4566, -0.1243)
"""Logistic weights of :data:`FEATURES` on raw (unstandardised) values, fitted on dev284's tune
half by ``scripts/fit_tighten.py``."""

INTERCEPT = -3.7359
"""The logistic model's intercept."""


@dataclass(frozen=True)
class Pool:
    """One reading's proposals: ``masks`` ``(P, N)`` bool, row-major over the grid; ``boxes``
    ``(P, 4)`` float64 grid boxes ``(x1, y1, x2, y2)``, exclusive."""

    masks: np.ndarray
    boxes: np.ndarray


@dataclass(frozen=True)
class Reading:
    """What tightening needs of one view's keys: ``grid`` ``(h, w)``; ``unit`` ``(N, C)``
    float32 keys scaled to unit length; ``norms`` ``(h, w)`` float64 key norms over their mean;
    ``pool`` its proposals."""

    grid: tuple[int, int]
    unit: torch.Tensor
    norms: np.ndarray
    pool: Pool


def read(keys: torch.Tensor, grid: tuple[int, int], *, background_degree: float = 0.5,
         thresholds: Sequence[float] = POOL_THRESHOLDS, num_seeds: int = POOL_SEEDS) -> Reading:
    """The :class:`Reading` of one view: ``keys`` ``(N, C)`` on any device and dtype,
    ``N = h * w`` of ``grid`` ``(h, w)``."""
    h, w = grid
    k = keys.detach().float().cpu()
    norms = k.norm(dim=1).double().numpy().reshape(h, w)
    mean = float(norms.mean())
    norms = norms / mean if mean > 0 else np.ones_like(norms)
    masks = proposal_pool(k, grid, background_degree=background_degree, thresholds=thresholds, num_seeds=num_seeds)
    return Reading(grid, torch.nn.functional.normalize(k, dim=1), norms, Pool(masks, _grid_boxes(masks, grid)))


def pool_boxes(keys: torch.Tensor, grid: tuple[int, int], *, background_degree: float = 0.5) -> np.ndarray:
    """``(P, 4)`` float64 grid boxes of the :func:`proposal_pool` of one view's ``keys``
    ``(N, C)`` (the second reading's, for :func:`features`' ``other``)."""
    return _grid_boxes(proposal_pool(keys.detach().float().cpu(), grid, background_degree=background_degree), grid)


def proposal_pool(keys: torch.Tensor, grid: tuple[int, int], *, background_degree: float = 0.5,
                  thresholds: Sequence[float] = POOL_THRESHOLDS, num_seeds: int = POOL_SEEDS) -> np.ndarray:
    """The seed proposals of one view (module doc, step 1): ``keys`` ``(N, C)`` float32 on the
    host -> ``(P, N)`` bool, distinct rows of at least two patches, each where it first appears
    (threshold by threshold, seeds by ascending degree)."""
    h, w = grid
    n = h * w
    sim = cosine(keys[None])[0]
    deg = degrees(sim)
    fore = torch.nonzero(deg <= background_degree * n).flatten()
    if fore.numel() == 0:
        return np.zeros((0, n), dtype=bool)
    seeds = fore[torch.argsort(deg[fore], stable=True)][:num_seeds]
    near = sim[seeds]
    stacked = torch.cat([near > t for t in thresholds]).view(-1, h, w)  # threshold by threshold
    props = seed_components(stacked, seeds.repeat(len(thresholds))).view(-1, n).numpy()
    props = props[props.sum(axis=1) >= 2]
    seen: set[bytes] = set()
    keep = []
    for i, row in enumerate(np.packbits(props, axis=1)):
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return props[keep]


def features(region: Region, reading: Reading, other: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The candidates of ``region`` (module doc, step 2) and their :data:`FEATURES`.

    Args:
        region: one region of the view ``reading`` was made from, on its grid.
        reading: the view's :class:`Reading`.
        other: ``(Q, 4)`` grid boxes of the proposals of the view read at a second scale, on the
            same grid (scale agreement: that reading's :func:`proposal_pool` boxes,
            :func:`pool_boxes`); None: no second reading (agreement 0 for every candidate).

    Returns:
        ``(rows, X)``: ``rows`` ``(K,)`` int, -1 for the region itself (first) then the pool
        rows of its nested proposals; ``X`` ``(K, len(FEATURES))`` float64.
    """
    rows = nested(np.asarray(region.box, dtype=np.float64), reading.pool.boxes)
    return _assemble(region, _region_features([region], reading, other)[0], rows,
                     _pool_features(rows, reading, other), reading)


def nested(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Rows of ``boxes`` ``(P, 4)`` nested in grid ``box`` ``(4,)`` (module doc, step 2), ascending."""
    if not len(boxes):
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = box
    area = _area(boxes)
    ix = (np.clip(np.minimum(boxes[:, 2], x2 + 0.5) - np.maximum(boxes[:, 0], x1 - 0.5), 0, None)
          * np.clip(np.minimum(boxes[:, 3], y2 + 0.5) - np.maximum(boxes[:, 1], y1 - 0.5), 0, None))
    rarea = (x2 - x1) * (y2 - y1)
    ok = (ix >= NESTED_INSIDE * area) & (area >= NESTED_AREA[0] * rarea) & (area <= NESTED_AREA[1] * rarea)
    return np.flatnonzero(ok)


def probabilities(x: np.ndarray, weights: Sequence[float] = WEIGHTS, intercept: float = INTERCEPT) -> np.ndarray:
    """The logistic model's probability for each row of ``x`` ``(K, len(FEATURES))``."""
    z = x @ np.asarray(weights, dtype=np.float64) + float(intercept)
    return 1.0 / (1.0 + np.exp(-z))


def tighten(regions: Sequence[Region], reading: Reading, other: np.ndarray | None, margin: float,
            weights: Sequence[float] = WEIGHTS, intercept: float = INTERCEPT) -> list[Region]:
    """``regions`` (one view's) with each replaced where one of its nested proposals' probability
    exceeds the region's own by more than ``margin`` (module doc, step 4); same order, same
    objectness. ``other``: as for :func:`features`."""
    pool = reading.pool
    nests = [nested(np.asarray(r.box, dtype=np.float64), pool.boxes) for r in regions]
    needed = np.unique(np.concatenate(nests)) if nests else np.zeros(0, dtype=np.int64)
    each = _pool_features(needed, reading, other)  # each proposal once
    mine = _region_features(list(regions), reading, other)
    out = []
    for r, own, rows in zip(regions, mine, nests):
        rows_x, x = _assemble(r, own, rows, each[np.searchsorted(needed, rows)], reading)
        p = probabilities(x, weights, intercept)
        best = int(np.argmax(p))
        if best == 0 or p[best] <= p[0] + margin:
            out.append(r)
        else:
            out.append(_replacement(r, pool.masks[rows_x[best]].reshape(reading.grid), reading))
    return out


def _pool_features(rows: np.ndarray, reading: Reading, other: np.ndarray | None) -> np.ndarray:
    """The features of pool ``rows`` that do not depend on the region: ``(len(rows), OWN + 2)``,
    the own features then scale agreement and consensus."""
    pool = reading.pool
    return np.column_stack([_own_features(pool.masks[rows], pool.boxes[rows], reading),
                            _agreement(pool.boxes[rows], reading, other)])


def _region_features(regions: list[Region], reading: Reading, other: np.ndarray | None) -> np.ndarray:
    """:func:`_pool_features` of the ``regions`` themselves: ``(len(regions), OWN + 2)``."""
    if not regions:
        return np.zeros((0, OWN + 2))
    masks = np.stack([np.asarray(r.mask, dtype=bool).ravel() for r in regions])
    boxes = np.array([r.box for r in regions], dtype=np.float64)
    return np.column_stack([_own_features(masks, boxes, reading), _agreement(boxes, reading, other)])


def _agreement(boxes: np.ndarray, reading: Reading, other: np.ndarray | None) -> np.ndarray:
    """Scale agreement and consensus (:data:`FEATURES`) of grid ``boxes``: ``(len(boxes), 2)``."""
    pool = reading.pool.boxes
    agreement = np.zeros(len(boxes))
    consensus = np.zeros(len(boxes))
    if len(boxes) and other is not None and len(other):
        agreement = _ious(boxes, other).max(axis=1)
    if len(boxes) and len(pool):
        consensus = np.log1p((_ious(boxes, pool) > 0.8).sum(axis=1))
    return np.column_stack([agreement, consensus])


def _assemble(region: Region, mine: np.ndarray, rows: np.ndarray, theirs: np.ndarray,
              reading: Reading) -> tuple[np.ndarray, np.ndarray]:
    """The candidates' rows and :data:`FEATURES` (:func:`features`) from the region's own
    ``mine`` ``(OWN + 2,)`` and its nested ``rows``' ``theirs`` ``(len(rows), OWN + 2)``."""
    rbox = np.asarray(region.box, dtype=np.float64)[None]
    boxes = np.concatenate([rbox, reading.pool.boxes[rows]])
    both = np.concatenate([mine[None], theirs])
    rel = np.log(np.maximum(_area(boxes), 1e-9) / max(float(_area(rbox)[0]), 1e-9))
    is_region = np.zeros(len(boxes))
    is_region[0] = 1.0
    x = np.column_stack([both[:, :OWN], rel, _ious(boxes, rbox)[:, 0], both[:, OWN:], is_region])
    return np.concatenate([[-1], rows]).astype(np.int64), x


def _replacement(region: Region, proposal: np.ndarray, reading: Reading) -> Region:
    """The region that replaces ``region`` by its nested ``proposal`` ``(h, w)`` (module doc,
    step 4): seed the proposal's patch most similar to its mean key."""
    cells = np.flatnonzero(proposal)
    unit = reading.unit[torch.from_numpy(cells)]
    seed = int(cells[int(torch.argmax(unit @ unit.sum(dim=0)))])
    x1, y1, x2, y2 = (int(v) for v in mask_box(proposal))
    joined = proposal.copy()
    joined[y1:y2, x1:x2] |= np.asarray(region.mask, dtype=bool)[y1:y2, x1:x2]
    labels, _ = ndimage.label(joined, FOUR)
    mask = labels == labels.flat[seed]
    return Region(mask_box(mask), region.objectness, seed, mask)


def _own_features(masks: np.ndarray, boxes: np.ndarray, reading: Reading) -> np.ndarray:
    """The first :data:`OWN` :data:`FEATURES` of ``masks`` ``(P, N)`` bool with grid ``boxes``
    ``(P, 4)``: ``(P, OWN)`` float64."""
    h, w = reading.grid
    p = len(masks)
    if p == 0:
        return np.zeros((0, OWN))
    m = torch.from_numpy(np.ascontiguousarray(masks)).float()
    size = masks.sum(axis=1).astype(np.float64)
    area = _area(boxes)
    total = m @ reading.unit  # (P, C)
    length = total.norm(dim=1)
    direction = total / length.clamp(min=1e-12)[:, None]
    inside = (length / torch.from_numpy(size).float().clamp(min=1)).double().numpy()
    grid_m = m.view(p, h, w)
    cross = grid_m.clone()
    cross[:, 1:] = torch.maximum(cross[:, 1:], grid_m[:, :-1])
    cross[:, :-1] = torch.maximum(cross[:, :-1], grid_m[:, 1:])
    cross[:, :, 1:] = torch.maximum(cross[:, :, 1:], grid_m[:, :, :-1])
    cross[:, :, :-1] = torch.maximum(cross[:, :, :-1], grid_m[:, :, 1:])
    ring = (cross.view(p, -1) - m).clamp(min=0)
    ring_n = ring.sum(dim=1)
    ring_cos = ((ring @ reading.unit) * direction).sum(dim=1) / ring_n.clamp(min=1)
    ring_cos = torch.where(ring_n > 0, ring_cos, torch.zeros_like(ring_cos)).double().numpy()
    integral = np.pad(reading.norms.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    b = boxes.astype(np.int64)
    box_sum = integral[b[:, 3], b[:, 2]] - integral[b[:, 1], b[:, 2]] - integral[b[:, 3], b[:, 0]] + integral[b[:, 1], b[:, 0]]
    sides = (b[:, 0] == 0).astype(np.float64) + (b[:, 1] == 0) + (b[:, 2] == w) + (b[:, 3] == h)
    aspect = np.log(np.maximum(b[:, 3] - b[:, 1], 1) / np.maximum(b[:, 2] - b[:, 0], 1))
    return np.column_stack([np.log(size / (h * w)), size / np.maximum(area, 1e-9), box_sum / np.maximum(area, 1e-9),
                            sides, inside, ring_cos, aspect])


def _grid_boxes(masks: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Grid boxes ``(P, 4)`` float64 of non-empty ``masks`` ``(P, N)``."""
    return mask_boxes(torch.from_numpy(masks).view(-1, *grid)).double().numpy()


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` float64 IoU of two sets of grid boxes (:func:`autolabel.geometry.box_iou`)."""
    return box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
