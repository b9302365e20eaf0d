"""Multi-object discovery by repeated Normalized Cuts (the MaskCut idea, Wang et al.,
"Cut and Learn", CVPR 2023), without training.

Each round runs TokenCut's cut (:mod:`autolabel.discovery.tokencut`) on the patches not yet
taken, so the next cut finds the next most salient object:

1. graph over the remaining patches: 1 where cosine similarity > ``tau``, ``eps`` elsewhere;
2. second-smallest generalised eigenvector, split at its mean; the side holding the largest
   ``|x|`` is the foreground, unless it holds 3 or 4 of the grid's corners and the other side
   fewer (the corner rule: a side that touches most corners is background);
3. the foreground's 4-connected component holding the seed is one object (with
   ``all_components``, every component of at least ``min_patches`` patches is);
4. the regions found leave the graph (the rest of the foreground side stays, for a later
   cut); stop after ``cuts`` rounds, when fewer than ``min_patches * 2`` patches remain, or
   when the remaining graph is constant (nothing left to cut).

Objectness is :func:`~autolabel.discovery.scores.ncut_score`: one minus half the Normalized Cut value of the region
against the rest of the image on the same graph, in [0, 1].

Grid conventions: see :mod:`autolabel.discovery.regions`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from autolabel.discovery.regions import FOUR, Region, check_grid, mask_box
from autolabel.discovery.scores import contrast, cosine, ncut_score
from autolabel.discovery.tokencut import second_eigenvector
from autolabel.geometry import nms


def _corners(mask: np.ndarray) -> int:
    return int(mask[0, 0]) + int(mask[0, -1]) + int(mask[-1, 0]) + int(mask[-1, -1])


def maskcut_regions(keys: torch.Tensor, grid_hw: tuple[int, int], *, cuts: int = 3, tau: float = 0.2,
                    eps: float = 1e-5, all_components: bool = True, min_patches: int = 2, nms_iou: float = 0.5,
                    solver: str = "auto", score: str = "ncut", score_tau: float | None = None) -> list[Region]:
    """Objects from ``cuts`` successive Normalized Cuts, each on the patches left by the others.

    Args:
        keys: ``(N, C)`` patch features, ``N = h * w``, row-major.
        grid_hw: ``(h, w)``, height first.
        cuts: rounds (at most this many cuts; each may yield several regions); MaskCut published 3.
        tau, eps: TokenCut's graph (published 0.2, 1e-5).
        all_components: every component of the foreground side is an object (else only the seed's).
        min_patches: smaller components are dropped (the seed's is always kept).
        nms_iou: IoU above which the lower-objectness of two boxes is dropped.
        solver: see :func:`autolabel.discovery.tokencut.second_eigenvector`.
        score: ``ncut`` (:func:`~autolabel.discovery.scores.ncut_score`, the default) or ``contrast``
            (:func:`~autolabel.discovery.scores.contrast`).
        score_tau: similarity threshold of the graph the ``ncut`` score uses; None = ``tau``.

    Returns:
        Regions by descending objectness.
    """
    h, w = check_grid(keys, grid_hw)
    n = h * w
    sim = cosine(keys)
    linked = (sim > (tau if score_tau is None else score_tau)).float()
    active = np.ones(n, dtype=bool)
    regions: list[Region] = []
    for _ in range(max(1, cuts)):
        idx = np.flatnonzero(active)
        if len(idx) < max(4, 2 * min_patches):
            break
        t_idx = torch.from_numpy(idx)
        sub = sim[t_idx][:, t_idx]
        linked_sub = sub > tau
        if bool(linked_sub.all()) or not bool(linked_sub.any()):
            break  # a constant graph has no cut left to make
        graph = torch.where(linked_sub, torch.ones((), dtype=sub.dtype), torch.full((), eps, dtype=sub.dtype))
        x = second_eigenvector(graph, solver).numpy()
        above = x > x.mean()
        seed_local = int(np.argmax(np.abs(x)))
        fg_local = above if above[seed_local] else ~above
        fg = np.zeros(n, dtype=bool)
        fg[idx[fg_local]] = True
        bg = np.zeros(n, dtype=bool)
        bg[idx[~fg_local]] = True
        if _corners(fg.reshape(h, w)) >= 3 and _corners(bg.reshape(h, w)) < _corners(fg.reshape(h, w)):
            fg, bg = bg, fg
            fg_local = ~fg_local
            seed_local = int(np.argmax(np.where(fg_local, np.abs(x), -1.0)))
        seed = int(idx[seed_local])
        if not fg.any():
            break
        labels, count = ndimage.label(fg.reshape(h, w), structure=FOUR)
        seed_label = labels.reshape(-1)[seed]
        taken = np.zeros((h, w), dtype=bool)
        for lab in range(1, count + 1):
            comp = labels == lab
            if lab != seed_label and (not all_components or comp.sum() < min_patches):
                continue
            s = seed if lab == seed_label else int(np.flatnonzero(comp.reshape(-1))[0])
            obj = ncut_score(sim, comp, graph=linked) if score == "ncut" else contrast(sim, comp)
            regions.append(Region(mask_box(comp), obj, s, comp))
            taken |= comp
        active &= ~taken.reshape(-1)
    if not regions:
        return []
    boxes = torch.tensor([r.box for r in regions], dtype=torch.float32)
    scores = torch.tensor([r.objectness for r in regions], dtype=torch.float32)
    return [regions[i] for i in nms(boxes, scores, nms_iou).tolist()]

