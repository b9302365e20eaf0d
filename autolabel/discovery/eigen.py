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
* ``krylov``: a restarted block Krylov method of this module's own (block Lanczos with full
  reorthogonalisation; block of 2, :data:`CHECK_EVERY` operator products per cycle, then
  Rayleigh-Ritz on the whole basis and a restart from its top Ritz vectors), float32, ``S``
  applied without forming it (one ``bmm`` with ``A`` per product). After each cycle an image
  whose residual ``‖S y - θ y‖`` is below ``1e-4`` is frozen (taken out of the batch), so its
  iterates never depend on the other images' values. They are not bit-for-bit those of the same
  image alone: a CPU's or GPU's kernels may pick another reduction order for another batch
  shape, so an entry may differ in its last bits (and a residual right at ``1e-4`` may stop a
  cycle sooner or later); results agree to the solver's precision, and the choices made from
  them (sign, seed) treat near-equal entries as ties (:func:`peak_index`). Images whose float32 residual is
  still above ``1e-3`` after :data:`MAX_ITER32` products are polished in float64 from there
  (the same iteration, to ``1e-8``);
* ``auto``: ``dense`` up to :data:`DENSE_MAX_N` patches, ``krylov`` above.

It replaces ``torch.lobpcg`` (one image at a time, CPU only here). A batched LOBPCG written
first (block of 2, Rayleigh-Ritz on ``[X, R, P]`` every iteration) needed as many or more
operator products on the test scenes, each on 6 columns instead of 2, and a small ``eigh``
(a host sync on CUDA) every iteration instead of every cycle.

Host copies: none on the dense path; on the ``krylov`` path, per cycle, the Rayleigh-Ritz
``eigh`` of the ``(b, 10, 10)`` projected matrices (on CUDA ``torch.linalg.eigh`` checks its
result on the host) and one ``(b,)`` bool (which images converged); one ``(B,)`` bool after
the float32 phase (which images need the float64 polish). The start vectors come from a
seeded CPU generator (one ``(N, 2)`` draw, the same for every image), copied to the device
once.

Degenerate graphs: when ``λ`` is repeated (a constant graph, or one of three or more
disconnected parts) any vector of its eigenspace is a solution; the solvers return one of
them, deterministically for a given seed, but which one is arbitrary. Two disconnected parts
give the indicator-like split (``x`` constant on each part).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SOLVERS = ("auto", "dense", "krylov")
"""Eigensolvers of :func:`second_eigenvectors`."""

DENSE_MAX_N = 256
"""``auto`` solves densely (``torch.linalg.eigh``) up to this many patches, with ``krylov`` above."""

BLOCK = 2
"""Krylov block size: the second column (tending to the third eigenvector) speeds up the first."""

CHECK_EVERY = 4
"""Krylov blocks added per cycle, between two restarts and convergence checks."""

MAX_ITER32, MAX_ITER64 = 200, 200
"""Krylov expansion steps (operator products) at most in float32, and in the float64 polish."""

TOL32, POLISH_ABOVE, TOL64 = 1e-4, 1e-3, 1e-8
"""Residual ``‖S y - θ y‖`` (``y`` unit) at which float32 iteration stops; above which its
result is polished in float64; at which the polish stops."""

PEAK_RTOL = 1e-3
"""Entries of ``|x|`` within this fraction of the largest count as tied for the largest (see
:func:`peak_index`): far above what rounding moves between batch shapes and devices, far below
the gaps between patches that differ."""


