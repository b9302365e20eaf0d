"""TokenCut against an implementation written here from the paper's definition (dense
generalised eigenproblem through scipy), on planted key grids; the solvers agree."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy import ndimage

from autolabel.discovery.eigen import second_eigenvector
from autolabel.discovery.tokencut import (
    bipartition,
    tokencut_graph,
    tokencut_region,
    tokencut_single,
)


def reference_tokencut(keys: np.ndarray, h: int, w: int, tau: float = 0.2, eps: float = 1e-5,
                       gaps: list | None = None, masks: list | None = None) -> tuple[int, int, int, int]:
    """TokenCut from its definition: generalised eigh of (D - A, D), no normalised Laplacian; the
    eigen-gap ``λ₃ - λ₂`` is appended to ``gaps``, the box's component ``(h, w)`` to ``masks``."""
    k = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    a = np.where(k @ k.T > tau, 1.0, eps)
    d = np.diag(a.sum(axis=1))
    vals, vecs = scipy.linalg.eigh(d - a, d)  # ascending eigenvalues
    if gaps is not None:
        gaps.append(vals[2] - vals[1])
    x = vecs[:, 1]
    fg = x > x.mean()
    seed = int(np.argmax(np.abs(x)))
    if not fg[seed]:
        fg = ~fg
    labels, _ = ndimage.label(fg.reshape(h, w))  # default structure: 4-connectivity
    comp = labels == labels[seed // w, seed % w]
    if masks is not None:
        masks.append(comp)
    rows, cols = np.nonzero(comp)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def planted(h: int, w: int, objects: list[tuple[int, int, int, int]], dim: int = 32, noise: float = 0.3,
            seed: int = 0) -> torch.Tensor:
    """Background key + noise, and each object (x1, y1, x2, y2 on the grid) its own key + noise."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(len(objects) + 1, dim, generator=g)
    keys = base[0] + noise * torch.randn(h * w, dim, generator=g)
    for i, (x1, y1, x2, y2) in enumerate(objects, 1):
        for r in range(y1, y2):
            for c in range(x1, x2):
                keys[r * w + c] = base[i] + noise * torch.randn(dim, generator=g)
    return keys


def test_one_planted_object_gives_its_box() -> None:
    keys = planted(12, 16, [(3, 2, 8, 6)])
    assert tokencut_single(keys, (12, 16)) == (3, 2, 8, 6)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("hw", [(10, 14), (17, 9)])
def test_matches_the_generalised_eigh_reference(seed: int, hw: tuple[int, int]) -> None:
    h, w = hw
    rng = np.random.default_rng(seed)
    objects = []
    for _ in range(1 + seed % 2):
        x1, y1 = int(rng.integers(0, w - 4)), int(rng.integers(0, h - 4))
        objects.append((x1, y1, x1 + int(rng.integers(2, 5)), y1 + int(rng.integers(2, 5))))
    keys = planted(h, w, objects, noise=0.5, seed=seed)
    expected = reference_tokencut(keys.double().numpy(), h, w)
    assert tokencut_single(keys, (h, w)) == expected
    for solver in ("dense", "krylov"):
        assert tokencut_region(keys, (h, w), solver=solver).box == expected, solver


def test_eigenvector_solves_the_generalised_problem_and_is_d_normalised() -> None:
    keys = planted(9, 11, [(2, 2, 5, 6)], noise=0.6)
    a = tokencut_graph(keys).double()
    d = a.sum(dim=1)
    for solver in ("dense", "krylov"):
        x = second_eigenvector(a, solver)
        lam = float(x @ ((torch.diag(d) - a) @ x))  # x'Dx = 1, so this is the eigenvalue
        residual = (torch.diag(d) - a) @ x - lam * d * x
        assert float(residual.abs().max()) < 1e-4, solver
        assert float((x * x * d).sum()) == pytest.approx(1.0)
        ref_vals = scipy.linalg.eigh((torch.diag(d) - a).numpy(), torch.diag(d).numpy(), eigvals_only=True)
        assert lam == pytest.approx(ref_vals[1], abs=1e-6), solver


def test_graph_weights_are_one_above_tau_and_eps_elsewhere_diagonal_included() -> None:
    keys = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    a = tokencut_graph(keys, tau=0.2, eps=1e-5)
    assert a.diag().tolist() == [1.0, 1.0, 1.0]
    assert a[0, 1] == 1.0 and a[0, 2] == pytest.approx(1e-5) and torch.equal(a, a.T)


def test_bipartition_takes_the_seed_side() -> None:
    fg, seed = bipartition(torch.tensor([[0.1, 0.2, -0.9, -0.8], [0.5, 0.4, -0.1, 0.1]]))
    assert seed.tolist() == [2, 0] and fg.tolist() == [[False, False, True, True], [True, True, False, False]]
    # restricted to active patches: mean and seed over them only, inactive never foreground
    active = torch.tensor([[False, True, True, True]])
    fg, seed = bipartition(torch.tensor([[5.0, 0.2, -0.9, -0.8]]), active)
    assert seed.tolist() == [2] and fg.tolist() == [[False, False, True, True]]


def test_region_mask_is_the_seed_component_and_the_box_bounds_it() -> None:
    h, w = 10, 12
    keys = planted(h, w, [(1, 1, 4, 4), (7, 5, 11, 9)], noise=0.2)
    r = tokencut_region(keys, (h, w))
    assert r.mask.shape == (h, w) and r.mask[r.seed // w, r.seed % w]
    rows, cols = np.nonzero(r.mask)
    assert r.box == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    assert 0.0 <= r.objectness <= 1.0
    labels, _ = ndimage.label(r.mask)
    assert labels.max() == 1  # one 4-connected component


@pytest.mark.parametrize("hw, objects", [((20, 25), [(3, 4, 11, 12)]), ((30, 40), [(5, 3, 17, 14), (25, 18, 36, 27)])])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_batched_block_krylov_path_matches_the_reference_on_planted_scenes(hw: tuple[int, int], objects: list, dtype: torch.dtype) -> None:
    """Above 256 patches (the Krylov solver), centred planted scenes with a clear eigen-gap: the same box and
    foreground component as the dense generalised reference."""
    from autolabel.discovery.tokencut import tokencut_regions_batch
    from tests.discovery.test_registry import planted as centred

    h, w = hw
    keys = torch.stack([centred(h, w, objects, noise=0.3, seed=s) for s in range(2)]).to(dtype)
    for k, (region,) in zip(keys, tokencut_regions_batch(keys, hw)):
        gaps: list[float] = []
        masks: list[np.ndarray] = []
        box = reference_tokencut(k.float().double().numpy(), h, w, gaps=gaps, masks=masks)
        assert gaps[0] > 0.1 and region.box == box and np.array_equal(region.mask, masks[0])
        assert region.box in objects
