"""Tiling: discovery on overlapping tiles of a big photo, and merging their boxes into one set.

With ``tiles = R x C`` the displayed image is cut into ``R`` rows and ``C`` columns of tiles
that overlap their neighbours by ``overlap`` (a fraction of the tile's width / height). Each
tile is then processed like a whole image (resized so its longer side is the extractor's
``max_side``), so a small object spans ``R`` (or ``C``) times more patches than it would in the
whole image. Cost: the extractor and discovery run once per tile, so their time grows with
``R * C`` (about ``R * C`` times the untiled time once tiles reach ``max_side``).

Merging (:func:`merge_tiles`), on boxes in displayed-image pixels:

1. A box is *cut* on a side when that side lies within ``edge_tol`` pixels of one of its tile's
   inner edges (an edge that is not the image border): the object may continue in the
   neighbouring tile.
2. Two boxes from different tiles are one object when they intersect, at least one of them is
   cut on a side that lies inside the other's tile, and they agree across that seam: their
   extents along the cut side overlap by at least ``seam_iou`` (1-D IoU; a fruit cut by a
   vertical edge has about the same top and bottom on both sides, a tile-sized background box
   and a small object do not). Such pairs (and chains of them) are replaced by their union,
   with the highest objectness of the group.
3. An object seen whole by two tiles (it lies in their overlap) gives two boxes that overlap
   (IoU above ``iou``) or nest (one at least ``containment`` inside the other): the one found
   farther from its tile's inner edges, with more context around it, is kept
   (:func:`dedupe_tiles`). Objectness does not decide: it is relative to each tile's own
   patches, so it does not compare across tiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from autolabel.geometry import box_containment, box_iou

Box = tuple[float, float, float, float]

@dataclass(frozen=True)
class Tile:
    """One tile, in displayed-image pixels: ``x0 <= x < x1``, ``y0 <= y < y1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.x1 - self.x0, self.y1 - self.y0


def _spans(length: int, n: int, overlap: float) -> list[tuple[int, int]]:
    """``n`` intervals covering ``[0, length)``, equal sizes, neighbours sharing ``overlap`` of one."""
    if n == 1:
        return [(0, length)]
    size = length / (n - (n - 1) * overlap)
    step = size * (1.0 - overlap)
    out = []
    for i in range(n):
        a = round(i * step)
        b = length if i == n - 1 else round(i * step + size)
        out.append((a, max(b, a + 1)))
    return out


def tile_layout(width: int, height: int, rows: int, cols: int, overlap: float = 0.2) -> list[Tile]:
    """The tiles of a ``width`` x ``height`` image, row-major.

    Args:
        rows, cols: tiles down and across.
        overlap: share of a tile's width (height) that it shares with its right (lower)
            neighbour, in ``[0, 1)``.

    Returns:
        ``rows * cols`` tiles that together cover the image exactly.
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    return [Tile(x0, y0, x1, y1) for (y0, y1) in _spans(height, rows, overlap) for (x0, x1) in _spans(width, cols, overlap)]


AUTO_TRIGGER = 2.0
"""``tiles: auto`` tiles a photo whose longer side exceeds this many times ``max_side``."""


def auto_grid(width: int, height: int, max_side: int, overlap: float = 0.2, max_tiles: int = 16) -> tuple[int, int]:
    """``(rows, cols)`` that ``tiles: auto`` uses for a ``width`` x ``height`` photo.

    A photo whose longer side is at most :data:`AUTO_TRIGGER` x ``max_side`` is seen whole
    (``(1, 1)``). A bigger one gets, along each axis, the fewest tiles (at most ``max_tiles``)
    whose span (:func:`tile_layout` with ``overlap``) is at most ``max_side`` pixels, so each
    tile reaches the extractor at its native resolution: a 4000 x 3000 photo at ``max_side``
    640 and overlap 0.2 gives 6 x 8 tiles (48 extractor and discovery passes instead of one).

    Args:
        width, height: the displayed image, pixels.
        max_side: the extractor's longer side, pixels (>= 1).
        overlap: the tiles' overlap share, in ``[0, 1)``.
        max_tiles: the most tiles along one axis.
    """
    if max(width, height) <= AUTO_TRIGGER * max_side:
        return 1, 1

    def count(length: int) -> int:
        # span = length / (n - (n - 1) * overlap) <= max_side  <=>  n >= (length / max_side - overlap) / (1 - overlap)
        need = (length / max_side - overlap) / (1.0 - overlap)
        n = max(1, math.ceil(need - 1e-9))
        return min(n, max_tiles)

    return count(height), count(width)


def cut_sides(box: Sequence[float], tile: Tile, width: int, height: int, edge_tol: float) -> tuple[bool, bool, bool, bool]:
    """Which sides ``(left, top, right, bottom)`` of ``box`` lie on an inner edge of ``tile``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (
        tile.x0 > 0 and x1 <= tile.x0 + edge_tol,
        tile.y0 > 0 and y1 <= tile.y0 + edge_tol,
        tile.x1 < width and x2 >= tile.x1 - edge_tol,
        tile.y1 < height and y2 >= tile.y1 - edge_tol,
    )


