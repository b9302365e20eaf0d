"""LOST object discovery as pure tensor functions (Siméoni et al., arXiv 2109.14279).

Inputs are patch features ``keys`` of shape ``(N, C)`` for a grid of ``grid_hw = (h, w)``
patches, ``N = h * w``, row-major (patch ``i`` is at row ``i // w``, column ``i % w``).
Boxes are in patch-grid coordinates ``(x1, y1, x2, y2)`` with ``x2``/``y2`` exclusive: a box
covering only patch ``(row r, col c)`` is ``(c, r, c + 1, r + 1)``.

LOST (``lost_single``), exactly as published:

1. affinity ``A = K Kᵀ`` (``N x N``);
2. degree of a patch = number of positive affinities in its row;
3. seed = the lowest-degree patch (ties: lowest row-major index);
4. expansion: of the ``k`` lowest-degree patches, those with positive affinity to the seed;
5. box = the 4-connected component, containing the seed, of the patches whose summed
   affinity to the expansion set is positive.

The multi-object form (``lost_multi``) runs the same steps from several low-degree seeds on
*cosine* affinities, so its threshold means the same on every backbone (threshold 0 is exactly
LOST's sign test, since normalising keys does not change a dot product's sign).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

from autolabel.discovery.regions import EIGHT as _EIGHT
from autolabel.discovery.regions import (
    GridBox,
    Region,
    check_batch_grid,
    check_grid,
    mask_box,
    nms_regions,
    region_from_mask,
    seed_component,
)
from autolabel.discovery.scores import degrees


def affinity(keys: torch.Tensor) -> torch.Tensor:
    """``(N, C)`` -> ``(N, N)`` affinity ``K Kᵀ`` in the keys' dtype."""
    return keys @ keys.transpose(0, 1)


def cosine_affinity(keys: torch.Tensor) -> torch.Tensor:
    """``(N, C)`` -> ``(N, N)`` cosine similarity of the keys, in [-1, 1], in the keys' dtype.

    Keys are normalised in float32, then multiplied in their own dtype: a bf16 extractor's
    affinity is bf16 (half the memory of float32, twice the matmul speed on CPUs with
    AVX512-BF16). Rounding never flips a similarity's sign, so LOST's test is unaffected.
    """
    k = torch.nn.functional.normalize(keys.float(), dim=1).to(keys.dtype)
    return k @ k.transpose(0, 1)


