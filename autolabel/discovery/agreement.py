"""Scale agreement: regions that discovery finds again when the extractor reads the image at
another scale are more often objects.

A region of one view, found on the view's keys, is compared with the regions found on the keys
of the same view read at a second scale and brought back to the view's grid (the pipeline's
``agreement_scale``). Where some region of the second scale has a grid box of IoU at least
``iou`` with it, the region *agrees* and its objectness is multiplied by ``boost`` (at most 1);
otherwise by ``penalty``. Groups of objects, an object with its surroundings and patches of
background change shape with the scale (the features of a coarser view join or split them
differently); an object's own region keeps its box.

Both lists are on one ``(h, w)`` grid, so boxes compare in patch units without any mapping.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from autolabel.discovery.regions import Region


def best_overlaps(regions: list[Region], others: list[Region]) -> np.ndarray:
    """For each of ``regions``, the highest IoU of its grid box with a grid box of ``others``:
    ``(len(regions),)`` float64 in [0, 1]; 0 where ``others`` is empty."""
    if not regions or not others:
        return np.zeros(len(regions))
    a = np.asarray([r.box for r in regions], dtype=np.float64)
    b = np.asarray([r.box for r in others], dtype=np.float64)
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return (inter / (area_a[:, None] + area_b[None, :] - inter)).max(axis=1)


def agree(regions: list[Region], others: list[Region], iou: float, boost: float, penalty: float) -> list[Region]:
    """``regions`` with their objectness rescored by agreement with ``others`` (see the module),
    by descending new objectness (stable among equals).

    Args:
        regions: one view's regions, on its grid.
        others: the regions of the same view read at the second scale, on the same grid.
        iou: grid-box IoU at or above which a region agrees, in (0, 1].
        boost: factor of an agreeing region's objectness (>= 1; the result is capped at 1).
        penalty: factor of any other region's objectness, in [0, 1].
    """
    best = best_overlaps(regions, others)
    out = [replace(r, objectness=float(min(1.0, r.objectness * (boost if b >= iou else penalty))))
           for r, b in zip(regions, best)]
    out.sort(key=lambda r: -r.objectness)
    return out
