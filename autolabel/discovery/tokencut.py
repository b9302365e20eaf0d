"""TokenCut: Normalized Cut on patch keys (Wang et al., "Self-Supervised Transformers for
Unsupervised Object Discovery using Normalized Cut", CVPR 2022), as pure tensor functions.

Single object (``tokencut_single``), exactly as published:

1. keys L2-normalised per patch; ``S = K Kᵀ`` (cosine similarity);
2. graph ``A``: weight 1 where ``S > tau``, ``eps`` elsewhere (the diagonal included);
3. ``d`` = row sums of ``A``, ``D = diag(d)``;
4. ``x`` = the second-smallest generalised eigenvector of ``(D - A) x = λ D x``;
5. bipartition: ``x > mean(x)``; the patch with the largest ``|x|`` is the seed and its side
   is the foreground;
6. box = bounds of the 4-connected foreground component holding the seed.

The eigenvector is computed through the symmetric normalised form: with ``y = D^½ x``,
``(D - A) x = λ D x`` is ``(I - D^-½ A D^-½) y = λ y``, so ``x`` is ``D^-½`` times the
eigenvector of ``M = D^-½ A D^-½`` with the second-*largest* eigenvalue. ``M``'s largest is
known (eigenvalue 1, vector ``D^½ 1``), so the solver deflates it and needs one eigenvector:
see :func:`second_eigenvector` for the solvers and the measurement that picked the default.

Grid conventions: see :mod:`autolabel.discovery.regions`.
"""

from __future__ import annotations

import numpy as np
import torch

from autolabel.discovery.regions import GridBox, Region, check_grid, region_from_mask

SOLVERS = ("auto", "dense", "lobpcg", "eigsh")
"""Eigensolvers for :func:`second_eigenvector`."""

DENSE_MAX_N = 256
"""``auto`` solves densely (``torch.linalg.eigh``) up to this many patches, with ``lobpcg`` above."""


def tokencut_graph(keys: torch.Tensor, tau: float = 0.2, eps: float = 1e-5) -> torch.Tensor:
    """``(N, C)`` keys -> ``(N, N)`` float64 TokenCut graph: 1 where cosine > ``tau``, ``eps`` elsewhere."""
    k = torch.nn.functional.normalize(keys.float(), dim=1)
    sim = k @ k.T
    one = torch.ones((), dtype=torch.float64)
    return torch.where(sim > tau, one, torch.full((), eps, dtype=torch.float64))


