"""Discovery on a batch of images at once: the same regions as per-image discovery, with the
tensor work in a few batched calls and one transfer to the host per batch.

Per-image discovery (:mod:`autolabel.discovery.lost`) runs ~100 small kernels per image and
reads results back to the host several times per image (seeds, masks), which on a GPU leaves
the device idle between images. Here every step runs over the batch axis:

* affinities with one ``bmm``; degrees, the stable degree order, seeds and expansion sets for
  all images together;
* ``multi``: seeds of one image are grouped (8-adjacent seeds merge) by a transitive closure of
  their adjacency matrix, on the device;
* each region's mask (patches whose mean affinity to the expansion set passes the test) with one
  ``bmm`` of the expansion sets' indicator rows against the affinities;
* then one copy to the host per batch: masks, seeds, degrees; connected components (scipy) and
  NMS run there, exactly as per image.

Results equal per-image discovery: the same seeds, groups, degrees and objectness (integer
counts and stable sorts), the same masks and boxes. The one arithmetic difference is the order in which a
region's summed affinities are added (a matrix product here, a row reduction per image), which
only matters for a patch whose mean affinity is within float32 rounding of the threshold;
``tests/discovery/test_batched.py`` checks the regions are identical.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch

from autolabel.discovery.lost import degree_order
from autolabel.discovery.regions import Region, mask_box, region_from_mask, seed_component
from autolabel.geometry import nms

BATCHED_METHODS = ("single", "multi")
"""Discovery methods (the config's ``discovery`` values) with a batched implementation. The
others (``tokencut``, ``maskcut``, ``votes``: iterative eigensolvers and data-dependent loops)
run per image through :func:`discover_batch`'s fallback."""


def _check(keys: torch.Tensor, grid_hw: tuple[int, int]) -> tuple[int, int]:
    h, w = int(grid_hw[0]), int(grid_hw[1])
    if keys.ndim != 3 or keys.shape[1] != h * w:
        raise ValueError(f"keys must be (B, h*w, C) = (B, {h * w}, C) for grid {grid_hw}, got {tuple(keys.shape)}")
    return h, w


def _indicator(index: torch.Tensor, valid: torch.Tensor, n: int) -> torch.Tensor:
    """``(..., n)`` float32 0/1 rows: 1 at ``index[..., j]`` where ``valid[..., j]``."""
    out = torch.zeros((*index.shape[:-1], n), dtype=torch.float32, device=index.device)
    return out.scatter_(-1, index, valid.float()).clamp_(max=1.0)


def lost_single_batch(keys: torch.Tensor, grid_hw: tuple[int, int], k_patches: int = 100) -> list[list[Region]]:
    """:func:`~autolabel.discovery.lost.lost_single_region` on every image of a batch.

    Args:
        keys: ``(B, N, C)`` patch keys of ``B`` images on one grid, ``N = h * w``, row-major.
        grid_hw: ``(h, w)``, height first.
        k_patches: size of the seed-expansion candidate set.

    Returns:
        Per image, a list with its one region.
    """
    h, w = _check(keys, grid_hw)
    n = h * w
    aff = torch.bmm(keys, keys.transpose(1, 2))  # (B, N, N), the keys' dtype
    deg = (aff > 0).sum(dim=2)
    order = degree_order(deg)
    seed = order[:, 0]
    pots = order[:, : max(1, min(k_patches, n))]  # (B, K)
    seed_rows = aff.gather(1, seed.view(-1, 1, 1).expand(-1, 1, n)).squeeze(1)  # (B, N)
    similar = seed_rows.gather(1, pots) > 0
    weights = _indicator(pots, similar, n).unsqueeze(1)  # (B, 1, N)
    summed = torch.bmm(weights, aff.float()).squeeze(1)  # (B, N)
    mask = (summed > 0).view(-1, h, w)
    seed_deg = deg.gather(1, seed.view(-1, 1)).squeeze(1)
    mask_h, seed_h, deg_h = (t.cpu().numpy() for t in (mask, seed, seed_deg))  # the one sync
    out = []
    for b in range(keys.shape[0]):
        s = int(seed_h[b])  # a seed outside its own mask falls back to its cell, as per image
        out.append([region_from_mask(mask_h[b], s, 1.0 - float(deg_h[b]) / n)])
    return out


def seed_groups(seeds: torch.Tensor, w: int) -> torch.Tensor:
    """``(B, S, S)`` bool: ``[b, i, j]`` when seeds ``i`` and ``j`` of image ``b`` are in one
    8-connected group of seed cells (the transitive closure of 8-adjacency on the grid)."""
    r, c = seeds // w, seeds % w
    adj = ((r[:, :, None] - r[:, None, :]).abs() <= 1) & ((c[:, :, None] - c[:, None, :]).abs() <= 1)
    reach = adj.float()
    for _ in range(max(1, math.ceil(math.log2(max(2, seeds.shape[1]))))):
        reach = (torch.bmm(reach, reach) > 0).float()
    return reach > 0


def lost_multi_batch(
    keys: torch.Tensor,
    grid_hw: tuple[int, int],
    *,
    num_seeds: int = 10,
    k_patches: int = 100,
    threshold: float = 0.0,
    nms_iou: float = 0.5,
) -> list[list[Region]]:
    """:func:`~autolabel.discovery.lost.lost_multi` on every image of a batch.

    Args:
        keys: ``(B, N, C)`` patch features of ``B`` images on one grid, ``N = h * w``.
        grid_hw: ``(h, w)``, height first.
        num_seeds, k_patches, threshold, nms_iou: as for ``lost_multi``.

    Returns:
        Per image, its regions by descending objectness.
    """
    h, w = _check(keys, grid_hw)
    n = h * w
    k = torch.nn.functional.normalize(keys.float(), dim=2).to(keys.dtype)
    sim = torch.bmm(k, k.transpose(1, 2))  # (B, N, N), the keys' dtype
    deg = (sim > threshold).sum(dim=2)
    order = degree_order(deg)
    seeds = order[:, : max(1, min(num_seeds, n))]  # (B, S), ascending degree
    pots = order[:, : max(1, min(k_patches, n))]  # (B, K)
    s_count = seeds.shape[1]
    groups = seed_groups(seeds, w)  # (B, S, S)
    earlier = torch.ones(s_count, s_count, dtype=torch.bool, device=seeds.device).tril(-1)
    leader = ~(groups & earlier).any(dim=2)  # no earlier seed in its group: it leads it
    seed_rows = sim.gather(1, seeds.unsqueeze(2).expand(-1, -1, n))  # (B, S, N)
    chosen = seed_rows.gather(2, pots.unsqueeze(1).expand(-1, s_count, -1)) > threshold  # (B, S, K)
    weights = torch.maximum(
        _indicator(pots.unsqueeze(1).expand(-1, s_count, -1), chosen, n),
        _indicator(seeds.unsqueeze(1).expand(-1, s_count, -1), groups, n),
    )  # (B, S, N): the expansion set of each seed's group, as led by that seed
    mean_sim = torch.bmm(weights, sim.float()) / weights.sum(dim=2, keepdim=True)
    masks = (mean_sim > threshold).view(-1, s_count, h, w)
    seed_deg = deg.gather(1, seeds)
    masks_h, leader_h, groups_h, seeds_h, deg_h = (t.cpu().numpy() for t in (masks, leader, groups, seeds, seed_deg))
    out = []
    for b in range(keys.shape[0]):
        regions = []
        for i in np.flatnonzero(leader_h[b]):
            s = int(seeds_h[b, i])
            comp = seed_component(masks_h[b, i], (s // w, s % w))
            if comp is None:  # the leader's mean similarity is not above the threshold: its seeds
                comp = np.zeros((h, w), dtype=bool)
                for m in seeds_h[b][groups_h[b, i]]:
                    comp[int(m) // w, int(m) % w] = True
            regions.append(Region(mask_box(comp), 1.0 - float(deg_h[b, i]) / n, s, comp))
        if not regions:
            out.append([])
            continue
        keep = nms(torch.tensor([r.box for r in regions], dtype=torch.float32),
                   torch.tensor([r.objectness for r in regions], dtype=torch.float32), nms_iou)
        out.append([regions[j] for j in keep.tolist()])
    return out


_BATCHED: dict[str, tuple[Callable[..., list[list[Region]]], Callable[[Any], dict[str, Any]]]] = {
    "single": (lost_single_batch, lambda c: {"k_patches": c.k_patches}),
    "multi": (lost_multi_batch, lambda c: {"num_seeds": c.num_seeds, "k_patches": c.k_patches,
                                           "threshold": c.affinity_threshold, "nms_iou": c.nms_iou}),
}


def discover_batch(keys: torch.Tensor, grid_hw: tuple[int, int], cfg: Any,
                   per_image: Callable[[torch.Tensor, tuple[int, int], Any], Sequence[Region]]) -> list[list[Region]]:
    """The regions of each image of ``keys`` ``(B, N, C)`` by ``cfg.discovery``: batched where
    that method has a batched form (:data:`BATCHED_METHODS`), else ``per_image`` on each."""
    entry = _BATCHED.get(cfg.discovery)
    if entry is None:
        return [list(per_image(k, grid_hw, cfg)) for k in keys]
    fn, params = entry
    return fn(keys, grid_hw, **params(cfg))
