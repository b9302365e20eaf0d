"""Multi-object discovery by seed voting and merging, with no eigensolve (the ProMerge idea,
Li & Shin 2024, in a form of our own).

1. Cosine similarity ``S`` of the keys; a patch's degree is its count of ``S > threshold``
   (LOST's degree); patches similar to more than half of the image (degree above
   ``background_degree * N``) are the background estimate.
2. Every other patch is a seed (at most ``num_seeds``, lowest degree first); its proposal is
   the 4-connected component, holding it, of the patches with
   ``S > proposal_threshold`` to it (by default the same ``affinity_threshold``).
3. Proposals larger than ``max_area`` of the image, or lying more than half on the background
   estimate, are dropped.
4. Votes: a proposal's vote count is the number of proposals whose mask IoU with it exceeds
   ``merge_iou``. Greedily, the most-voted unused proposal and every unused one overlapping it
   that much form a group; the group's region is the seed's component of the patches that at
   least half of its members hold (the merged mask's largest component, from its first cell,
   where the leading seed is not in the merged mask).
5. Objectness: :func:`~autolabel.discovery.scores.ncut_score` of the region on the graph
   ``S > affinity_threshold`` (``score="contrast"``: :func:`~autolabel.discovery.scores.contrast`);
   NMS on boxes.
6. Optionally (``split_core``), each region NMS kept that covers several objects of one kind is
   replaced by one region per object (:mod:`autolabel.discovery.split`), scored the same way,
   and NMS runs again.

One implementation, batched (:func:`vote_regions_batch`, ``keys`` ``(B, N, C)``);
:func:`vote_regions` is its one-image call. Every step runs over the batch axis on
``keys.device``: similarity, degrees and their stable order, background, seeds (``S`` slots per
image, the batch's largest seed count, read back once; the slots past an image's own count
marked invalid), the ``(B, S, N)`` near masks,
their seed components (:func:`autolabel.discovery.components.seed_components`), the area and
background filters, the ``(B, S, S)`` proposal IoU. Host copies per batch, whatever ``B``:

* the ``(B, S, S)`` "close" matrix and the valid proposals go to the host once: the greedy
  grouping is sequential (at most ``S`` steps per image) and runs there in numpy;
* the groups come back as a ``(B, G, S)`` membership (``G``: the batch's most groups), and
  the merged masks, their seed components, the largest-component fallback (one more sync, to
  skip it when no group needs it), Normalized Cut scores
  (:func:`~autolabel.discovery.scores.ncut_values`) and boxes are computed on the device;
* the regions (masks, boxes, scores, seeds) come back once; NMS of each image's few boxes runs
  on the host (:func:`autolabel.geometry.nms`).

Components are connected by run sweeps off the CPU and by one scipy call on it (see
:mod:`autolabel.discovery.components`). Link and overlap counts are exact integers in
float32, so an image's regions do not depend on the batch it is in. On the CPU a batch's
``(B, N, N)`` similarities overflow the caches (measured on 2 cores, 30 x 40 grid, 384-dim
bf16 keys, B = 8: 15-25 % slower per image than one image at a time), so the pipeline hands
it one image at a time there (:func:`autolabel.discovery.batched.discover_batch`).

Grid conventions: see :mod:`autolabel.discovery.regions`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from autolabel.discovery.components import largest_components, seed_components
from autolabel.discovery.regions import Region, check_batch_grid, check_grid, mask_box, mask_boxes, nms_regions
from autolabel.discovery.scores import contrast_values, cosine, ncut_values
from autolabel.discovery.split import split_region


def vote_regions(keys: torch.Tensor, grid_hw: tuple[int, int], *, affinity_threshold: float = 0.0,
                 proposal_threshold: float | None = None, num_seeds: int = 200, max_area: float = 0.6,
                 merge_iou: float = 0.5, min_votes: int = 2, nms_iou: float = 0.5, score: str = "ncut",
                 background_degree: float | None = 0.5, split_core: float | None = None,
                 split_min_part: int = 2, split_depth: float = 0.05) -> list[Region]:
    """Objects from many seed proposals, merged by mask overlap (see the module doc).

    Args:
        keys: ``(N, C)`` patch features, ``N = h * w``, row-major.
        grid_hw: ``(h, w)``, height first.
        affinity_threshold: cosine similarity above which patches count as similar for the degree.
        proposal_threshold: cosine similarity to the seed above which a patch joins its
            proposal; None = ``affinity_threshold`` (one notion of "similar" throughout).
        num_seeds: at most this many seeds (lowest degree first).
        max_area: proposals covering more than this share of the grid are dropped.
        merge_iou: mask IoU above which two proposals vote for each other and merge.
        min_votes: groups with fewer votes (members) are dropped.
        nms_iou: IoU above which the lower-objectness of two boxes is dropped.
        score: ``ncut`` (default) or ``contrast``: how regions are scored.
        background_degree: patches whose degree exceeds this share of the grid are background;
            None = the higher-degree half by rank (measured: less stable under bf16 features).
        split_core: None = regions stay whole; a quantile in ``[0, 1)``: a region holding two or
            more cores of patches at least this central is replaced by one region per core
            (:func:`autolabel.discovery.split.split_region`: objects of one kind side by side).
        split_min_part: the smallest core (patches) that counts as an object when splitting.
        split_depth: the least drop of mean centrality (cosine) from the cores to the rest of
            the region for a split.

    Returns:
        Regions by descending objectness.
    """
    check_grid(keys, grid_hw)
    return vote_regions_batch(keys[None], grid_hw, affinity_threshold=affinity_threshold,
                              proposal_threshold=proposal_threshold, num_seeds=num_seeds, max_area=max_area,
                              merge_iou=merge_iou, min_votes=min_votes, nms_iou=nms_iou, score=score,
                              background_degree=background_degree, split_core=split_core,
                              split_min_part=split_min_part, split_depth=split_depth)[0]


def vote_regions_batch(keys: torch.Tensor, grid_hw: tuple[int, int], *, affinity_threshold: float = 0.0,
                       proposal_threshold: float | None = None, num_seeds: int = 200, max_area: float = 0.6,
                       merge_iou: float = 0.5, min_votes: int = 2, nms_iou: float = 0.5, score: str = "ncut",
                       background_degree: float | None = 0.5, split_core: float | None = None,
                       split_min_part: int = 2, split_depth: float = 0.05) -> list[list[Region]]:
    """:func:`vote_regions` on every image of a batch, batched on ``keys.device`` (module doc).

    Args:
        keys: ``(B, N, C)`` patch features of ``B`` images on one grid, ``N = h * w``, row-major.
        grid_hw: ``(h, w)``, height first.
        affinity_threshold, proposal_threshold, num_seeds, max_area, merge_iou, min_votes,
        nms_iou, score, background_degree, split_core, split_min_part, split_depth: as for :func:`vote_regions`.

    Returns:
        Per image, its regions by descending objectness (what :func:`vote_regions` gives it).
        (The pipeline calls it one image at a time on CPU tensors:
        :data:`autolabel.discovery.batched.CPU_BATCH`.)
    """
    h, w = check_batch_grid(keys, grid_hw)
    b, n = int(keys.shape[0]), h * w
    if b == 0 or n == 0:
        return [[] for _ in range(b)]
    dev = keys.device
    sim = cosine(keys)  # (B, N, N) float32
    linked = (sim > affinity_threshold).float()
    deg = linked.sum(dim=2)  # (B, N), exact counts
    order = torch.sort(deg, dim=1, stable=True).indices
    if background_degree is None:
        background = torch.zeros((b, n), dtype=torch.bool, device=dev).scatter_(1, order[:, n // 2:], True)
        allowed = torch.full((b,), min(max(1, num_seeds), max(1, n // 2)), device=dev)
    else:
        background = deg > background_degree * n
        allowed = (~background).sum(dim=1).clamp(min=1, max=max(1, num_seeds))
    slots = int(allowed.max())  # one sync: no (B, S, N) work for seeds no image has
    seeds = order[:, :slots]  # (B, S), ascending degree
    seed_ok = torch.arange(slots, device=dev) < allowed[:, None]
    pt = affinity_threshold if proposal_threshold is None else proposal_threshold
    near = sim.gather(1, seeds[:, :, None].expand(-1, -1, n)) > pt  # (B, S, N)
    props = seed_components(near.view(b * slots, h, w), seeds.reshape(-1)).view(b, slots, n)
    pf = props.float()  # counts below as float32 sums and products: exact, and on the CPU
    area = pf.sum(dim=2)  # several times faster than reducing bool tensors
    on_background = torch.bmm(pf, background.float()[:, :, None])[:, :, 0]
    most = max_area * n  # an integer area exceeds it exactly when it exceeds its floor
    most = math.floor(most) if math.isfinite(most) else most
    valid = seed_ok & (area > 0) & (area <= most) & (2 * on_background <= area)
    pf = pf * valid[:, :, None]
    inter = torch.bmm(pf, pf.transpose(1, 2))  # (B, S, S), exact counts
    pa = pf.sum(dim=2)
    iou = inter / (pa[:, :, None] + pa[:, None, :] - inter)
    close = (iou > merge_iou) & valid[:, :, None] & valid[:, None, :]

    close_h, valid_h = close.cpu().numpy(), valid.cpu().numpy()  # host copy 1: the greedy grouping
    groups = [_greedy_groups(close_h[i], valid_h[i], min_votes) for i in range(b)]
    g_max = max(len(g) for g in groups)
    if g_max == 0:
        return [[] for _ in range(b)]
    member = np.zeros((b, g_max, slots), dtype=np.float32)
    leader = np.zeros((b, g_max), dtype=np.int64)
    for i, image_groups in enumerate(groups):
        for j, (members, lead) in enumerate(image_groups):
            member[i, j, members] = 1.0
            leader[i, j] = lead
    member_t = torch.from_numpy(member).to(dev)
    size = member_t.sum(dim=2, keepdim=True)  # (B, G, 1); 0 for padding
    held = torch.bmm(member_t, pf)  # (B, G, N): members holding each patch, exact counts
    merged = (2 * held >= size) & (size > 0)  # at least half the members (their mean >= 0.5)
    seed = seeds.gather(1, torch.from_numpy(leader).to(dev))  # (B, G) leading seed's cell
    comps = seed_components(merged.view(-1, h, w), seed.reshape(-1)).view(b, g_max, n)
    missing = ~comps.any(dim=2) & (size[:, :, 0] > 0)
    if bool(missing.any()):  # a leading seed outside the merged mask: its largest component
        largest, first = largest_components(merged.view(-1, h, w))
        comps = torch.where(missing[:, :, None], largest.view(b, g_max, n), comps)
        seed = torch.where(missing, first.view(b, g_max), seed)
    found = comps.any(dim=2)
    if score == "ncut":
        objs = ncut_values(comps.float(), linked)
    else:
        objs = contrast_values(comps, sim)
    boxes = mask_boxes(comps.view(b, g_max, h, w))

    comps_h, found_h, seed_h = comps.cpu().numpy(), found.cpu().numpy(), seed.cpu().numpy()  # host copy 2
    objs_h, boxes_h = objs.double().cpu().numpy(), boxes.cpu().numpy()
    out = []
    for i in range(b):
        regions = [Region(tuple(int(v) for v in boxes_h[i, j]), float(objs_h[i, j]), int(seed_h[i, j]),
                          comps_h[i, j].reshape(h, w).copy())
                   for j in range(len(groups[i])) if found_h[i, j]]
        regions = nms_regions(regions, nms_iou)
        if split_core is not None and regions:  # the regions NMS kept, split; their parts NMS'd again
            regions = nms_regions(_split(regions, sim[i], linked[i], score, split_core, split_min_part, split_depth), nms_iou)
        out.append(regions)
    return out


def _split(regions: list[Region], sim: torch.Tensor, linked: torch.Tensor, score: str, core: float,
           min_part: int, depth: float) -> list[Region]:
    """``regions`` of one image with each region that covers several objects replaced by its
    parts (:func:`~autolabel.discovery.split.split_region`), scored like the others; ``sim``
    and ``linked`` ``(N, N)``."""
    sim_h = sim.cpu().numpy()
    out: list[Region] = []
    parts: list[np.ndarray] = []
    for r in regions:
        pieces = split_region(r.mask, sim_h, core, min_part, depth)
        if len(pieces) == 1:
            out.append(r)
        else:
            parts.extend(pieces)
    if not parts:
        return regions
    flat = torch.from_numpy(np.stack([p.ravel() for p in parts])).to(sim.device)
    if score == "ncut":
        objs = ncut_values(flat.float(), linked)
    else:
        objs = contrast_values(flat[None], sim[None])[0]
    for p, o in zip(parts, objs.double().cpu().numpy()):
        cells = np.flatnonzero(p.ravel())
        central = sim_h[np.ix_(cells, cells)].mean(axis=1)
        out.append(Region(mask_box(p), float(o), int(cells[int(np.argmax(central))]), p))
    out.sort(key=lambda r: -r.objectness)
    return out


def _greedy_groups(close: np.ndarray, valid: np.ndarray, min_votes: int) -> list[tuple[np.ndarray, int]]:
    """One image's vote groups, most-voted first: ``(member slots, leading slot)`` each.

    Args:
        close: ``(S, S)`` bool, proposals overlapping by more than ``merge_iou`` (False for
            invalid slots).
        valid: ``(S,)`` bool, the slots holding a proposal.
        min_votes: groups with fewer members are dropped (their members still used up).
    """
    idx = np.flatnonzero(valid)
    c = close[np.ix_(idx, idx)]
    votes = c.sum(axis=1)
    used = np.zeros(len(idx), dtype=bool)
    out = []
    for p in np.argsort(-votes, kind="stable"):
        if used[p]:
            continue
        group = np.flatnonzero(c[p] & ~used)
        used[group] = True
        if len(group) >= min_votes:
            out.append((idx[group], int(idx[p])))
    return out