def second_eigenvector(graph: torch.Tensor, solver: str = "auto", seed: int = 0) -> torch.Tensor:
    """The generalised eigenvector of ``(D - A) x = λ D x`` for the second-smallest ``λ``.

    Args:
        graph: ``(N, N)`` symmetric non-negative weights ``A`` with positive row sums.
        solver: ``dense`` (``torch.linalg.eigh`` in float64, every eigenpair: O(N³)),
            ``lobpcg`` (``torch.lobpcg`` on the deflated matrix, a block of 2 in float32,
            redone in float64 from that start when its residual exceeds 1e-3), ``eigsh``
            (ARPACK through ``scipy.sparse.linalg.eigsh``, float64), or ``auto`` (dense up
            to :data:`DENSE_MAX_N` patches, ``lobpcg`` above). Measured in the README: at
            30x40 patches dense 345 ms, eigsh 183 ms, lobpcg 15-20 ms of CPU time.
        seed: seed of the iterative solvers' start vectors (results are deterministic).

    Returns:
        ``(N,)`` float64 ``x``, scaled so that ``xᵀ D x = 1``; its sign is arbitrary (the
        caller orients it).
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    n = graph.shape[0]
    if n <= 3 or solver == "dense" or (solver == "auto" and n <= DENSE_MAX_N):
        a = graph.to(torch.float64)
        d = a.sum(dim=1)
        d_isqrt = d.rsqrt()
        _, vecs = torch.linalg.eigh(d_isqrt[:, None] * a * d_isqrt[None, :])
        y = vecs[:, -2] if n >= 2 else vecs[:, -1]
    elif solver == "eigsh":
        from scipy.sparse.linalg import eigsh

        m, d = _deflated(graph.to(torch.float64))
        g = torch.Generator().manual_seed(seed)
        v0 = torch.randn(n, generator=g, dtype=torch.float64).numpy()
        try:
            _, v = eigsh(m.numpy(), k=1, which="LA", v0=v0, tol=1e-8)
        except RuntimeError:  # ARPACK gives up (e.g. a constant graph): solve densely
            return second_eigenvector(graph, "dense")
        y = torch.from_numpy(v[:, 0])
    else:
        m, _ = _deflated(graph.to(torch.float32))
        g = torch.Generator().manual_seed(seed)
        start = torch.randn(n, 2, generator=g, dtype=torch.float32)
        y = _lobpcg_top(m, start, tol=1e-4)
        if torch.linalg.vector_norm(m @ y - (y @ m @ y) * y) > 1e-3:  # not converged in float32
            m, _ = _deflated(graph.to(torch.float64))
            y = _lobpcg_top(m, torch.stack([y.double(), start[:, 1].double()], dim=1), tol=1e-8)
        y = y.double()
    d = graph.to(torch.float64).sum(dim=1)
    x = d.rsqrt() * y.double()
    return x / torch.sqrt((x * x * d).sum())


def _deflated(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``M - t tᵀ`` for ``M = D^-½ A D^-½`` and its known top eigenvector ``t ∝ D^½ 1``; and ``d``.

    Every eigenvalue of ``M`` lies in ``[-1, 1]``; removing the top pair ``(1, t)`` makes the
    second-largest the largest.
    """
    d = a.sum(dim=1)
    d_isqrt = d.rsqrt()
    top = d.sqrt()
    top = top / top.norm()
    return d_isqrt[:, None] * a * d_isqrt[None, :] - top[:, None] * top[None, :], d


def _lobpcg_top(m: torch.Tensor, start: torch.Tensor, tol: float) -> torch.Tensor:
    """Unit eigenvector of the largest eigenvalue of symmetric ``m`` (eigenvalues in [-1, 1])."""
    n = m.shape[0]
    shifted = m + torch.eye(n, dtype=m.dtype)  # positive semi-definite, same eigenvectors
    vals, vecs = torch.lobpcg(shifted, k=start.shape[1], X=start, largest=True, tol=tol, niter=200)
    y = vecs[:, int(vals.argmax())]
    return y / y.norm()


def bipartition(x: torch.Tensor) -> tuple[np.ndarray, int]:
    """TokenCut's split of the eigenvector ``x`` ``(N,)``: ``(foreground (N,) bool, seed index)``.

    Foreground = the side of the mean holding the seed, the patch with the largest ``|x|``
    (the first of equal ones).
    """
    xv = x.double().cpu().numpy()
    above = xv > xv.mean()
    seed = int(np.argmax(np.abs(xv)))
    return (above if above[seed] else ~above), seed


def tokencut_region(keys: torch.Tensor, grid_hw: tuple[int, int], tau: float = 0.2, eps: float = 1e-5,
                    solver: str = "auto") -> Region:
    """TokenCut as published, as a :class:`Region`.

    Objectness is ``1 - |F| / N`` for the seed's foreground side ``F`` of ``N`` patches, a
    measure in ``[0, 1)`` of how small a part of the image the cut sets apart (NCut itself
    gives no per-object score; a cut that takes most of the image is seldom one object).

    Args:
        keys: ``(N, C)`` patch keys, ``N = h * w``, row-major.
        grid_hw: ``(h, w)``, height first.
        tau: cosine similarity above which two patches are joined with weight 1.
        eps: weight of every other pair.
        solver: see :func:`second_eigenvector`.
    """
    h, w = check_grid(keys, grid_hw)
    x = second_eigenvector(tokencut_graph(keys, tau, eps), solver)
    fg, seed = bipartition(x)
    mask = fg.reshape(h, w)
    return region_from_mask(mask, seed, 1.0 - float(fg.sum()) / (h * w))


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
