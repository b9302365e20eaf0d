"""4-connected components of many small grid masks at once, on the masks' device.

Discovery methods grow regions as "the 4-connected component, holding a seed, of a mask"
(:func:`autolabel.discovery.regions.seed_component` does one mask with scipy). Here a stack
of ``M`` masks ``(M, h, w)`` is labelled in one go:

* on a GPU (any non-CPU device) by **run sweeps**: every mask cell starts labelled with its
  flat row-major index; a row sweep gives every cell of a horizontal run of mask cells the
  smallest label in the run (run ids from a running maximum of run starts, one
  ``scatter_reduce`` amin per sweep, gathered back), a column sweep does the same on vertical
  runs; after each pair every cell takes its label's own label (pointer jumping: a label is
  a cell of the same component, labelled no higher). Repeating until nothing changes leaves
  each cell labelled with the smallest flat index of its component. Blobs converge in two or
  three pairs, the noisy near masks of ``votes`` on a 30 x 40 grid in about 14; a snake or
  spiral needs up to one pair per turn. Convergence is checked every ``check_every`` pairs
  (each check is one host sync).
* on the CPU by one :func:`scipy.ndimage.label` call over the whole stack (a structure that
  links nothing across masks): the same components, and several times faster there than the
  sweeps, which do ``O(M h w)`` work per sweep where scipy's single pass does it once.

Every function gives the same result on either path (``tests/discovery/test_components.py``).

Grid conventions: see :mod:`autolabel.discovery.regions`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from autolabel.discovery.regions import FOUR

_STACKED_FOUR = np.stack([np.zeros_like(FOUR), FOUR, np.zeros_like(FOUR)])
"""4-connectivity within each mask of an ``(M, h, w)`` stack, none between masks."""


def _use_sweeps(masks: torch.Tensor, method: str) -> bool:
    if method not in ("auto", "sweeps", "scipy"):
        raise ValueError(f"method must be auto, sweeps or scipy, got {method!r}")
    return method == "sweeps" or (method == "auto" and masks.device.type != "cpu")


def _check(masks: torch.Tensor) -> tuple[int, int, int]:
    if masks.ndim != 3 or masks.dtype != torch.bool:
        raise ValueError(f"masks must be (M, h, w) bool, got {tuple(masks.shape)} {masks.dtype}")
    m, h, w = masks.shape
    return int(m), int(h), int(w)


def _run_ids(masks: torch.Tensor, dim: int) -> torch.Tensor:
    """``(M, h, w)`` int64: per mask cell, the flat index (into the whole stack) of the first cell
    of its run of mask cells along ``dim`` (2: rows, 1: columns); ``M * h * w`` off the mask."""
    total = masks.numel()
    before = torch.zeros_like(masks)
    if dim == 2:
        before[:, :, 1:] = masks[:, :, :-1]
    else:
        before[:, 1:, :] = masks[:, :-1, :]
    flat = torch.arange(total, device=masks.device).view(masks.shape)
    starts = torch.where(masks & ~before, flat, torch.full_like(flat, -1))
    ids = torch.cummax(starts, dim=dim).values
    return torch.where(masks, ids, torch.full_like(ids, total))


def _sweep(labels: torch.Tensor, run_ids: torch.Tensor, fill: int) -> torch.Tensor:
    """Every cell gets the smallest label of its run (``run_ids`` from :func:`_run_ids`)."""
    flat_ids = run_ids.reshape(-1)
    buf = torch.full((flat_ids.numel() + 1,), fill, dtype=labels.dtype, device=labels.device)
    buf.scatter_reduce_(0, flat_ids, labels.reshape(-1), reduce="amin")
    return buf[flat_ids].view(labels.shape)


def _sweep_labels(masks: torch.Tensor, check_every: int) -> torch.Tensor:
    m, h, w = masks.shape
    n = h * w
    cell = torch.arange(n, device=masks.device).view(1, h, w).expand(m, h, w)
    labels = torch.where(masks, cell, torch.full_like(cell, n))
    rows, cols = _run_ids(masks, 2), _run_ids(masks, 1)
    while True:
        before = labels
        for _ in range(max(1, check_every)):
            labels = _jump(_sweep(_sweep(labels, rows, n), cols, n))
        if torch.equal(labels, before):  # labels only decrease: no change in these sweeps, done
            return labels


def _jump(labels: torch.Tensor) -> torch.Tensor:
    """Each cell takes its label's label (a cell of its own component, labelled no higher),
    so a low label travels along chains of labels, not only along runs."""
    m, h, w = labels.shape
    n = h * w
    padded = torch.cat([labels.view(m, n), torch.full((m, 1), n, dtype=labels.dtype, device=labels.device)], dim=1)
    return padded.gather(1, labels.view(m, n)).view(m, h, w)


def _scipy_labels(masks: torch.Tensor) -> np.ndarray:
    """``(M, h, w)`` int32 scipy labels of the stack (0 off the masks, distinct across masks)."""
    labels, _ = ndimage.label(masks.cpu().numpy(), structure=_STACKED_FOUR)
    return labels


def component_labels(masks: torch.Tensor, *, method: str = "auto", check_every: int = 2) -> torch.Tensor:
    """Label each mask's 4-connected components by their first cell.

    Args:
        masks: ``(M, h, w)`` bool.
        method: ``auto`` (scipy on CPU tensors, sweeps elsewhere), ``sweeps`` or ``scipy``.
        check_every: sweep pairs (row then column) between convergence checks (sweeps only).

    Returns:
        ``(M, h, w)`` int64 on ``masks.device``: per mask cell, the smallest flat row-major index
        (``0 .. h*w - 1``) of the cells of its component; ``h * w`` off the mask.
    """
    m, h, w = _check(masks)
    n = h * w
    if m == 0 or n == 0:
        return torch.full((m, h, w), n, dtype=torch.int64, device=masks.device)
    if _use_sweeps(masks, method):
        return _sweep_labels(masks, check_every)
    lab = torch.from_numpy(_scipy_labels(masks).astype(np.int64)).view(-1)
    pos = torch.arange(n).repeat(m)
    first = torch.full((int(lab.max()) + 1,), n, dtype=torch.int64).scatter_reduce_(0, lab, pos, reduce="amin")
    first[0] = n
    return first[lab].view(m, h, w).to(masks.device)


def seed_components(masks: torch.Tensor, seeds: torch.Tensor, *, method: str = "auto",
                    check_every: int = 2) -> torch.Tensor:
    """The 4-connected component of each mask holding its seed.

    Args:
        masks: ``(M, h, w)`` bool.
        seeds: ``(M,)`` integer flat row-major cell indices (``0 .. h*w - 1``), one per mask.
        method, check_every: as for :func:`component_labels`.

    Returns:
        ``(M, h, w)`` bool on ``masks.device``; all False where the seed cell is not in its mask.
    """
    m, h, w = _check(masks)
    if seeds.shape != (m,):
        raise ValueError(f"seeds must be ({m},), got {tuple(seeds.shape)}")
    if m == 0 or h * w == 0:
        return torch.zeros_like(masks)
    if _use_sweeps(masks, method):
        labels = _sweep_labels(masks, check_every).view(m, -1)
        at = labels.gather(1, seeds.to(labels.device, torch.int64).view(m, 1))
        return ((labels == at) & (at < h * w)).view(m, h, w)
    lab = _scipy_labels(masks).reshape(m, -1)
    at = lab[np.arange(m), seeds.cpu().numpy().astype(np.int64)][:, None]
    return torch.from_numpy((lab == at) & (at > 0)).view(m, h, w).to(masks.device)


def largest_components(masks: torch.Tensor, *, method: str = "auto",
                       check_every: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """The largest 4-connected component of each mask (ties: the one whose first cell, row-major,
    comes first; as the first maximum of :func:`scipy.ndimage.label`'s component sizes).

    Args:
        masks: ``(M, h, w)`` bool.
        method, check_every: as for :func:`component_labels`.

    Returns:
        ``(components, first)``: ``(M, h, w)`` bool (all False for an empty mask) and ``(M,)``
        int64, the flat index of the component's first cell (``h * w`` for an empty mask).
    """
    m, h, w = _check(masks)
    n = h * w
    labels = component_labels(masks, method=method, check_every=check_every).view(m, n)
    sizes = torch.zeros((m, n + 1), dtype=torch.int64, device=masks.device)
    sizes.scatter_add_(1, labels, torch.ones_like(labels))
    sizes[:, n] = 0  # off the mask
    first = torch.where(sizes.amax(dim=1) > 0, sizes.argmax(dim=1), torch.full((m,), n, device=masks.device))
    return ((labels == first[:, None]) & (first < n)[:, None]).view(m, h, w), first
