"""TokenCut: Normalized Cut on patch keys (Wang et al., "Self-Supervised Transformers for
Unsupervised Object Discovery using Normalized Cut", CVPR 2022), as pure tensor functions.

Single object (``tokencut_single``), exactly as published:

1. keys L2-normalised per patch; ``S = K Kᵀ`` (cosine similarity);
2. graph ``A``: weight 1 where ``S > tau``, ``eps`` elsewhere (the diagonal included);
3. ``d`` = row sums of ``A``, ``D = diag(d)``;
4. ``x`` = the second-smallest generalised eigenvector of ``(D - A) x = λ D x``;
5. bipartition: ``x > mean(x)``; the patch with the largest ``|x|`` is the seed (near-equal
   ones are ties, broken by the lowest index) and its side is the foreground;
6. box = bounds of the 4-connected foreground component holding the seed.

The eigenvector: :func:`autolabel.discovery.eigen.second_eigenvectors` (dense ``eigh`` up to
256 patches, a batched block Krylov method above), for every image of a batch at once.

Batched: :func:`tokencut_regions_batch` runs steps 1-5 over ``(B, N, C)`` keys on their
device; one host copy of the batch's foreground masks and seeds follows (plus the solver's
convergence checks, see :mod:`autolabel.discovery.eigen`), and step 6 labels components on
the host (scipy). The per-image forms call it with ``B = 1``.

Grid conventions: see :mod:`autolabel.discovery.regions`.
"""

from __future__ import annotations

import torch

from autolabel.discovery.eigen import peak_index, second_eigenvectors
from autolabel.discovery.regions import GridBox, Region, check_batch_grid, check_grid, region_from_mask


def tokencut_graph(keys: torch.Tensor, tau: float = 0.2, eps: float = 1e-5) -> torch.Tensor:
    """``(..., N, C)`` keys -> ``(..., N, N)`` float32 TokenCut graph: 1 where cosine > ``tau``,
    ``eps`` elsewhere (keys normalised in float32), on the keys' device."""
    k = torch.nn.functional.normalize(keys.float(), dim=-1)
    sim = k @ k.transpose(-1, -2)
    return torch.where(sim > tau, torch.ones((), device=sim.device), torch.full((), eps, device=sim.device))


def bipartition(x: torch.Tensor, active: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """TokenCut's split of eigenvectors ``x`` ``(B, N)`` on their device: ``(foreground (B, N)
    bool, seed (B,) int64)``.

    Foreground = the side of the mean (over the active patches) holding the seed, the active
    patch with the largest ``|x|`` (the first of those within
    :data:`~autolabel.discovery.eigen.PEAK_RTOL` of it, :func:`~autolabel.discovery.eigen.peak_index`,
    so the last bits of ``x`` never pick another of equal patches); never an inactive patch.

    Args:
        x: ``(B, N)`` eigenvectors.
        active: ``(B, N)`` bool patches the split is restricted to; None = all.
    """
    act = torch.ones_like(x, dtype=torch.bool) if active is None else active
    xv = x.double()
    mean = (xv * act).sum(dim=1, keepdim=True) / act.sum(dim=1, keepdim=True).clamp(min=1)
    above = xv > mean
    seed = peak_index(xv, act)
    fg = torch.where(above.gather(1, seed[:, None]), above, ~above) & act
    return fg, seed


def tokencut_regions_batch(keys: torch.Tensor, grid_hw: tuple[int, int], *, tau: float = 0.2, eps: float = 1e-5,
                           solver: str = "auto") -> list[list[Region]]:
    """TokenCut as published on every image of a batch: per image, a one-region list.

    Objectness is ``1 - |F| / N`` for the seed's foreground side ``F`` of ``N`` patches, a
    measure in ``[0, 1)`` of how small a part of the image the cut sets apart (NCut itself
    gives no per-object score; a cut that takes most of the image is seldom one object).

    Args:
        keys: ``(B, N, C)`` patch keys of ``B`` images on one grid, ``N = h * w``, row-major,
            on any device.
        grid_hw: ``(h, w)``, height first.
        tau: cosine similarity above which two patches are joined with weight 1.
        eps: weight of every other pair.
        solver: see :func:`autolabel.discovery.eigen.second_eigenvectors`.
    """
    h, w = check_batch_grid(keys, grid_hw)
    x = second_eigenvectors(tokencut_graph(keys, tau, eps), solver=solver)
    fg, seed = bipartition(x)
    fg_h, seed_h = fg.cpu().numpy(), seed.cpu().numpy()  # the batch's host copy
    return [[region_from_mask(m.reshape(h, w), int(s), 1.0 - float(m.sum()) / (h * w))] for m, s in zip(fg_h, seed_h)]


def tokencut_region(keys: torch.Tensor, grid_hw: tuple[int, int], tau: float = 0.2, eps: float = 1e-5,
                    solver: str = "auto") -> Region:
    """TokenCut as published on one image's ``(N, C)`` keys, as a :class:`Region`
    (:func:`tokencut_regions_batch` with ``B = 1``).

    Args:
        keys: ``(N, C)`` patch keys, ``N = h * w``, row-major.
        grid_hw: ``(h, w)``, height first.
        tau, eps, solver: see :func:`tokencut_regions_batch`.
    """
    check_grid(keys, grid_hw)
    return tokencut_regions_batch(keys[None], grid_hw, tau=tau, eps=eps, solver=solver)[0][0]


def tokencut_single(keys: torch.Tensor, grid_hw: tuple[int, int], tau: float = 0.2, eps: float = 1e-5) -> GridBox:
    """TokenCut as published: one box ``(x1, y1, x2, y2)`` on the patch grid, ``x2``/``y2`` exclusive.

    Args:
        keys: ``(N, C)`` patch keys, ``N = h * w``, row-major.
        grid_hw: ``(h, w)``, height first.
        tau: cosine similarity above which two patches are joined with weight 1 (published 0.2).
        eps: weight of every other pair (published 1e-5).
    """
    return tokencut_region(keys, grid_hw, tau, eps).box


def tokencut_regions(keys: torch.Tensor, grid_hw: tuple[int, int], *, tau: float = 0.2, eps: float = 1e-5,
                     solver: str = "auto") -> list[Region]:
    """Registry form (``discovery: tokencut``): a one-region list, published ``tau`` / ``eps``."""
    return [tokencut_region(keys, grid_hw, tau, eps, solver)]
