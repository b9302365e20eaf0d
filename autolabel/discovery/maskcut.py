"""Multi-object discovery by repeated Normalized Cuts (the MaskCut idea, Wang et al.,
"Cut and Learn", CVPR 2023), without training.

Each round runs TokenCut's cut (:mod:`autolabel.discovery.tokencut`) on the patches not yet
taken, so the next cut finds the next most salient object:

1. graph over the remaining patches: 1 where cosine similarity > ``tau``, ``eps`` elsewhere;
2. second-smallest generalised eigenvector, split at its mean; the side holding the largest
   ``|x|`` is the foreground, unless it holds 3 or 4 of the grid's corners and the other side
   fewer (the corner rule: a side that touches most corners is background); the seed is the
   foreground's largest ``|x|`` (near-equal ones are ties, broken by the lowest index:
   :func:`~autolabel.discovery.eigen.peak_index`);
3. the foreground's 4-connected component holding the seed is one object (with
   ``all_components``, every component of at least ``min_patches`` patches is);
4. the regions found leave the graph (the rest of the foreground side stays, for a later
   cut); stop after ``cuts`` rounds, when fewer than ``min_patches * 2`` patches remain, or
   when the remaining graph is constant (nothing left to cut).

Objectness is :func:`~autolabel.discovery.scores.ncut_score`: one minus half the Normalized Cut value of the region
against the rest of the image on the same graph, in [0, 1].

Batched: :func:`maskcut_regions_batch` runs round ``r`` for every image of a batch at once on
the keys' device (images that stopped are left out of the eigensolve). Copies per round, to
the host: a ``(B,)`` bool (which images still cut), then the cut's ``(b, N)`` foreground masks
and ``(b,)`` seeds; the components are labelled on the host (scipy); to the device: the ``b``
cutting images' indices and the ``(b, N)`` patches their components took. Add the
eigensolver's own (:mod:`autolabel.discovery.eigen`: per Krylov cycle). The regions are scored once at the end, on the device (one copy of
their masks there, one of the scores back). The per-image form calls it with ``B = 1``.
Each cut solves :func:`~autolabel.discovery.eigen.second_eigenvectors` restricted to the
patches left; its dense-or-Krylov choice follows the grid's ``N``, not the number of patches
left, so every cut of every image of a batch uses one solver.

Grid conventions: see :mod:`autolabel.discovery.regions`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from autolabel.discovery.eigen import peak_index, second_eigenvectors
from autolabel.discovery.regions import FOUR, Region, check_batch_grid, check_grid, mask_box, nms_regions
from autolabel.discovery.scores import contrast_values, cosine, ncut_values
from autolabel.discovery.tokencut import bipartition


def _corners(mask: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` bool -> ``(B,)`` int64: how many of the grid's four corners (flat indices
    ``corners`` ``(4,)``, on the mask's device) each mask holds."""
    return mask[:, corners].sum(dim=1)


