"""Shifted readings: where inside a patch an object's edge runs, for its mask.

A region's patch mask says which patches hold the object, on a grid of one patch (16 px of a
640 px image). The extractor can read the same view shifted by half a patch, so that each of
its patches straddles an edge of the view's own grid. Each patch of such a reading is put on
the region's side or the background's by its key, the same way the region's own patches are:

1. ``v`` is the line from the mean key of the region's surroundings (the ring of patches one
   to two patches outside its mask) to the mean key of its core (its mask eroded by one
   patch), keys L2-normalised; a patch's *share* is its key projected on that line
   (0 = the surroundings, 1 = the core).
2. The threshold on the share is the one that best reproduces the region's own patch mask from
   its own keys (highest IoU over thresholds ``0.05, 0.10, ..., 0.95``, near the region): a
   shifted patch is object where it would have been object on the view's grid.
3. Only patches within two patches of the mask count: the readings refine edges; they find
   nothing new.

Refinement (:func:`autolabel.discovery.refine.refine_region`) averages its spatial prior (the
patch mask box-filtered over one patch) with the same prior of each shifted mask, so the
prior's 0.5 line falls on a half-patch grid; the exported mask follows it, the box does not
(see that module). Readings are ``shifts`` of ``(dy, dx)`` half patches: ``(1, 1)`` one
diagonal shift; with ``(0, 1)`` and ``(1, 0)`` too, every half-patch offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from autolabel.discovery.regions import EIGHT, Region

if TYPE_CHECKING:  # refinement workers unpickle ShiftedMask and import no torch
    import torch

READINGS: dict[int, tuple[tuple[int, int], ...]] = {1: ((1, 1),), 3: ((0, 1), (1, 0), (1, 1))}
"""``mask_readings`` -> the ``(dy, dx)`` shifts read, in half patches (down, right)."""
THRESHOLDS = np.linspace(0.05, 0.95, 19)
"""Shares tried when a region's threshold is fitted to its own patch mask."""


@dataclass(frozen=True, eq=False)
class ShiftedMask:
    """A region's patches on one shifted reading's grid.

    Attributes:
        dy, dx: the shift, in half patches (0 or 1): patch ``(i, j)`` of this grid covers the
            view's pixels from ``(i - dy / 2, j - dx / 2)`` patches to one patch further.
        mask: ``(h, w)`` bool, True where the shifted patch is on the region's side.
    """

    dy: int
    dx: int
    mask: np.ndarray


def shift_batch(batch: torch.Tensor, dy: int, dx: int, patch: int) -> torch.Tensor:
    """``batch`` ``(B, 3, H, W)`` moved ``dy`` / ``dx`` half patches down / right, the same size:
    the first rows / columns repeat the edge, the last ones fall off."""
    import torch

    oy, ox = dy * (patch // 2), dx * (patch // 2)
    h, w = batch.shape[-2:]
    padded = torch.nn.functional.pad(batch.float(), (ox, 0, oy, 0), mode="replicate")
    return padded[..., :h, :w].to(batch.dtype).contiguous()


def shifted_masks(regions: list[Region], keys: torch.Tensor, readings: list[tuple[int, int, torch.Tensor]],
                  grid: tuple[int, int]) -> list[tuple[ShiftedMask, ...]]:
    """Each region's :class:`ShiftedMask` on each reading (see the module doc).

    Args:
        regions: one view's regions on ``grid``.
        keys: ``(h*w, d)`` the view's keys, row-major over ``grid``.
        readings: ``(dy, dx, keys)`` per shifted reading, its keys ``(h*w, d)`` on the same grid.
        grid: ``(h, w)`` patches.

    Returns:
        Per region, one mask per reading; ``()`` for a region without a core and surroundings
        that differ (no ring: it fills the view; or the same mean key inside and out).
    """
    import torch

    h, w = grid
    view = torch.nn.functional.normalize(keys.float(), dim=-1).reshape(h, w, -1).cpu()
    shifted = [(dy, dx, torch.nn.functional.normalize(k.float(), dim=-1).reshape(h, w, -1).cpu())
               for dy, dx, k in readings]
    return [_region_masks(r, view, shifted) for r in regions]


def _region_masks(region: Region, view: torch.Tensor, shifted: list[tuple[int, int, torch.Tensor]]) -> tuple[ShiftedMask, ...]:
    """:func:`shifted_masks` of one region; ``view`` ``(h, w, d)`` and each reading's keys normalised."""
    import torch

    mask = np.asarray(region.mask, dtype=bool)
    core = ndimage.binary_erosion(mask, EIGHT, border_value=0)
    if not core.any():
        core = mask
    near = ndimage.binary_dilation(mask, EIGHT)
    window = ndimage.binary_dilation(near, EIGHT)
    ring = window & ~near
    if not ring.any():
        return ()
    inside = view[torch.from_numpy(core)].mean(0)
    outside = view[torch.from_numpy(ring)].mean(0)
    line = inside - outside
    length = float(line @ line)
    if length < 1e-8:
        return ()
    offset = float(outside @ line)
    own = ((view @ line - offset) / length).numpy()
    shares = own[window]
    truth = mask[window]
    fits = [(np.logical_and(shares > t, truth).sum() / max(1, np.logical_or(shares > t, truth).sum())) for t in THRESHOLDS]
    threshold = float(THRESHOLDS[int(np.argmax(fits))])
    return tuple(ShiftedMask(dy, dx, (((k @ line - offset) / length).numpy() > threshold) & window)
                 for dy, dx, k in shifted)
