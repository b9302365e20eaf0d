"""Splitting a region that covers several objects of one kind (a flock, a row of balloons) into
one region per object, along its low-affinity valleys.

Patches inside an object resemble the rest of the region more than the patches where two
objects meet (those hold both edges and the gap between them). So:

1. **Centrality**: per patch of the region, its mean cosine similarity to the region's patches.
2. **Cores**: the patches whose centrality is at least the region's ``core`` quantile; their
   4-connected components of at least ``min_part`` patches are the objects' cores. One core (a
   single object, or a cluster without a valley) leaves the region whole, and so does a valley
   too shallow to be one: the cores' mean centrality must exceed the other patches' by at
   least ``depth`` (cosine similarity; a single object's noise splits its top patches into
   several pieces too, but with a drop of a few hundredths, not the tenths of a real seam).
3. **Parts**: every patch of the region joins the core it reaches first, growing all cores
   together one patch step at a time inside the region (a watershed on the grid); a patch no
   core reaches (cut off from them inside the region) belongs to none.

Host-side numpy and scipy on one image's ``(N, N)`` similarity; grid conventions of
:mod:`autolabel.discovery.regions` (``(h, w)`` masks, flat row-major indices).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from autolabel.discovery.regions import FOUR


def split_region(mask: np.ndarray, sim: np.ndarray, core: float = 0.5, min_part: int = 2,
                 depth: float = 0.05) -> list[np.ndarray]:
    """One region's per-object parts (module doc).

    Args:
        mask: ``(h, w)`` bool, the region's patches.
        sim: ``(N, N)`` cosine similarity of the image's patches, ``N = h * w``, row-major.
        core: quantile of the region's centrality above which a patch is a core patch, in
            ``[0, 1)``.
        min_part: cores (and so parts) smaller than this many patches are not objects.
        depth: the least drop of mean centrality from the cores to the other patches.

    Returns:
        ``(h, w)`` bool masks, disjoint, each 4-connected and inside ``mask``: the parts when
        the region holds two or more cores, else ``[mask]``; largest first (ties by first cell).
    """
    idx = np.flatnonzero(mask.ravel())
    if len(idx) < 2 * max(1, min_part):
        return [mask]
    central = sim[np.ix_(idx, idx)].mean(axis=1)
    cut = np.quantile(central, core)
    top = central >= cut
    if top.all() or float(central[top].mean() - central[~top].mean()) < depth:
        return [mask]
    cores = np.zeros(mask.size, dtype=bool)
    cores[idx[top]] = True
    labels, n = ndimage.label(cores.reshape(mask.shape), structure=FOUR)
    if n < 2:
        return [mask]
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    big = np.flatnonzero(sizes >= min_part)
    big = big[big > 0]
    if len(big) < 2:
        return [mask]
    grown = np.where(np.isin(labels, big), labels, 0)
    _grow(grown, mask)
    parts = [grown == k for k in big]
    parts.sort(key=lambda p: (-int(p.sum()), int(np.flatnonzero(p.ravel())[0])))
    return parts


def _grow(labels: np.ndarray, mask: np.ndarray) -> None:
    """Grow the positive ``labels`` (``(h, w)`` int, 0 = none) into the unlabelled cells of
    ``mask``, one 4-neighbour step at a time, all labels together; in place. A cell reached by
    two labels in one step takes the one coming from above, then left, right, below."""
    while True:
        free = mask & (labels == 0)
        if not free.any():
            return
        step = np.zeros_like(labels)
        for dy, dx in ((-1, 0), (0, -1), (0, 1), (1, 0)):
            src = np.zeros_like(labels)
            h, w = labels.shape
            ys, yd = (slice(0, h + dy), slice(-dy, h)) if dy < 0 else (slice(dy, h), slice(0, h - dy))
            xs, xd = (slice(0, w + dx), slice(-dx, w)) if dx < 0 else (slice(dx, w), slice(0, w - dx))
            src[yd, xd] = labels[ys, xs]
            step = np.where((step == 0) & free & (src > 0), src, step)
        if not step.any():
            return
        labels[:] = np.where(step > 0, step, labels)
