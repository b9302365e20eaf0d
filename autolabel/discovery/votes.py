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
   least half of its members hold.
5. Objectness: :func:`~autolabel.discovery.scores.ncut_score` of the region on the graph
   ``S > affinity_threshold`` (``score="contrast"``: :func:`~autolabel.discovery.scores.contrast`);
   NMS on boxes.

Grid conventions: see :mod:`autolabel.discovery.regions`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from autolabel.discovery.regions import (
    FOUR,
    Region,
    check_grid,
    mask_box,
    seed_component,
)
from autolabel.discovery.scores import contrast, cosine, ncut_scores
from autolabel.geometry import nms


def vote_regions(keys: torch.Tensor, grid_hw: tuple[int, int], *, affinity_threshold: float = 0.0,
                 proposal_threshold: float | None = None, num_seeds: int = 200, max_area: float = 0.6,
                 merge_iou: float = 0.5, min_votes: int = 2, nms_iou: float = 0.5, score: str = "ncut",
                 background_degree: float | None = 0.5) -> list[Region]:
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

    Returns:
        Regions by descending objectness.
    """
    h, w = check_grid(keys, grid_hw)
    n = h * w
    sim = cosine(keys)
    linked = (sim > affinity_threshold).float()
    deg = linked.sum(dim=1)
    order = torch.sort(deg, stable=True).indices.numpy()
    if background_degree is None:
        background = np.zeros(n, dtype=bool)
        background[order[n // 2:]] = True
        seeds = order[: min(max(1, num_seeds), max(1, n // 2))]
    else:
        background = (deg > background_degree * n).numpy()
        seeds = order[: min(max(1, num_seeds), max(1, int((~background).sum())))]
    pt = affinity_threshold if proposal_threshold is None else proposal_threshold
    near = (sim[torch.from_numpy(seeds)] > pt).numpy().reshape(len(seeds), h, w)
    props, kept_seeds = [], []
    for s, m in zip(seeds, near):
        comp = seed_component(m, divmod(int(s), w))
        if comp is None:
            continue
        flat = comp.reshape(-1)
        area = int(flat.sum())
        if area > max_area * n or (background & flat).sum() > 0.5 * area:
            continue
        props.append(flat)
        kept_seeds.append(int(s))
    if not props:
        return []
    P = torch.from_numpy(np.stack(props)).float()
    inter = P @ P.T
    area = P.sum(dim=1)
    iou = inter / (area[:, None] + area[None, :] - inter)
    close = (iou > merge_iou).numpy()
    votes = close.sum(axis=1)
    used = np.zeros(len(props), dtype=bool)
    found: list[tuple[np.ndarray, int]] = []
    for p in np.argsort(-votes, kind="stable"):
        if used[p]:
            continue
        group = np.flatnonzero(close[p] & ~used)
        used[group] = True
        if len(group) < min_votes:
            continue
        merged = (P[torch.from_numpy(group)].mean(dim=0) >= 0.5).numpy().reshape(h, w)
        seed = kept_seeds[p]
        comp = seed_component(merged, divmod(seed, w))
        if comp is None:
            labels, _ = ndimage.label(merged, structure=FOUR)
            if not labels.any():
                continue
            comp = labels == np.bincount(labels.reshape(-1))[1:].argmax() + 1
            seed = int(np.flatnonzero(comp.reshape(-1))[0])
        found.append((comp, seed))
    if not found:
        return []
    if score == "ncut":
        objs = ncut_scores(np.stack([c for c, _ in found]), linked).tolist()
    else:
        objs = [contrast(sim, c) for c, _ in found]
    regions = [Region(mask_box(c), o, s, c) for (c, s), o in zip(found, objs)]
    boxes = torch.tensor([r.box for r in regions], dtype=torch.float32)
    scores = torch.tensor([r.objectness for r in regions], dtype=torch.float32)
    return [regions[i] for i in nms(boxes, scores, nms_iou).tolist()]