def degree(aff: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """``(N, N)`` -> ``(N,)`` int64: per patch, the number of affinities above ``threshold``."""
    return (aff > threshold).sum(dim=1)


def degree_order(deg: torch.Tensor) -> torch.Tensor:
    """Patch indices by ascending degree; ties keep the lowest row-major index first."""
    return torch.sort(deg, stable=True).indices


def component_box(mask: np.ndarray, seed_rc: tuple[int, int], connectivity: int = 4) -> GridBox | None:
    """Bounding box of the connected component of ``mask`` (``(h, w)`` bool) holding ``seed_rc``.

    Returns ``None`` if the seed cell is not in the mask.
    """
    comp = seed_component(mask, seed_rc, connectivity)
    return None if comp is None else mask_box(comp)


def lost_single_region(keys: torch.Tensor, grid_hw: tuple[int, int], k_patches: int = 100) -> Region:
    """LOST as published, as a :class:`Region` (box, mask, seed).

    Objectness is ``1 - degree(seed) / N``: LOST's observation is that object patches
    correlate with few other patches, so a seed similar to little of the image is likelier
    an object than background.

    Args:
        keys: ``(N, C)`` patch keys, ``N = h * w``, row-major.
        grid_hw: ``(h, w)`` grid size, height first.
        k_patches: size of the seed-expansion candidate set.
    """
    h, w = check_grid(keys, grid_hw)
    aff = affinity(keys)
    deg = degree(aff)
    order = degree_order(deg)
    seed = int(order[0])
    potentials = order[: max(1, min(k_patches, order.numel()))]
    similars = potentials[aff[seed, potentials] > 0]
    summed = aff[similars].float().sum(dim=0)
    mask = (summed > 0).reshape(h, w).cpu().numpy()
    # A seed whose own summed affinity is not positive falls back to its cell.
    return region_from_mask(mask, seed, 1.0 - float(deg[seed]) / (h * w))


def lost_single(keys: torch.Tensor, grid_hw: tuple[int, int], k_patches: int = 100) -> GridBox:
    """LOST as published: one box in patch-grid coordinates ``(x1, y1, x2, y2)``, exclusive.

    Args:
        keys: ``(N, C)`` patch keys, ``N = h * w``, row-major.
        grid_hw: ``(h, w)`` grid size, height first.
        k_patches: size of the seed-expansion candidate set.
    """
    return lost_single_region(keys, grid_hw, k_patches).box


def lost_multi(
    keys: torch.Tensor,
    grid_hw: tuple[int, int],
    *,
    num_seeds: int = 10,
    k_patches: int = 100,
    threshold: float = 0.0,
    nms_iou: float = 0.5,
) -> list[Region]:
    """Several objects per image: LOST from many low-degree seeds, merged and suppressed.

    1. Cosine affinity ``S`` of the keys; degree = count of ``S > threshold`` per patch.
    2. The ``num_seeds`` lowest-degree patches are seeds; seeds adjacent on the grid
       (8-neighbourhood) merge into one group, led by its lowest-degree seed.
    3. Per group, LOST's expansion and box: the ``k_patches`` lowest-degree patches whose
       similarity to the leader exceeds ``threshold`` (plus the group's seeds); the mask holds
       the patches whose mean similarity to that set exceeds ``threshold``; the box is the
       4-connected component of the mask containing the leader.
    4. Class-agnostic NMS (IoU ``nms_iou``) on the boxes, by objectness.

    Args:
        keys: ``(N, C)`` patch features, ``N = h * w``, row-major.
        grid_hw: ``(h, w)``, height first.
        num_seeds: seeds tried (before merging).
        k_patches: LOST's expansion candidate count.
        threshold: cosine similarity above which two patches count as similar; 0 = LOST's test.
        nms_iou: IoU above which the lower-objectness box of two is dropped.

    Returns:
        Regions by descending objectness, boxes in grid coordinates (exclusive).
    """
    h, w = check_grid(keys, grid_hw)
    n = h * w
    sim = cosine_affinity(keys)
    deg = degree(sim, threshold)
    order = degree_order(deg)
    seeds = order[: max(1, min(num_seeds, n))].tolist()

    seed_mask = np.zeros((h, w), dtype=bool)
    for s in seeds:
        seed_mask[s // w, s % w] = True
    groups_img, _ = ndimage.label(seed_mask, structure=_EIGHT)
    groups: dict[int, list[int]] = {}
    for s in seeds:  # seeds are in ascending degree, so each group's first seed leads it
        groups.setdefault(int(groups_img[s // w, s % w]), []).append(s)

    potentials = order[: max(1, min(k_patches, n))]
    regions: list[Region] = []
    for members in groups.values():
        leader = members[0]
        chosen = potentials[sim[leader, potentials] > threshold]
        idx = torch.unique(torch.cat([chosen, torch.tensor(members, dtype=chosen.dtype, device=chosen.device)]))
        mean_sim = sim[idx].float().mean(dim=0)
        mask = (mean_sim > threshold).reshape(h, w).cpu().numpy()
        comp = seed_component(mask, (leader // w, leader % w))
        if comp is None:  # the leader's mean similarity is not above the threshold: its seeds
            comp = np.zeros((h, w), dtype=bool)
            for m in members:
                comp[m // w, m % w] = True
        regions.append(Region(mask_box(comp), 1.0 - float(deg[leader]) / n, leader, comp))

    return nms_regions(regions, nms_iou)


def lost_single_regions(keys: torch.Tensor, grid_hw: tuple[int, int], *, k_patches: int = 100) -> list[Region]:
    """Registry form of :func:`lost_single_region` (``discovery: single``): a one-region list."""
    return [lost_single_region(keys, grid_hw, k_patches)]


def lost_multi_regions(keys: torch.Tensor, grid_hw: tuple[int, int], *, num_seeds: int = 10, k_patches: int = 100,
                       affinity_threshold: float = 0.0, nms_iou: float = 0.5) -> list[Region]:
    """Registry form of :func:`lost_multi` (``discovery: multi``), parameters named as in
    PipelineConfig."""
    return lost_multi(keys, grid_hw, num_seeds=num_seeds, k_patches=k_patches, threshold=affinity_threshold,
                      nms_iou=nms_iou)


# -- batched forms: the same regions for B images at once (see autolabel.discovery.batched) --

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
    h, w = check_batch_grid(keys, grid_hw)
    n = h * w
    aff = torch.bmm(keys, keys.transpose(1, 2))  # (B, N, N), the keys' dtype
    deg = degrees(aff)
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
    h, w = check_batch_grid(keys, grid_hw)
    n = h * w
    k = torch.nn.functional.normalize(keys.float(), dim=2).to(keys.dtype)
    sim = torch.bmm(k, k.transpose(1, 2))  # (B, N, N), the keys' dtype
    deg = degrees(sim, threshold)
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
        out.append(nms_regions(regions, nms_iou))
    return out


def lost_single_regions_batch(keys: torch.Tensor, grid_hw: tuple[int, int], *, k_patches: int = 100) -> list[list[Region]]:
    """Registry's batched form of ``single``: :func:`lost_single_batch`."""
    return lost_single_batch(keys, grid_hw, k_patches)


def lost_multi_regions_batch(keys: torch.Tensor, grid_hw: tuple[int, int], *, num_seeds: int = 10, k_patches: int = 100,
                             affinity_threshold: float = 0.0, nms_iou: float = 0.5) -> list[list[Region]]:
    """Registry's batched form of ``multi``: :func:`lost_multi_batch`."""
    return lost_multi_batch(keys, grid_hw, num_seeds=num_seeds, k_patches=k_patches, threshold=affinity_threshold,
                            nms_iou=nms_iou)
