"""Which side of a patch mask is the object: solid masks, and regions that are the background.

Discovery grows a region as the connected patches similar to a seed. On a textured
background (foliage, a carpet, a street) that component is often a *lace*: a net of patches
with one-patch gaps, wandering around the objects in front of it, sometimes touching three or
four sides of the image. Two things follow, both on the patch grid (``(h, w)`` bool masks, one
cell per patch):

* :func:`solid` closes a mask's one-patch gaps (a 3 x 3 closing, never leaving the mask's own
  box) and fills its holes. A lace whose gaps are feature noise becomes the blob it outlines;
  an object mask with a missing patch gets it back. A patch mask that refinement keeps is
  made solid (:func:`autolabel.discovery.refine.refine_region`).
* :func:`encloses_objects` tells a region that is the background around other things: its
  mask touches at least ``min_borders`` sides of the image and at least ``min_hole_share``
  of its filled area is holes (a ring: a photo's frame, a fence around a field). Such a region
  is not an object and is not exported; what its holes hold is found by discovery as regions
  of its own. A field with a few small cow-shaped holes is mostly field and is not caught by
  this rule (on dev284 such regions are kept: dropping every region on three or more sides
  lost more matched boxes than it saved masks, see docs/discovery-quality.md).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from autolabel.discovery.regions import EIGHT

MIN_BORDERS = 3
"""Sides of the image a background region touches (a frame: 4; a field or sky: 3 or more)."""
MIN_HOLE_SHARE = 0.5
"""A region touching ``MIN_BORDERS`` sides whose holes are at least this share of its filled
(solid) area is the background around them."""


def image_borders(mask: np.ndarray) -> int:
    """How many sides of the grid (top, bottom, left, right) ``mask`` ``(h, w)`` touches, 0 to 4."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return 0
    return int(m[0].any()) + int(m[-1].any()) + int(m[:, 0].any()) + int(m[:, -1].any())


def solid(mask: np.ndarray) -> np.ndarray:
    """``mask`` ``(h, w)`` bool with its one-patch gaps closed and its holes filled, a new
    ``(h, w)`` bool array holding every cell of ``mask``, within its bounding box.

    The closing (dilation then erosion by the 3 x 3 square) is computed on the mask's box
    padded by its own edge cells, so it neither grows past the box nor eats cells at the
    grid's border; a hole is background not 4-connected to the box's outside (a gap between
    two diagonal cells does not let a hole out)."""
    m = np.asarray(mask, dtype=bool)
    out = m.copy()
    if not m.any():
        return out
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    y1, y2, x1, x2 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    sub = np.pad(m[y1:y2, x1:x2], 1, mode="edge")
    closed = ndimage.binary_erosion(ndimage.binary_dilation(sub, EIGHT), EIGHT, border_value=1)[1:-1, 1:-1]
    closed |= m[y1:y2, x1:x2]
    filled = ndimage.binary_fill_holes(closed)
    out[y1:y2, x1:x2] = filled
    return out


def hole_share(mask: np.ndarray) -> float:
    """Share of the filled ``mask`` ``(h, w)`` (its holes filled, nothing closed) that is holes,
    in ``[0, 1)``; 0 for an empty mask."""
    m = np.asarray(mask, dtype=bool)
    filled = ndimage.binary_fill_holes(m)
    n = int(filled.sum())
    return 0.0 if n == 0 else float((n - int(m.sum())) / n)


def encloses_objects(mask: np.ndarray, min_borders: int = MIN_BORDERS, min_hole_share: float = MIN_HOLE_SHARE) -> bool:
    """Whether a region's patch mask ``(h, w)`` bool is the background around other things:
    it touches at least ``min_borders`` sides of the grid and its holes are at least
    ``min_hole_share`` of its filled area (see the module doc)."""
    m = np.asarray(mask, dtype=bool)
    return image_borders(m) >= min_borders and hole_share(m) >= min_hole_share
