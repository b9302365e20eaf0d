"""The Normalized Cut eigenvector of a batch of graphs, on any device (TokenCut, MaskCut).

:func:`second_eigenvectors` solves, for each of ``B`` graphs ``A`` ``(N, N)`` and its degrees
``d`` (``D = diag(d)``), the generalised eigenproblem ``(D - A) x = λ D x`` for the
second-smallest ``λ``, restricted to each graph's *active* patches (MaskCut's later cuts run on
the patches the earlier ones left).

Through ``y = D^½ x`` it is the eigenvector of ``M = D^-½ A D^-½`` with the second-*largest*
eigenvalue. ``M``'s largest is known (1, vector ``t ∝ D^½ 1``), and every eigenvalue of ``M``
lies in ``[-1, 1]``, so the solvers work on the deflated, shifted operator

    ``S = M - 2 t tᵀ + I``  (active rows and columns only; zero elsewhere),

whose eigenvalues lie in ``[0, 2]``: ``t`` moves to 0 and the wanted vector is the top one.
Inactive patches have zero rows and columns (eigenvalue 0), so they can never outrank it.

Solvers (``solver``):

* ``dense``: ``torch.linalg.eigh`` of ``S`` in float64, batched, O(N³);
* ``lobpcg``: a batched LOBPCG of this module's own (block of 2, Rayleigh-Ritz on the
  orthonormalised ``[X, R, P]``), float32, its residual checked every :data:`CHECK_EVERY`
  iterations; an image whose residual is below ``1e-4`` is frozen (taken out of the batch), so
  its result does not depend on the other images of its batch. Images whose float32 residual
  is still above ``1e-3`` after :data:`MAX_ITER32` iterations are polished in float64 from
  there (the same iteration, to ``1e-8``);
* ``auto``: ``dense`` up to :data:`DENSE_MAX_N` patches, ``lobpcg`` above.

Host copies: none on the dense path; on the LOBPCG path one ``(b,)`` bool per check (which
images converged) and one after the float32 phase (which images need the float64 polish). The
start vectors come from a seeded CPU generator (one ``(N, 2)`` draw, the same for every
image), copied to the device once.

Degenerate graphs: when ``λ`` is repeated (a constant graph, or one of three or more
disconnected parts) any vector of its eigenspace is a solution; the solvers return one of
them, deterministically for a given seed, but which one is arbitrary. Two disconnected parts
give the indicator-like split (``x`` constant on each part).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SOLVERS = ("auto", "dense", "lobpcg")
"""Eigensolvers of :func:`second_eigenvectors`."""

DENSE_MAX_N = 256
"""``auto`` solves densely (``torch.linalg.eigh``) up to this many patches, with ``lobpcg`` above."""

BLOCK = 2
"""LOBPCG block size: the second column (tending to the third eigenvector) speeds up the first."""

CHECK_EVERY = 4
"""LOBPCG iterations between convergence checks (one host copy of a ``(b,)`` bool each)."""

MAX_ITER32, MAX_ITER64 = 200, 200
"""LOBPCG iterations at most in float32, and in the float64 polish."""

TOL32, POLISH_ABOVE, TOL64 = 1e-4, 1e-3, 1e-8
"""Residual ``‖S y - θ y‖`` (``y`` unit) at which float32 iteration stops; above which its
result is polished in float64; at which the polish stops."""


def second_eigenvectors(graphs: torch.Tensor, active: torch.Tensor | None = None, *, solver: str = "auto",
                        seed: int = 0) -> torch.Tensor:
    """Per graph, the generalised eigenvector of ``(D - A) x = λ D x`` for the second-smallest ``λ``.

    Args:
        graphs: ``(B, N, N)`` symmetric non-negative weights ``A`` (any float dtype, on any
            device) with positive row sums over the active patches.
        active: ``(B, N)`` bool, the patches each problem is restricted to (the graph's other
            rows and columns are ignored); None = all.
        solver: one of :data:`SOLVERS`.
        seed: seed of the LOBPCG start vectors (results are deterministic).

    Returns:
        ``(B, N)`` float64 on ``graphs.device``: ``x`` on the active patches, 0 elsewhere, with
        ``xᵀ D x = 1`` and its largest-``|x|`` entry positive (an image with fewer than 2
        active patches gets zeros).
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if graphs.ndim != 3 or graphs.shape[1] != graphs.shape[2]:
        raise ValueError(f"graphs must be (B, N, N), got {tuple(graphs.shape)}")
    b, n, _ = graphs.shape
    dev = graphs.device
    act = torch.ones(b, n, dtype=torch.bool, device=dev) if active is None else active.to(dev, torch.bool)
    if b == 0:
        return torch.zeros(0, n, dtype=torch.float64, device=dev)
    if solver == "dense" or n <= 4 * BLOCK or (solver == "auto" and n <= DENSE_MAX_N):
        op = _Operator.of(graphs.to(torch.float64), act)
        y = torch.linalg.eigh(op.dense()).eigenvectors[:, :, -1]
    else:
        op = _Operator.of(graphs if graphs.dtype == torch.float32 else graphs.float(), act)
        y = _lobpcg_top(op, graphs, seed)
    d = op.d.double()
    x = op.d_isqrt.double() * y
    x = x / (x * x * d).sum(dim=1, keepdim=True).sqrt().clamp(min=1e-300)
    top = x.gather(1, x.abs().argmax(dim=1, keepdim=True))
    x = torch.where(top < 0, -x, x)
    return torch.where((act.sum(dim=1) < 2)[:, None], torch.zeros_like(x), x)


