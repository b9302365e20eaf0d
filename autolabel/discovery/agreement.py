"""Scale agreement: regions that discovery finds again when the extractor reads the image at
another scale are more often objects.

A region of one view, found on the view's keys, is compared with the regions found on the keys
of the same view read at a second scale and brought back to the view's grid (the pipeline's
``agreement_scale``): its *agreement* is the highest IoU of its grid box with theirs. Its
objectness is multiplied by ``penalty`` where the agreement is ``low`` or less, by ``boost``
where it is ``high`` or more (the result capped at 1), and by a factor linear in the agreement
between the two. Groups of objects, an object with its surroundings and patches of background
change shape with the scale (the features of a coarser view join or split them differently);
an object's own region keeps its box.

The ramp, rather than one IoU threshold, keeps scores steady where the second reading moves a
little: float rounding (bf16 against fp32, another CPU) that shifts one of its boxes by a
patch changes the factor a little instead of by ``boost / penalty``.

Both lists are on one ``(h, w)`` grid, so boxes compare in patch units without any mapping.
"""

from __future__ import annotations

import numpy as np
import torch

from autolabel.discovery.regions import Region, rescored
from autolabel.geometry import box_iou


def best_overlaps(regions: list[Region], others: list[Region]) -> np.ndarray:
    """For each of ``regions``, the highest IoU of its grid box with a grid box of ``others``:
    ``(len(regions),)`` float64 in [0, 1]; 0 where ``others`` is empty."""
    if not regions or not others:
        return np.zeros(len(regions))
    iou = box_iou(torch.tensor([r.box for r in regions], dtype=torch.float64),
                  torch.tensor([r.box for r in others], dtype=torch.float64))
    return iou.max(dim=1).values.numpy()


def agree(regions: list[Region], others: list[Region], low: float, high: float, boost: float,
          penalty: float) -> list[Region]:
    """``regions`` with their objectness rescored by agreement with ``others`` (see the module),
    by descending new objectness (stable among equals).

    Args:
        regions: one view's regions, on its grid.
        others: the regions of the same view read at the second scale, on the same grid.
        low, high: grid-box IoUs, ``0 <= low <= high <= 1``: at ``low`` or less the factor is
            ``penalty``, at ``high`` or more ``boost``, linear between (``low == high``: a step).
        boost: factor (>= 1) of a region that agrees; the result is capped at 1.
        penalty: factor (in [0, 1]) of a region that does not.
    """
    best = best_overlaps(regions, others)
    t = (best >= high).astype(np.float64) if high <= low else np.clip((best - low) / (high - low), 0.0, 1.0)
    factor = penalty + (boost - penalty) * t
    return rescored(regions, (min(1.0, r.objectness * f) for r, f in zip(regions, factor)))
