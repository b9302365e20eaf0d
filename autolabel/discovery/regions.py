"""The one result type of every discovery method: :class:`Region`, on the patch grid.

Grid conventions (shared by every module of :mod:`autolabel.discovery`): a grid of
``grid_hw = (h, w)`` patches, height first; patch ``i`` (flat, row-major) is at row ``i // w``,
column ``i % w``. Boxes are ``(x1, y1, x2, y2)`` in patch units with ``x2`` / ``y2`` exclusive:
the box of patch ``(row r, col c)`` alone is ``(c, r, c + 1, r + 1)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    import torch

GridBox = tuple[int, int, int, int]
"""``(x1, y1, x2, y2)`` in patch units, ``x2`` / ``y2`` exclusive."""

FOUR = ndimage.generate_binary_structure(2, 1)
"""4-connectivity structuring element."""
EIGHT = ndimage.generate_binary_structure(2, 2)
"""8-connectivity structuring element."""


@dataclass(frozen=True, eq=False)
class Region:
    """One discovered object on the patch grid.

    Attributes:
        box: ``(x1, y1, x2, y2)`` grid box, exclusive; the bounds of ``mask``.
        objectness: discovery score in ``[0, 1]``, higher = likelier an object; comparable
            between the regions of one method on one image (each method documents its own).
        seed: flat row-major index of the patch the region grew from (inside ``mask``).
        mask: ``(h, w)`` bool, the object's patches: the 4-connected component the box bounds.
    """

    box: GridBox
    objectness: float
    seed: int
    mask: np.ndarray

    @property
    def area(self) -> int:
        """Patches in the mask."""
        return int(self.mask.sum())


def mask_box(mask: np.ndarray) -> GridBox:
    """Bounds ``(x1, y1, x2, y2)`` (exclusive) of the True cells of ``mask`` ``(h, w)``; must be non-empty."""
    rows, cols = np.nonzero(mask)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """``(..., h, w)`` bool -> ``(..., 4)`` int64 ``(x1, y1, x2, y2)`` bounds, exclusive
    (:func:`mask_box` of many masks at once, on their device; meaningless for empty masks)."""
    import torch

    h, w = masks.shape[-2:]
    rows = masks.any(dim=-1).to(torch.uint8)
    cols = masks.any(dim=-2).to(torch.uint8)
    y1, x1 = rows.argmax(dim=-1), cols.argmax(dim=-1)
    y2, x2 = h - rows.flip(-1).argmax(dim=-1), w - cols.flip(-1).argmax(dim=-1)
    return torch.stack([x1, y1, x2, y2], dim=-1)


def seed_component(mask: np.ndarray, seed_rc: tuple[int, int], connectivity: int = 4) -> np.ndarray | None:
    """The connected component of ``mask`` ``(h, w)`` bool holding cell ``seed_rc``, or None if the
    seed cell is not in the mask."""
    r, c = seed_rc
    if not mask[r, c]:
        return None
    labels, _ = ndimage.label(mask, structure=FOUR if connectivity == 4 else EIGHT)
    return labels == labels[r, c]


def cell_region(seed: int, grid_hw: tuple[int, int], objectness: float) -> Region:
    """The one-patch region of ``seed`` (a fallback when a method's mask misses its own seed)."""
    h, w = grid_hw
    mask = np.zeros((h, w), dtype=bool)
    r, c = divmod(seed, w)
    mask[r, c] = True
    return Region((c, r, c + 1, r + 1), objectness, seed, mask)


def region_from_mask(mask: np.ndarray, seed: int, objectness: float, connectivity: int = 4) -> Region:
    """The region of ``seed``'s connected component in ``mask`` (``(h, w)`` bool); the seed's
    cell alone if the mask does not hold it."""
    h, w = mask.shape
    comp = seed_component(mask, divmod(seed, w), connectivity)
    if comp is None:
        return cell_region(seed, (h, w), objectness)
    return Region(mask_box(comp), objectness, seed, comp)


def check_grid(keys, grid_hw: tuple[int, int]) -> tuple[int, int]:
    """``(h, w)`` as ints, after checking ``keys`` is ``(h * w, C)``; ValueError otherwise."""
    h, w = int(grid_hw[0]), int(grid_hw[1])
    if keys.ndim != 2 or keys.shape[0] != h * w:
        raise ValueError(f"keys must be (h*w, C) = ({h * w}, C) for grid {grid_hw}, got {tuple(keys.shape)}")
    return h, w


def check_batch_grid(keys, grid_hw: tuple[int, int]) -> tuple[int, int]:
    """``(h, w)`` as ints, after checking ``keys`` is ``(B, h * w, C)``; ValueError otherwise."""
    h, w = int(grid_hw[0]), int(grid_hw[1])
    if keys.ndim != 3 or keys.shape[1] != h * w:
        raise ValueError(f"keys must be (B, h*w, C) = (B, {h * w}, C) for grid {grid_hw}, got {tuple(keys.shape)}")
    return h, w


def rescored(regions: list[Region], objectness: Iterable[float]) -> list[Region]:
    """``regions`` with new ``objectness`` values (one each; masks, boxes and seeds kept), by
    descending new objectness (stable among equals): how a second signal rescores a method's
    regions (:mod:`~autolabel.discovery.agreement`, :mod:`~autolabel.discovery.saliency`)."""
    out = [replace(r, objectness=float(o)) for r, o in zip(regions, objectness, strict=True)]
    out.sort(key=lambda r: -r.objectness)
    return out


def nms_regions(regions: list[Region], iou: float) -> list[Region]:
    """Class-agnostic NMS of ``regions`` on their grid boxes by objectness
    (:func:`autolabel.geometry.nms`: ties keep the earlier region), in descending objectness."""
    if not regions:
        return []
    import torch

    from autolabel.geometry import nms

    keep = nms(torch.tensor([r.box for r in regions], dtype=torch.float32),
               torch.tensor([r.objectness for r in regions], dtype=torch.float32), iou)
    return [regions[i] for i in keep.tolist()]