def second_eigenvector(graph: torch.Tensor, solver: str = "auto", seed: int = 0) -> torch.Tensor:
    """:func:`second_eigenvectors` of one ``(N, N)`` graph: ``(N,)`` float64."""
    return second_eigenvectors(graph[None], solver=solver, seed=seed)[0]


@dataclass(frozen=True)
class _Operator:
    """``S = D^-½ A D^-½ - 2 t tᵀ + I`` restricted to the active patches (zero rows and columns
    elsewhere), ``t = D^½ 1 / ‖D^½ 1‖``, for a batch; applied without forming it (one ``bmm``
    with ``A`` per product), in ``A``'s dtype. Built by :meth:`of`.

    Attributes:
        a: ``(b, N, N)`` the graphs (their inactive rows and columns never reach a result).
        act: ``(b, N)`` bool active patches.
        d: ``(b, N)`` degrees over the active patches (0 on inactive ones).
        d_isqrt: ``(b, N)`` ``d^-½`` on active patches, 0 elsewhere.
        t: ``(b, N)`` unit ``D^½ 1``.
    """

    a: torch.Tensor
    act: torch.Tensor
    d: torch.Tensor
    d_isqrt: torch.Tensor
    t: torch.Tensor

    @classmethod
    def of(cls, a: torch.Tensor, act: torch.Tensor) -> _Operator:
        """The operators of graphs ``a`` ``(b, N, N)`` on patches ``act`` ``(b, N)`` bool."""
        on = act.to(a.dtype)
        d = (a * on[:, None, :]).sum(dim=2) * on  # not a bmm: a one-column bmm rounds differently for B = 1
        tiny = torch.finfo(a.dtype).tiny
        d_isqrt = torch.where(act, d.clamp(min=tiny).rsqrt(), torch.zeros_like(d))
        t = d.sqrt()
        return cls(a, act, d, d_isqrt, t / torch.linalg.vector_norm(t, dim=1, keepdim=True).clamp(min=tiny))

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        """``S q`` for ``q`` ``(b, N, m)``."""
        dis = self.d_isqrt[:, :, None]
        mq = dis * torch.bmm(self.a, dis * q)
        tq = torch.bmm(self.t[:, None, :], q)  # (b, 1, m)
        return mq - 2.0 * self.t[:, :, None] * tq + self.act[:, :, None].to(q.dtype) * q

    def dense(self) -> torch.Tensor:
        """``(b, N, N)`` ``S`` itself."""
        dis, t = self.d_isqrt, self.t
        s = dis[:, :, None] * self.a * dis[:, None, :] - 2.0 * t[:, :, None] * t[:, None, :]
        return s + torch.diag_embed(self.act.to(s.dtype))

    def take(self, idx: torch.Tensor) -> _Operator:
        """The operators of images ``idx`` (their tensors' rows; nothing recomputed)."""
        return _Operator(*(v[idx] for v in (self.a, self.act, self.d, self.d_isqrt, self.t)))


