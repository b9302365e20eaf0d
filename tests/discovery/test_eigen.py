"""The batched Normalized Cut eigensolver against a dense generalised ``eigh`` written here from
the definition, ``(D - A) x = λ D x`` on the active patches only."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from autolabel.discovery.eigen import DENSE_MAX_N, peak_index, second_eigenvector, second_eigenvectors
from autolabel.discovery.tokencut import tokencut_graph
from tests.discovery.test_tokencut import planted


def reference(graph: torch.Tensor, active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, eigenvalues)``: the second generalised eigenvector of ``(D - A, D)`` on the active
    patches (0 elsewhere, ``xᵀ D x = 1``) and the ascending eigenvalues, by scipy in float64."""
    a = graph.double().numpy()
    n = a.shape[0]
    idx = np.arange(n) if active is None else np.flatnonzero(active)
    sub = a[np.ix_(idx, idx)]
    d = np.diag(sub.sum(axis=1))
    vals, vecs = scipy.linalg.eigh(d - sub, d)
    x = np.zeros(n)
    x[idx] = vecs[:, 1] / np.sqrt(vecs[:, 1] @ d @ vecs[:, 1])
    return x, vals


def assert_same_up_to_sign(x: torch.Tensor, ref: np.ndarray, atol: float) -> None:
    got = x.numpy()
    assert min(np.abs(got - ref).max(), np.abs(got + ref).max()) < atol