def peak_index(x: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
    """``(B,)`` int64: per row of ``x`` ``(B, N)``, the patch with the largest ``|x|`` among the
    ``active`` ones (``(B, N)`` bool; None = all), ties broken by the lowest index.

    Entries within :data:`PEAK_RTOL` of the largest ``|x|`` are ties: the last bits of an
    eigenvector change with the batch shape and the device (another CPU's kernels, cuBLAS pick
    other reduction orders), and a plain ``argmax`` would then pick another of equal patches.
    A row with no active patch gets 0.
    """
    v = x.double().abs()
    if active is not None:
        v = torch.where(active, v, torch.full_like(v, -1.0))
    top = v.amax(dim=1, keepdim=True)
    near = v >= top - PEAK_RTOL * top.abs()
    return near.to(torch.uint8).argmax(dim=1)  # the first of the near-largest


def second_eigenvectors(graphs: torch.Tensor, active: torch.Tensor | None = None, *, solver: str = "auto",
                        seed: int = 0) -> torch.Tensor:
    """Per graph, the generalised eigenvector of ``(D - A) x = λ D x`` for the second-smallest ``λ``.

    Args:
        graphs: ``(B, N, N)`` symmetric non-negative weights ``A`` (any float dtype, on any
            device) with positive row sums over the active patches.
        active: ``(B, N)`` bool, the patches each problem is restricted to (the graph's other
            rows and columns are ignored); None = all.
        solver: one of :data:`SOLVERS`.
        seed: seed of the Krylov start vectors (results are deterministic).

    Returns:
        ``(B, N)`` float64 on ``graphs.device``: ``x`` on the active patches, 0 elsewhere, with
        ``xᵀ D x = 1`` and its largest-``|x|`` entry (:func:`peak_index`) positive (an image
        with fewer than 2 active patches gets zeros).
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
        y = _krylov_top(op, graphs, seed)
    d = op.d.double()
    x = op.d_isqrt.double() * y
    x = x / (x * x * d).sum(dim=1, keepdim=True).sqrt().clamp(min=1e-300)
    top = x.gather(1, peak_index(x, act)[:, None])
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


def _krylov_top(op: _Operator, graphs: torch.Tensor, seed: int) -> torch.Tensor:
    """``(B, N)`` float64 unit top eigenvectors of ``op`` (float32): float32 block Krylov, then a
    float64 polish (on ``graphs`` in float64) of the images whose residual stayed above
    :data:`POLISH_ABOVE`."""
    b, n = op.d.shape
    mask = op.act.float()[:, :, None]
    g = torch.Generator().manual_seed(seed)
    start = torch.randn(n, BLOCK, generator=g, dtype=torch.float32).to(graphs.device)
    x, res, _ = _block_krylov(op, start * mask, mask, TOL32, MAX_ITER32)
    y = x[:, :, 0].double()
    redo = (res > POLISH_ABOVE).cpu()  # host copy: which images need float64
    if bool(redo.any()):
        idx = torch.nonzero(redo).squeeze(1).to(graphs.device)
        op64 = _Operator.of(graphs[idx].double(), op.act[idx])
        x64, _, _ = _block_krylov(op64, x[idx].double() * mask[idx].double(), mask[idx].double(), TOL64, MAX_ITER64)
        y = y.index_copy(0, idx, x64[:, :, 0])
    return y


def _block_krylov(op: _Operator, x0: torch.Tensor, mask: torch.Tensor, tol: float,
                  max_iter: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Restarted block Krylov (block Lanczos with full reorthogonalisation) for the top ``k``
    eigenpairs of the symmetric operators ``op``, batched.

    Each cycle extends the block ``X`` of current Ritz vectors by :data:`CHECK_EVERY` blocks
    ``S X``, ``S² X``, ... (each orthonormalised against the basis so far, see
    :func:`_orthonormal_to`), then restarts from the top ``k`` Ritz vectors of the whole basis
    (Rayleigh-Ritz: one small ``eigh``) and checks convergence. On CUDA the ``eigh`` and the
    check are the cycle's host syncs; the expansion steps have none.

    Args:
        op: ``b`` operators, zero outside each image's active block.
        x0: ``(b, N, k)`` start vectors, zero outside the active block.
        mask: ``(b, N, 1)`` 1 on active patches, 0 elsewhere (residuals are measured there).
        tol: residual norm of the top Ritz pair at which an image is frozen.
        max_iter: expansion steps (operator products) at most, in whole cycles.

    Returns:
        ``(b, N, k)`` Ritz vectors (top first, orthonormal), ``(b,)`` the top pair's final
        residual norm and ``(b,)`` int64 the expansion steps each image ran. An image's
        iterates depend only on its own operator and start: checks happen at fixed step counts,
        and a frozen image leaves the batch.
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
    it = 0
    while live.numel() and it < max_iter:
        vs, ws = [x], [sx]
        for _ in range(CHECK_EVERY):
            z = _orthonormal_to(ws[-1], torch.cat(vs, dim=2))
            vs.append(z)
            ws.append(op(z))
            it += 1
        v, w = torch.cat(vs, dim=2), torch.cat(ws, dim=2)
        c = _ritz_coefficients(v, w, k)
        x, sx = torch.bmm(v, c), torch.bmm(w, c)
        theta = (x[:, :, 0] * sx[:, :, 0]).sum(dim=1, keepdim=True)
        res = torch.linalg.vector_norm((sx[:, :, 0] - theta * x[:, :, 0]) * mask[:, :, 0], dim=1)
        out.index_copy_(0, live, x)
        res_out.index_copy_(0, live, res)
        iters.index_fill_(0, live, it)
        done = (res < tol).cpu()  # host copy: one (b,) bool per check
        if bool(done.any()):
            keep = torch.nonzero(~done).squeeze(1).to(x0.device)
            live, op, x, sx, mask = live[keep], op.take(keep), x[keep], sx[keep], mask[keep]
    return out, res_out, iters


def _orthonormal_to(z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``(b, N, k)``: ``z``'s columns made orthonormal to ``v`` ``(b, N, m)`` and to each other,
    one by one (classical Gram-Schmidt, twice); a column with nothing left beyond rounding
    (``50 eps`` of its norm: ``v`` spans the active patches already) becomes zero.

    ``v``'s columns are orthonormal or zero. Elementwise products and sums, no BLAS: a
    one-column matrix product rounds differently for a batch of one.
    """
    tiny = 50 * torch.finfo(z.dtype).eps
    basis = v
    for j in range(z.shape[2]):
        col = z[:, :, j]
        norm0 = torch.linalg.vector_norm(col, dim=1, keepdim=True)
        for _ in range(2):
            col = col - (basis * (basis * col[:, :, None]).sum(dim=1, keepdim=True)).sum(dim=2)
        norm = torch.linalg.vector_norm(col, dim=1, keepdim=True)
        col = torch.where(norm > tiny * norm0, col / norm.clamp(min=torch.finfo(z.dtype).tiny), torch.zeros_like(col))
        basis = torch.cat([basis, col[:, :, None]], dim=2)
    return basis[:, :, v.shape[2]:]


def _ritz_coefficients(q: torch.Tensor, sq: torch.Tensor, k: int) -> torch.Tensor:
    """``(b, m, k)`` coefficients in the orthonormal basis ``q`` ``(b, N, m)`` of the top ``k``
    Ritz vectors of ``S`` (``sq = S q``), top first."""
    h = torch.bmm(q.transpose(1, 2), sq)
    vecs = torch.linalg.eigh((h + h.transpose(1, 2)) / 2).eigenvectors
    return vecs[:, :, -k:].flip(-1)