def _lobpcg_top(op: _Operator, graphs: torch.Tensor, seed: int) -> torch.Tensor:
    """``(B, N)`` float64 unit top eigenvectors of ``op`` (float32): float32 LOBPCG, then a
    float64 polish (on ``graphs`` in float64) of the images whose residual stayed above
    :data:`POLISH_ABOVE`."""
    b, n = op.d.shape
    mask = op.act.float()[:, :, None]
    g = torch.Generator().manual_seed(seed)
    start = torch.randn(n, BLOCK, generator=g, dtype=torch.float32).to(graphs.device)
    x, res, _ = _lobpcg(op, start * mask, mask, TOL32, MAX_ITER32)
    y = x[:, :, 0].double()
    redo = (res > POLISH_ABOVE).cpu()  # host copy: which images need float64
    if bool(redo.any()):
        idx = torch.nonzero(redo).squeeze(1).to(graphs.device)
        op64 = _Operator.of(graphs[idx].double(), op.act[idx])
        x64, _, _ = _lobpcg(op64, x[idx].double() * mask[idx].double(), mask[idx].double(), TOL64, MAX_ITER64)
        y = y.index_copy(0, idx, x64[:, :, 0])
    return y


def _lobpcg(op: _Operator, x0: torch.Tensor, mask: torch.Tensor, tol: float,
            max_iter: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched LOBPCG for the top ``k`` eigenpairs of the symmetric operators ``op``.

    Args:
        op: ``b`` operators, zero outside each image's active block.
        x0: ``(b, N, k)`` start vectors, zero outside the active block.
        mask: ``(b, N, 1)`` 1 on active patches, 0 elsewhere (residuals are kept in the active subspace).
        tol: residual norm of the top Ritz pair at which an image is frozen.
        max_iter: iterations at most (rounded up to a multiple of :data:`CHECK_EVERY`).

    Returns:
        ``(b, N, k)`` Ritz vectors (top first, orthonormal), ``(b,)`` the top pair's final
        residual norm and ``(b,)`` int64 the iterations each image ran. An image's iterates depend only on its own operator and start: checks
        happen at fixed iteration counts, and a frozen image leaves the batch.
    """
    b, _, k = x0.shape
    out = x0.clone()
    res_out = torch.full((b,), float("inf"), dtype=x0.dtype, device=x0.device)
    iters = torch.zeros(b, dtype=torch.int64, device=x0.device)
    live = torch.arange(b, device=x0.device)
    q = torch.linalg.qr(x0).Q
    sq = op(q)
    c = _ritz_coefficients(q, sq, k)
    x, sx = torch.bmm(q, c), torch.bmm(sq, c)
    p: torch.Tensor | None = None
    it = 0
    while live.numel() and it < max_iter:
        for _ in range(CHECK_EVERY):
            theta = (x * sx).sum(dim=1, keepdim=True)
            r = (sx - x * theta) * mask
            q = torch.linalg.qr(torch.cat([x, r] if p is None else [x, r, p], dim=2)).Q
            sq = op(q)
            c = _ritz_coefficients(q, sq, k)
            x, sx = torch.bmm(q, c), torch.bmm(sq, c)
            p = torch.bmm(q[:, :, k:], c[:, k:])  # the step outside span(X)
            it += 1
        theta = (x[:, :, 0] * sx[:, :, 0]).sum(dim=1, keepdim=True)
        res = torch.linalg.vector_norm((sx[:, :, 0] - theta * x[:, :, 0]) * mask[:, :, 0], dim=1)
        out.index_copy_(0, live, x)
        res_out.index_copy_(0, live, res)
        iters.index_fill_(0, live, it)
        done = (res < tol).cpu()  # host copy: one (b,) bool per check
        if bool(done.any()):
            keep = torch.nonzero(~done).squeeze(1).to(x0.device)
            live, op, x, sx, p, mask = live[keep], op.take(keep), x[keep], sx[keep], p[keep], mask[keep]
    return out, res_out, iters


def _ritz_coefficients(q: torch.Tensor, sq: torch.Tensor, k: int) -> torch.Tensor:
    """``(b, m, k)`` coefficients in the orthonormal basis ``q`` ``(b, N, m)`` of the top ``k``
    Ritz vectors of ``S`` (``sq = S q``), top first."""
    h = torch.bmm(q.transpose(1, 2), sq)
    vecs = torch.linalg.eigh((h + h.transpose(1, 2)) / 2).eigenvectors
    return vecs[:, :, -k:].flip(-1)