def scenes(b: int, h: int, w: int, dtype: torch.dtype = torch.float32, dim: int = 32) -> torch.Tensor:
    """``(b, h*w, dim)`` planted keys, one or two objects each, in ``dtype``."""
    out = []
    for i in range(b):
        objs = [(1 + i % 3, 1, 1 + i % 3 + w // 3, 1 + h // 3)] + ([(w - 4, h - 5, w - 1, h - 1)] if i % 2 else [])
        out.append(planted(h, w, objs, dim=dim, noise=0.5, seed=i))
    return torch.stack(out).to(dtype)


@pytest.mark.parametrize("solver, hw", [("dense", (9, 11)), ("dense", (16, 16)), ("krylov", (9, 11)), ("krylov", (20, 25)),
                                        ("auto", (9, 11)), ("auto", (20, 25))])
def test_matches_the_dense_generalised_reference_up_to_sign(solver: str, hw: tuple[int, int]) -> None:
    graphs = tokencut_graph(scenes(4, *hw))
    x = second_eigenvectors(graphs, solver=solver)
    assert x.shape == (4, hw[0] * hw[1]) and x.dtype == torch.float64
    for g, xi in zip(graphs, x):
        ref, _ = reference(g)
        assert_same_up_to_sign(xi, ref, 1e-8 if solver == "dense" or (solver == "auto" and hw == (9, 11)) else 1e-4)
        d = g.double().sum(dim=1)
        assert float((xi * xi * d).sum()) == pytest.approx(1.0)
        assert float(xi[peak_index(xi[None])[0]]) > 0  # oriented: the largest |x| (first of near-equal ones) is positive


@pytest.mark.parametrize("solver", ["dense", "krylov"])
def test_active_subsets_solve_the_subgraph_and_are_zero_elsewhere(solver: str) -> None:
    h, w = 18, 20
    graphs = tokencut_graph(scenes(3, h, w))
    g = torch.Generator().manual_seed(1)
    active = torch.rand(3, h * w, generator=g) > torch.tensor([[0.0], [0.3], [0.7]])  # all, 70 %, 30 %
    x = second_eigenvectors(graphs, active, solver=solver)
    for gi, ai, xi in zip(graphs, active, x):
        ref, _ = reference(gi, ai.numpy())
        assert_same_up_to_sign(xi, ref, 1e-4)
        assert not bool(xi[~ai].any())
    # the graph's inactive rows and columns are never read: changing them changes nothing
    noisy = graphs.clone()
    noisy[~active] = 7.0  # rows
    noisy.transpose(1, 2)[~active] = 7.0  # columns
    assert torch.equal(second_eigenvectors(noisy, active, solver=solver), x)


@pytest.mark.parametrize("solver", ["dense", "krylov"])
def test_two_disconnected_parts_split_into_their_indicators(solver: str) -> None:
    """A graph of two cliques joined only by ``eps``: ``λ₂ ≈ 0``, ``x`` constant on each part
    with opposite signs (the generalised eigenvector of a two-part graph)."""
    n = 300
    part = torch.arange(n) < 110
    a = torch.where(part[:, None] == part[None, :], 1.0, 1e-5)
    x = second_eigenvectors(a[None], solver=solver)[0]
    ref, vals = reference(a)
    assert vals[1] < 1e-3 < vals[2]
    assert_same_up_to_sign(x, ref, 1e-5)
    assert bool((x[part] > 0).all() and (x[~part] < 0).all()) or bool((x[part] < 0).all() and (x[~part] > 0).all())


@pytest.mark.parametrize("solver", ["dense", "krylov"])
def test_constant_graph_gives_some_vector_of_the_degenerate_eigenspace(solver: str) -> None:
    """Every pair linked: ``λ = 1`` for every vector orthogonal to ``D 1``; the solver returns
    one of them (which one is arbitrary), deterministically, ``D``-normalised."""
    n = 270
    a = torch.ones(1, n, n)
    x = second_eigenvectors(a, solver=solver)[0]
    d = a[0].double().sum(dim=1)
    assert float((x * d).sum()) == pytest.approx(0.0, abs=1e-4)  # D-orthogonal to the constant vector
    assert float((x * x * d).sum()) == pytest.approx(1.0)
    residual = (torch.diag(d) - a[0].double()) @ x - d * x  # λ = 1
    assert float(residual.abs().max()) < 1e-3
    assert torch.equal(second_eigenvectors(a, solver=solver)[0], x)


def test_bf16_keys_give_the_bf16_graphs_eigenvectors() -> None:
    keys = scenes(3, 20, 25, dtype=torch.bfloat16)
    graphs = tokencut_graph(keys)
    assert graphs.dtype == torch.float32
    x = second_eigenvectors(graphs)
    for g, xi in zip(graphs, x):
        assert_same_up_to_sign(xi, reference(g)[0], 1e-4)


@pytest.mark.parametrize("solver", ["dense", "krylov"])
def test_each_images_result_does_not_depend_on_its_batch(solver: str) -> None:
    keys = scenes(6, 30, 40) if solver == "krylov" else scenes(6, 12, 15)
    graphs = tokencut_graph(keys)
    active = torch.rand(6, keys.shape[1], generator=torch.Generator().manual_seed(2)) > 0.2
    active[0] = True
    batched = second_eigenvectors(graphs, active, solver=solver)
    for i in range(6):
        _close_same_sign(second_eigenvectors(graphs[i: i + 1], active[i: i + 1], solver=solver)[0], batched[i])
    _close_same_sign(second_eigenvector(graphs[0], solver), batched[0])


def _close_same_sign(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal to the solver's precision (not bit for bit: another batch shape may round otherwise),
    with the same sign (no sign flip between a batch and the image alone)."""
    scale = float(b.abs().max())
    assert float((a - b).abs().max()) <= 1e-3 * scale


def test_peak_index_breaks_near_ties_by_the_lowest_index_whatever_the_last_bits() -> None:
    base = torch.tensor([[0.1, -0.5, 0.3, 0.5, -0.5, 0.2]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):  # rounding noise of another reduction order
        noisy = base * (1 + 1e-7 * torch.randn(base.shape, generator=gen, dtype=torch.float64))
        assert peak_index(noisy).tolist() == [1]
        assert peak_index(noisy, torch.tensor([[True, False, True, True, True, True]])).tolist() == [3]
    assert peak_index(torch.tensor([[0.5, 0.49]])).tolist() == [0]
    assert peak_index(torch.tensor([[0.49, 0.5]])).tolist() == [1]  # a real difference is not a tie
    assert peak_index(torch.zeros(1, 3), torch.zeros(1, 3, dtype=torch.bool)).tolist() == [0]


@pytest.mark.parametrize("solver", ["dense", "krylov"])
def test_the_sign_follows_the_lowest_index_of_equal_entries(solver: str) -> None:
    """Two identical halves, weakly joined: x is +c on one and -c on the other, every |x| equal
    up to rounding. The first patch decides the sign, whichever half it is in."""
    n = 300
    for first_half in (True, False):
        part = (torch.arange(n) % 2 == 0) == first_half
        graph = torch.where(part[:, None] == part[None, :], 1.0, 1e-5)
        x = second_eigenvector(graph, solver)
        assert float(x[0]) > 0 and float(x.abs().min()) > 0.999 * float(x.abs().max())


def test_small_active_sets_and_refusals() -> None:
    n = 400
    assert n > DENSE_MAX_N
    part = torch.arange(n) % 3 == 0
    graphs = torch.where(part[:, None] == part[None, :], 1.0, 0.01).expand(2, n, n)
    active = torch.zeros(2, n, dtype=torch.bool)
    active[0, [0, 1, 2, 3, 4, 6, 9]] = True  # 7 patches (4 of one part): fewer than the Krylov basis (10)
    active[1, 5] = True  # one patch: nothing to split
    x = second_eigenvectors(graphs, active, solver="krylov")
    assert_same_up_to_sign(x[0], reference(graphs[0], active[0].numpy())[0], 1e-4)
    assert not bool(x[1].any())
    with pytest.raises(ValueError, match="solver must be one of"):
        second_eigenvectors(graphs, solver="eigsh")
    with pytest.raises(ValueError, match=r"\(B, N, N\)"):
        second_eigenvectors(graphs[0])


def test_images_left_unconverged_in_float32_are_polished_in_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    """With float32 cut short (4 iterations), the images whose residual is still above
    ``POLISH_ABOVE`` are redone in float64 from there, to the dense reference's precision; the
    others keep their float32 result."""
    from autolabel.discovery import eigen

    graphs = tokencut_graph(scenes(4, 20, 25))
    calls = []
    real = eigen._block_krylov

    def spy(op, x0, mask, tol, max_iter):
        out = real(op, x0, mask, tol, max_iter)
        calls.append((x0.dtype, x0.shape[0], out[1]))
        return out

    monkeypatch.setattr(eigen, "_block_krylov", spy)
    monkeypatch.setattr(eigen, "MAX_ITER32", 4)
    x = second_eigenvectors(graphs, solver="krylov")
    (dt32, b32, res32), (dt64, b64, res64) = calls
    assert (dt32, b32, dt64) == (torch.float32, 4, torch.float64)
    polished = res32 > eigen.POLISH_ABOVE
    assert 0 < b64 == int(polished.sum()) < 4 and bool((res64 < eigen.TOL64).all())
    for i in range(4):
        ref = reference(graphs[i])[0]
        if polished[i]:
            assert_same_up_to_sign(x[i], ref, 1e-7)
    monkeypatch.setattr(eigen, "POLISH_ABOVE", float("inf"))  # no polish: those images stay imprecise
    rough = second_eigenvectors(graphs, solver="krylov")
    i = int(polished.nonzero()[0, 0])
    with pytest.raises(AssertionError):
        assert_same_up_to_sign(rough[i], reference(graphs[i])[0], 1e-5)
