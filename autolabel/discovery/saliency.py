"""Feature saliency: regions whose patches stand out of their photo are more often objects.

An ImageNet network's features are weak where a photo is even (sky, grass, road, a wall) and
strong on objects. The extractor's keys of one map are centred per view (each patch's feature
less the view's mean, :class:`~autolabel.pipeline.features.CNNMap`), so the norm of a patch's
key is how far its feature lies from the view's average one. A region's **saliency ratio** is
the mean key norm of the patches its grid box covers over the mean of the whole grid: about 1
for a box around the whole photo or its backdrop, above 1 for a box on something that stands
out. Its objectness is multiplied by::

    min(1, ratio / knee) ** power

so a region at ``knee`` times the grid's mean or more keeps its objectness and a duller one
loses some, before anything else reads it (which regions are refined, which boxes
``max_boxes`` keeps, the score). Groups of objects and objects with their surroundings take in
duller patches than the objects alone, and background regions are dull throughout.

Keys must be one centred map: with several feature layers or scales each patch's key is
normalised and every norm is the same (the pipeline's config refuses that combination).
"""

from __future__ import annotations

import numpy as np
import torch

from autolabel.discovery.regions import Region, rescored


def key_norms(keys: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
    """Per-patch L2 norms of ``keys`` ``(n, h*w, C)`` as ``(n, h, w)`` float32 on the host
    (computed in float32 whatever the keys' dtype)."""
    h, w = grid
    return keys.float().norm(dim=-1).reshape(keys.shape[0], h, w).cpu().numpy()


def cell_cover(box: tuple[float, float, float, float], grid: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` share of each patch that the grid box ``(x1, y1, x2, y2)`` (patches,
    exclusive; fractions allowed) covers."""
    h, w = grid
    x1, y1, x2, y2 = (float(v) for v in box)
    xs = np.arange(w + 1, dtype=np.float64)
    ys = np.arange(h + 1, dtype=np.float64)
    cx = np.clip(np.minimum(x2, xs[1:]) - np.maximum(x1, xs[:-1]), 0.0, None)
    cy = np.clip(np.minimum(y2, ys[1:]) - np.maximum(y1, ys[:-1]), 0.0, None)
    return cy[:, None] * cx[None, :]


def saliency_ratio(norms: np.ndarray, cover: np.ndarray) -> float:
    """Mean of ``norms`` ``(h, w)`` over the patches ``cover`` weighs (:func:`cell_cover`) over
    the mean of the whole grid; 1.0 where the box covers no patch or every norm is zero."""
    area = float(cover.sum())
    mean = float(norms.mean())
    if area <= 1e-9 or mean <= 0.0:
        return 1.0
    return float((norms * cover).sum()) / area / mean


def saliency_factor(ratio: float, knee: float, power: float) -> float:
    """``min(1, ratio / knee) ** power``: in ``[0, 1]`` for ``knee > 0``, ``power >= 0``."""
    return min(1.0, max(float(ratio), 0.0) / knee) ** power


def salient(regions: list[Region], norms: np.ndarray, knee: float, power: float) -> list[Region]:
    """``regions`` (one view's, on the grid of ``norms`` ``(h, w)``) with their objectness times
    :func:`saliency_factor` of their grid box's :func:`saliency_ratio`, by descending new
    objectness (stable among equals)."""
    grid = (int(norms.shape[0]), int(norms.shape[1]))
    return rescored(regions, (r.objectness * saliency_factor(saliency_ratio(norms, cell_cover(r.box, grid)), knee, power)
                              for r in regions))