def _span_iou(a1: float, a2: float, b1: float, b2: float) -> float:
    inter = min(a2, b2) - max(a1, b1)
    union = max(a2, b2) - min(a1, b1)
    return inter / union if inter > 0 and union > 0 else 0.0


def _joins(box: Sequence[float], cut: tuple[bool, bool, bool, bool], other: Tile, obox: Sequence[float],
           seam_iou: float) -> bool:
    """Whether a cut side of ``box`` lies strictly inside ``other``'s span on that axis and
    ``obox`` (found in ``other``) agrees with ``box`` along that side."""
    x1, y1, x2, y2 = box
    across_x = (cut[0] and other.x0 < x1 < other.x1) or (cut[2] and other.x0 < x2 < other.x1)
    across_y = (cut[1] and other.y0 < y1 < other.y1) or (cut[3] and other.y0 < y2 < other.y1)
    return bool(
        (across_x and _span_iou(y1, y2, obox[1], obox[3]) >= seam_iou)
        or (across_y and _span_iou(x1, x2, obox[0], obox[2]) >= seam_iou)
    )


def merge_tiles(boxes: Sequence[Box], scores: Sequence[float], tile_index: Sequence[int], tiles: Sequence[Tile],
                width: int, height: int, edge_tol: float = 2.0, seam_iou: float = 0.5) -> list[tuple[Box, float, list[int]]]:
    """Join the parts of objects that tile edges cut (see the module doc, steps 1-2).

    Args:
        boxes: ``(x1, y1, x2, y2)`` displayed-image pixels, one per found region.
        scores: objectness of each box.
        tile_index: the tile (index into ``tiles``) each box was found in.
        tiles: the layout (:func:`tile_layout`).
        width, height: the displayed image size.
        edge_tol: pixels within which a box side counts as lying on a tile edge.
        seam_iou: how much two parts' extents along their seam must overlap to be joined.

    Returns:
        ``(box, objectness, members)`` per object, by descending objectness; ``members`` are the
        indices of the input boxes that were joined (one index for a box left alone).
    """
    n = len(boxes)
    b = np.asarray(boxes, dtype=np.float64).reshape(n, 4)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    cuts = [cut_sides(b[i], tiles[tile_index[i]], width, height, edge_tol) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if tile_index[i] == tile_index[j]:
                continue
            iw = min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0])
            ih = min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1])
            if iw <= 0 or ih <= 0:
                continue
            if (_joins(b[i], cuts[i], tiles[tile_index[j]], b[j], seam_iou)
                    or _joins(b[j], cuts[j], tiles[tile_index[i]], b[i], seam_iou)):
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        m = b[members]
        box = (float(m[:, 0].min()), float(m[:, 1].min()), float(m[:, 2].max()), float(m[:, 3].max()))
        out.append((box, max(float(scores[k]) for k in members), sorted(members)))
    out.sort(key=lambda t: (-t[1], t[2][0]))
    return out


def edge_margin(box: Sequence[float], tile: Tile, width: int, height: int) -> float:
    """Pixels between ``box`` and the nearest inner edge of ``tile`` (inf if the tile has none)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    gaps = [x1 - tile.x0 if tile.x0 > 0 else np.inf, y1 - tile.y0 if tile.y0 > 0 else np.inf,
            tile.x1 - x2 if tile.x1 < width else np.inf, tile.y1 - y2 if tile.y1 < height else np.inf]
    return float(min(gaps))


def dedupe_tiles(boxes: Sequence[Box], margins: Sequence[float], sources: Sequence[frozenset[int]],
                 iou: float = 0.5, containment: float = 0.9) -> list[int]:
    """Indices of the boxes to keep when tiles saw one object twice (module doc, step 3).

    Args:
        boxes: ``(x1, y1, x2, y2)`` displayed-image pixels.
        margins: per box, its distance to its tile's inner edges (:func:`edge_margin`; inf for
            boxes joined from several tiles).
        sources: per box, the tiles it came from; boxes sharing a tile are never duplicates
            here (discovery already separated them).
        iou, containment: overlap above which two boxes are one object.

    Returns:
        Kept indices, in input order.
    """
    n = len(boxes)
    if n < 2:
        return list(range(n))
    t = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(n, 4))
    ov = box_iou(t, t).numpy()
    inside = box_containment(t, t).numpy()
    order = sorted(range(n), key=lambda i: (-margins[i], i))
    kept: list[int] = []
    for i in order:
        dup = any(not (sources[i] & sources[j]) and (ov[i, j] > iou or inside[i, j] >= containment or inside[j, i] >= containment)
                  for j in kept)
        if not dup:
            kept.append(i)
    return sorted(kept)