def maskcut_regions_batch(keys: torch.Tensor, grid_hw: tuple[int, int], *, cuts: int = 3, tau: float = 0.2,
                          eps: float = 1e-5, all_components: bool = True, min_patches: int = 2, nms_iou: float = 0.5,
                          solver: str = "auto", score: str = "ncut", score_tau: float | None = None) -> list[list[Region]]:
    """Objects from ``cuts`` successive Normalized Cuts, each on the patches left by the others,
    for every image of a batch.

    Args:
        keys: ``(B, N, C)`` patch features of ``B`` images on one grid, ``N = h * w``,
            row-major, on any device.
        grid_hw: ``(h, w)``, height first.
        cuts: rounds (at most this many cuts; each may yield several regions); MaskCut published 3.
        tau, eps: TokenCut's graph (published 0.2, 1e-5).
        all_components: every component of the foreground side is an object (else only the seed's).
        min_patches: smaller components are dropped (the seed's is always kept).
        nms_iou: IoU above which the lower-objectness of two boxes is dropped.
        solver: see :func:`autolabel.discovery.eigen.second_eigenvectors`.
        score: ``ncut`` (:func:`~autolabel.discovery.scores.ncut_values`, the default) or
            ``contrast`` (:func:`~autolabel.discovery.scores.contrast_values`).
        score_tau: similarity threshold of the graph the ``ncut`` score uses; None = ``tau``.

    Returns:
        Per image, its regions by descending objectness.
    """
    h, w = check_batch_grid(keys, grid_hw)
    b, n = keys.shape[0], h * w
    dev = keys.device
    sim = cosine(keys)  # (B, N, N) float32
    links = (sim > tau).float()  # 0/1: sums of them are exact integers in float32
    graph = torch.where(links > 0, torch.ones((), device=dev), torch.full((), eps, device=dev))
    corners = torch.tensor([0, w - 1, (h - 1) * w, h * w - 1], device=dev)
    active = torch.ones(b, n, dtype=torch.bool, device=dev)
    alive = np.ones(b, dtype=bool)
    found: list[list[tuple[np.ndarray, int]]] = [[] for _ in range(b)]  # per image: (mask (h, w), seed)
    for _ in range(max(1, cuts)):
        on = active.float()
        count = active.sum(dim=1)
        pairs = (torch.bmm(links, on[:, :, None]).squeeze(2).double() * on).sum(dim=1)  # linked active pairs
        varied = (pairs > 0) & (pairs < count.double() ** 2)  # a constant graph has no cut left
        alive &= ((count >= max(4, 2 * min_patches)) & varied).cpu().numpy()  # host copy: which images still cut
        if not alive.any():
            break
        idx_h = np.flatnonzero(alive)
        idx = torch.from_numpy(idx_h).to(dev)
        act = active[idx]
        x = second_eigenvectors(graph if len(idx_h) == b else graph[idx], act, solver=solver)
        fg, seed = bipartition(x, act)
        bg = act & ~fg
        c_fg, c_bg = _corners(fg, corners), _corners(bg, corners)
        swap = (c_fg >= 3) & (c_bg < c_fg)  # the corner rule: a side holding most corners is background
        fg = torch.where(swap[:, None], bg, fg)
        seed = torch.where(swap, peak_index(x, fg), seed)
        fg_h, seed_h = fg.cpu().numpy(), seed.cpu().numpy()  # host copy: the round's cuts
        taken = np.zeros((len(idx_h), n), dtype=bool)
        for j, i in enumerate(idx_h):
            if not fg_h[j].any():
                alive[i] = False
                continue
            comps = _components(fg_h[j].reshape(h, w), int(seed_h[j]), all_components, min_patches)
            found[i].extend(comps)
            for comp, _ in comps:
                taken[j] |= comp.reshape(-1)
        active[idx] &= ~torch.from_numpy(taken).to(dev)
    return _ranked(found, sim, links if score_tau is None else (sim > score_tau).float(), score, nms_iou)


def _components(fg: np.ndarray, seed: int, all_components: bool, min_patches: int) -> list[tuple[np.ndarray, int]]:
    """The objects of one cut's foreground ``fg`` ``(h, w)``: ``(mask, seed)`` per 4-connected
    component, in label order: the seed's, and (with ``all_components``) every other of at least
    ``min_patches`` patches, seeded at its first patch."""
    labels, count = ndimage.label(fg, structure=FOUR)
    seed_label = labels.reshape(-1)[seed]
    out = []
    for lab in range(1, count + 1):
        comp = labels == lab
        if lab != seed_label and (not all_components or comp.sum() < min_patches):
            continue
        out.append((comp, seed if lab == seed_label else int(np.flatnonzero(comp.reshape(-1))[0])))
    return out


def _ranked(found: list[list[tuple[np.ndarray, int]]], sim: torch.Tensor, links: torch.Tensor, score: str,
            nms_iou: float) -> list[list[Region]]:
    """Per image, its found ``(mask, seed)`` pairs as regions scored on the device (one batched
    call; ``links`` ``(B, N, N)`` float 0/1 is the ``ncut`` score's graph), by descending
    objectness after NMS."""
    b, n = sim.shape[0], sim.shape[1]
    k = max((len(f) for f in found), default=0)
    if k == 0:
        return [[] for _ in range(b)]
    rows = np.zeros((b, k, n), dtype=np.float32)
    for i, f in enumerate(found):
        for j, (comp, _) in enumerate(f):
            rows[i, j] = comp.reshape(-1)
    r = torch.from_numpy(rows).to(sim.device)
    values = ncut_values(r, links) if score == "ncut" else contrast_values(r, sim)
    values_h = values.double().cpu().numpy()  # host copy: the scores
    out = []
    for i, f in enumerate(found):
        regions = [Region(mask_box(comp), float(values_h[i, j]), s, comp) for j, (comp, s) in enumerate(f)]
        out.append(nms_regions(regions, nms_iou))
    return out


def maskcut_regions(keys: torch.Tensor, grid_hw: tuple[int, int], *, cuts: int = 3, tau: float = 0.2,
                    eps: float = 1e-5, all_components: bool = True, min_patches: int = 2, nms_iou: float = 0.5,
                    solver: str = "auto", score: str = "ncut", score_tau: float | None = None) -> list[Region]:
    """:func:`maskcut_regions_batch` on one image's ``(N, C)`` keys (``B = 1``): its regions by
    descending objectness (parameters as there)."""
    check_grid(keys, grid_hw)
    return maskcut_regions_batch(keys[None], grid_hw, cuts=cuts, tau=tau, eps=eps, all_components=all_components,
                                 min_patches=min_patches, nms_iou=nms_iou, solver=solver, score=score,
                                 score_tau=score_tau)[0]
