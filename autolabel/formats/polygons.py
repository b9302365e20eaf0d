"""Instance masks as polygons, and polygons back to masks: what the polygon formats need.

Coordinates are the run's pixel frame (:mod:`autolabel.types`): ``x`` right, ``y`` down, origin at
the top-left corner of the top-left pixel, so pixel ``(row i, column j)`` covers
``[j, j + 1) x [i, i + 1)`` and its centre is ``(j + 0.5, i + 0.5)``. A polygon is an ``(N, 2)``
float array of ``(x, y)`` vertices, not closed (the last vertex is not the first again).

Mask -> polygons (:func:`mask_to_polygons`): the contours of scikit-image's ``find_contours``
at level 0.5 on the mask padded by one empty pixel (every contour closed), then its
``approximate_polygon``: the same vertices, bit for bit, computed from the mask's runs instead of
its pixels (:func:`_marching_squares`, :func:`_assemble`, :func:`_simplify`; the tests compare
them with scikit-image's functions on the whole image). The contour vertices lie half way
between pixel centres; shifted by half a pixel (centre frame -> edge frame) they are the
midpoints of the pixel edges between the mask and the background, and the corners that marching
squares cuts diagonally are put back, so the contour runs along pixel borders and encloses
exactly the mask's pixels (a filled polygon reproduces the mask). Douglas-Peucker
(``tolerance`` in pixels) then drops vertices that lie within ``tolerance`` of the simplified
outline: staircases become straight lines. A part that simplification would reduce to fewer
than 3 vertices keeps its full contour.

Cost: proportional to the mask's outline (its runs and the squares along its edge), never to
the image or the object's box: a 6000 x 4000 photo's mask is traced in tens of milliseconds.
Within :func:`shared_tracing` (one ``export`` call), a mask traced once at a tolerance is not
traced again by the next format.

Parts and holes: each 4-connected part of the mask is one polygon (its outer boundary), largest
first. Polygons cannot hold holes in COCO, CVAT, Label Studio or YOLO, so a hole is *filled*
in the polygon (:func:`hole_area` says how many pixels that adds); the exact mask travels as
COCO RLE or in the VOC PNGs.

No scikit-image is needed: numpy, and scipy for :func:`hole_area` and for :func:`join_parts` of
parts with millions of vertex pairs.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from autolabel import masks
from autolabel.masks.window import odd_occurrences

Polygon = np.ndarray
"""``(N, 2)`` float ``(x, y)`` vertices in pixels, ``N >= 3``, not closed."""

DEFAULT_TOLERANCE = 1.0
"""Default simplification tolerance in pixels (the ``polygon_tolerance`` exporter option)."""


def signed_area(poly: Polygon) -> float:
    """Shoelace area of ``poly``: positive when its vertices turn clockwise on screen (y down)."""
    p = np.asarray(poly, dtype=np.float64)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return float(0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))


def _outer(c: np.ndarray) -> bool:
    """Whether closed contour ``c`` (last == first) is an outer boundary: it turns counter-clockwise
    on screen (holes turn clockwise), i.e. ``signed_area(c[:-1]) < 0``. Every product and sum is
    exact (vertices are multiples of 0.5 pixel), so the sign is the same, without the copies."""
    return _twice_area(c) < 0


def _twice_area(c: np.ndarray) -> float:
    """Twice the shoelace area of closed contour ``c`` (last == first), for vertices on a half-pixel
    grid, where every product and partial sum is exact: equal to ``2 * signed_area(c[:-1])``.
    Products summed by numpy, not BLAS (``np.dot``): a threaded BLAS call costs milliseconds on a
    busy machine; the sums are exact in any order."""
    x, y = c[:, 0], c[:, 1]
    return float(np.sum(x[:-1] * y[1:]) - np.sum(x[1:] * y[:-1]))


def _contours(col: np.ndarray, row0: np.ndarray, row1: np.ndarray) -> list[np.ndarray]:
    """Closed contours, in ``(x, y)`` pixel-edge coordinates (last == first), of the mask made of
    the column segments ``(col, row0, row1)`` (:func:`autolabel.masks.column_segments`)."""
    out = []
    for c in _marching_squares(col, row0, row1):
        # (row, col) on the grid padded by one pixel -> (x, y) on pixel edges of the image
        out.append(_square_corners(np.stack([c[:, 1] - 0.5, c[:, 0] - 0.5], axis=1)))
    return out


# Marching squares at level 0.5 on a 0/1 image: per square case (ul | ur << 1 | ll << 2 | lr << 3),
# the segments ((from row, from col), (to row, to col)) relative to the square's top-left pixel,
# in the order scikit-image's ``_get_contour_segments`` gives them (``fully_connected="low"``).
_H, _Q = 0.5, 1.0
_CASES: dict[int, tuple[tuple[tuple[float, float], tuple[float, float]], ...]] = {
    1: (((0, _H), (_H, 0)),), 2: (((_H, _Q), (0, _H)),), 3: (((_H, _Q), (_H, 0)),),
    4: (((_H, 0), (_Q, _H)),), 5: (((0, _H), (_Q, _H)),), 6: (((_H, _Q), (0, _H)), ((_H, 0), (_Q, _H))),
    7: (((_H, _Q), (_Q, _H)),), 8: (((_Q, _H), (_H, _Q)),), 9: (((0, _H), (_H, 0)), ((_Q, _H), (_H, _Q))),
    10: (((_Q, _H), (0, _H)),), 11: (((_Q, _H), (_H, 0)),), 12: (((_H, 0), (_H, _Q)),),
    13: (((0, _H), (_H, _Q)),), 14: (((_H, 0), (0, _H)),),
}
_FIRST = np.zeros((16, 4))  # per case: its first segment (from row, from col, to row, to col)
_SECOND = np.full((16, 4), np.nan)  # its second one (cases 6 and 9), else NaN
for _k, _segs in _CASES.items():
    _FIRST[_k] = [*_segs[0][0], *_segs[0][1]]
    if len(_segs) > 1:
        _SECOND[_k] = [*_segs[1][0], *_segs[1][1]]
_FIRST2 = (2 * _FIRST).astype(np.int64)  # the same in half pixels
_SECOND2 = np.where(np.isnan(_SECOND), -(1 << 40), 2 * _SECOND).astype(np.int64)


def _edge_squares(col: np.ndarray, row0: np.ndarray, row1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(r, c)``: the squares of the padded grid (square ``(r, c)`` has image pixels
    ``(r - 1 .. r, c - 1 .. c)`` as corners, as ``(row, col)``) whose corners differ, in row-major
    order: those holding a pixel pair that differs, above/below (at a segment's ends) or
    left/right (rows where two neighbouring columns' segments differ). Work is proportional to
    the mask's outline."""
    span = int(row1.max()) + 2
    # left/right: rows where columns x - 1 and x differ lie between the ends (of either column's
    # segments) that do not coincide, taken in pairs
    ends = np.concatenate((col, col, col + 1, col + 1)) * span + np.concatenate((row0, row1, row0, row1))
    ends.sort()
    u = odd_occurrences(ends)
    lo, hi = u[0::2], u[1::2]
    length = hi - lo
    rows = np.repeat(lo % span, length) + _ragged(length)
    between = np.repeat(lo // span, length)
    r = np.concatenate((row0, row0, row1, row1, rows, rows + 1))
    c = np.concatenate((col, col + 1, col, col + 1, between, between))
    width = int(c.max()) + 1
    key = r * width + c
    key.sort()  # np.unique's hash table costs several times this sort on these keys
    key = key[np.concatenate(([True], key[1:] != key[:-1]))]
    return key // width, key % width


def _ragged(lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(n) for n in lengths])`` without a Python loop."""
    return np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _marching_squares(col: np.ndarray, row0: np.ndarray, row1: np.ndarray) -> list[np.ndarray]:
    """``skimage.measure.find_contours(padded, 0.5, fully_connected="low", positive_orientation="high")``
    of the mask made of the column segments, padded by one empty pixel on every side: the same
    contours, vertex for vertex, in the same order (``(row, col)`` on the padded grid), without
    the image. scikit-image visits every square of the image; here the squares on the outline
    are found from the segments (:func:`_edge_squares`), their corners looked up in them, and
    their segments assembled into contours as scikit-image assembles them (:func:`_assemble`;
    the tests compare both on many masks)."""
    if col.size == 0:
        return []
    r, c = _edge_squares(col, row0, row1)
    span = int(row1.max()) + 2
    starts = col * span + row0  # sorted: segments come by column, then row

    def on(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whether image pixels (row y - 1, column x) and (row y, column x) are in the mask. The
        segment that may hold the upper one is the lower one's, or the one before when the
        lower one's starts at row y (starts are distinct): one search for both."""
        key = x * span + y
        below = np.searchsorted(starts, key, side="right") - 1
        i = np.maximum(below, 0)
        j = np.maximum(below - ((below >= 0) & (starts[i] == key)), 0)
        return ((col[j] == x) & (row0[j] <= y - 1) & (y - 1 < row1[j]),
                (col[i] == x) & (row0[i] <= y) & (y < row1[i]))

    (ul, ll), (ur, lr) = on(r, c - 1), on(r, c)
    case = (ul * 1 + ur * 2 + ll * 4 + lr * 8).astype(np.int64)
    # points as whole numbers (twice the row, twice the column, in one int): the assembly only
    # hashes and compares them, and ints are cheaper to make than tuples of floats
    key = 2 * (int(c.max()) + 2)
    at = np.stack([r, c, r, c], axis=1) * 2
    first, second = at + _FIRST2[case], at + _SECOND2[case]
    two = second[:, 0] >= 0
    idx = np.arange(case.size) + np.concatenate(([0], np.cumsum(two)[:-1]))
    segs = np.empty((case.size + int(two.sum()), 4), dtype=np.int64)
    segs[idx] = first
    segs[idx[two] + 1] = second[two]
    points = segs[:, 0::2] * key + segs[:, 1::2]
    return [np.stack(np.divmod(ct[::-1], key), axis=1) / 2.0 for ct in _assemble(points[:, 0], points[:, 1])]


def _assemble(src: np.ndarray, dst: np.ndarray) -> list[np.ndarray]:
    """What scikit-image's ``_assemble_contours`` makes of the segments ``src[k] -> dst[k]``
    (in scan order) of a 0/1 image, where every point starts one segment and ends one, so the
    segments form cycles: per cycle, in the order of its first segment, the points along it
    from the end of its last segment round to that point again (what the merges there leave
    at the head of each contour; the tests compare both). Each cycle is walked once from its
    first segment (a plain loop over a list: O(n), cheaper than any O(n log n) array scheme
    here), then turned to start after its last segment with array work."""
    n = src.size
    order = np.argsort(src, kind="stable")
    nxt = order[np.searchsorted(src, dst, sorter=order)].tolist()  # the segment that starts where k ends
    seen = bytearray(n)
    walked: list[int] = []
    bounds = [0]
    start = seen.find(0)
    while start >= 0:  # the first segment not yet walked is the first of its cycle
        k = start
        while not seen[k]:
            seen[k] = 1
            walked.append(k)
            k = nxt[k]
        bounds.append(len(walked))
        start = seen.find(0, start)
    walk = np.array(walked, dtype=np.int64)
    b = np.array(bounds, dtype=np.int64)
    first, size = b[:-1], np.diff(b)
    position = np.empty(n, dtype=np.int64)
    position[walk] = np.arange(n)
    after_last = position[np.maximum.reduceat(walk, first)] + 1  # where each cycle is to start
    from_first = np.repeat(first, size)
    turned = walk[from_first + (np.arange(n) - from_first + np.repeat(after_last - first, size)) % np.repeat(size, size)]
    pts = src[turned]
    return [np.append(pts[a:e], pts[a]) for a, e in zip(b[:-1], b[1:])]


def _square_corners(c: np.ndarray) -> np.ndarray:
    """Put back the pixel corners that marching squares cuts off.

    Each contour vertex is the midpoint of a unit pixel edge: on a vertical edge (``x`` whole,
    ``y`` half) or a horizontal one (``x`` half, ``y`` whole). Where the contour steps from one
    kind to the other it cuts a corner diagonally; the two edges meet at ``(x of the vertical
    one, y of the horizontal one)``, which is inserted. The result runs along pixel borders and
    encloses exactly the mask's pixels.
    """
    on_vertical = np.isclose(c[:, 0], np.round(c[:, 0]))
    p, q = c[:-1], c[1:]
    turn = on_vertical[:-1] != on_vertical[1:]
    corner = np.where(on_vertical[:-1, None], np.stack([p[:, 0], q[:, 1]], 1), np.stack([q[:, 0], p[:, 1]], 1))
    out = np.empty((len(p) + int(turn.sum()) + 1, 2))
    idx = np.arange(len(p)) + np.concatenate(([0], np.cumsum(turn)[:-1]))
    out[idx] = p
    out[idx[turn] + 1] = corner[turn]
    out[-1] = c[-1]
    return out


def mask_to_polygons(mask: np.ndarray | Mapping[str, Any], tolerance: float = DEFAULT_TOLERANCE) -> list[Polygon]:
    """The outer boundary of each part of ``mask`` as a simplified polygon, largest part first.

    Traced on the mask's bounding window (an RLE mask is decoded there only,
    :func:`autolabel.masks.decode_window`): the same polygons as tracing the whole image, at the
    cost of the object's window. Inside :func:`shared_tracing`, an RLE mask traced once at a
    tolerance is not traced again (every polygon format of one export shares it).

    Args:
        mask: bool ``(H, W)`` array, or a COCO RLE dict.
        tolerance: Douglas-Peucker tolerance in pixels; 0 keeps every contour vertex.

    Returns:
        One ``(N, 2)`` ``(x, y)`` polygon per 4-connected part (holes filled, see the module
        doc), each with at least 3 vertices inside ``[0, W] x [0, H]``; ``[]`` for an empty mask.
        Polygons from the shared cache are read-only arrays.
    """
    if tolerance < 0:
        raise ValueError(f"polygon tolerance must be >= 0 pixels, got {tolerance}")
    if not isinstance(mask, Mapping):
        m = np.asarray(mask, dtype=bool)
        return _trace(masks.array_segments(m), m.shape[1], m.shape[0], tolerance)
    cache = _SHARED.get()
    key = (tuple(int(v) for v in mask["size"]), mask["counts"], float(tolerance))
    if cache is not None and key in cache:
        return list(cache[key])
    polys = rle_to_polygons(mask, tolerance)
    if cache is not None:
        for p in polys:
            p.setflags(write=False)
        cache[key] = polys
        return list(polys)
    return polys


def rle_to_polygons(rle: Mapping[str, Any], tolerance: float = DEFAULT_TOLERANCE) -> list[Polygon]:
    """:func:`mask_to_polygons` of an RLE mask, traced from its runs (no cache)."""
    h, w = (int(v) for v in rle["size"])
    return _trace(masks.column_segments(rle), w, h, tolerance)


def _trace(segments: tuple[np.ndarray, np.ndarray, np.ndarray], width: int, height: int,
           tolerance: float) -> list[Polygon]:
    """The polygons of the ``width x height`` mask made of column ``segments``
    (:func:`autolabel.masks.column_segments`)."""
    outer = [c for c in _contours(*segments) if _outer(c)]
    polys = []
    for c in outer:
        # start at a pixel corner: Douglas-Peucker keeps the first vertex, so it should be one worth keeping
        corner = np.flatnonzero(np.isclose(c[:-1], np.round(c[:-1])).all(axis=1))
        if corner.size:
            c = np.concatenate([np.roll(c[:-1], -int(corner[0]), axis=0), c[corner[:1]]])
        simple = _simplify(c, tolerance) if tolerance > 0 else c
        if len(simple) < 4 or _twice_area(simple) == 0:  # fewer than 3 distinct vertices
            simple = _drop_collinear(c)
        polys.append(simple)
    polys.sort(key=lambda p: -abs(_twice_area(p)))  # the order of signed_area's (both exact)
    polys = [p[:-1].astype(np.float64) for p in polys]
    return [np.clip(p, 0.0, [width, height]) for p in polys]


def _simplify(coords: np.ndarray, tolerance: float) -> np.ndarray:
    """``skimage.measure.approximate_polygon(coords, tolerance)`` (Douglas-Peucker), the same
    vertices bit for bit, with every pending piece of one recursion depth split in one array pass
    (the pieces are independent: the kept vertices do not depend on the order they are visited
    in) instead of one loop step per kept vertex, with scikit-image's arithmetic operation for
    operation (absolute coordinates, its angle, sine and cosine; the distance to the nearer end
    only for the points that do not project inside their piece)."""
    n = coords.shape[0]
    chain = np.zeros(n, dtype=bool)
    chain[0] = chain[-1] = True
    start, end = np.array([0]), np.array([n - 1])
    x, y = coords[:, 0], coords[:, 1]
    while start.size:
        inner = end - start - 1
        start, end, inner = start[inner > 0], end[inner > 0], inner[inner > 0]
        if not start.size:
            break
        # per piece, its line as scikit-image computes it (the same ufuncs on arrays, which give
        # what they give on numpy scalars: the tests compare the two)
        xs, ys, xe, ye = x[start], y[start], x[end], y[end]
        angle = -np.arctan2(xe - xs, ye - ys)
        cos_a, sin_a = np.cos(angle), np.sin(angle)
        dist = ys * sin_a + xs * cos_a
        offsets = np.cumsum(inner) - inner
        piece = np.repeat(np.arange(start.size), inner)
        at = np.arange(piece.size) + np.repeat(start + 1 - offsets, inner)
        pr, pc = x[at], y[at]
        dr, dc = (xe - xs)[piece], (ye - ys)[piece]
        dr0, dc0 = pr - xs[piece], pc - ys[piece]
        dr1, dc1 = pr - xe[piece], pc - ye[piece]
        outside = ~(((dr0 * dr + dc0 * dc) > 0) & ((-dr1 * dr - dc1 * dc) > 0))
        d = np.abs(pr * cos_a[piece] + pc * sin_a[piece] - dist[piece])
        o = np.flatnonzero(outside)
        if o.size:
            d[o] = np.minimum(np.sqrt(dc0[o] ** 2 + dr0[o] ** 2), np.sqrt(dc1[o] ** 2 + dr1[o] ** 2))
        top = np.maximum.reduceat(d, offsets)
        split = top > tolerance
        # the first point at each piece's maximum
        hits = np.flatnonzero(d == top[piece])
        first = hits[np.searchsorted(hits, offsets)]
        cut = at[first][split]
        chain[cut] = True
        start, end = np.concatenate((start[split], cut)), np.concatenate((cut, end[split]))
    return coords[chain, :]


_SHARED: ContextVar[dict[tuple[Any, ...], list[Polygon]] | None] = ContextVar("autolabel_shared_polygons", default=None)


class SharedTracing:
    """The polygons traced while it is active (see :func:`shared_tracing`); :meth:`clear` forgets
    them (the export driver does so before each image, so it holds one image's at most)."""

    def __init__(self, store: dict[tuple[Any, ...], list[Polygon]]) -> None:
        self._store = store

    def clear(self) -> None:
        self._store.clear()

    def __len__(self) -> int:
        return len(self._store)


@contextmanager
def shared_tracing() -> Iterator[SharedTracing]:
    """Within the block, :func:`mask_to_polygons` of an RLE mask at a tolerance it was already
    traced at returns the same polygons without tracing again (in this thread or task)."""
    store: dict[tuple[Any, ...], list[Polygon]] = {}
    token = _SHARED.set(store)
    try:
        yield SharedTracing(store)
    finally:
        _SHARED.reset(token)
        store.clear()


def _drop_collinear(c: np.ndarray) -> np.ndarray:
    """A closed contour (last == first) without the vertices that lie on a straight run."""
    p = c[:-1]
    prev, nxt = np.roll(p, 1, axis=0), np.roll(p, -1, axis=0)
    cross = (p[:, 0] - prev[:, 0]) * (nxt[:, 1] - p[:, 1]) - (p[:, 1] - prev[:, 1]) * (nxt[:, 0] - p[:, 0])
    keep = p[~np.isclose(cross, 0.0)]
    return np.concatenate([keep, keep[:1]]) if len(keep) >= 3 else c


def hole_area(mask: np.ndarray | Mapping[str, Any]) -> int:
    """Pixels of the mask's holes (background not connected to the image border, 4-connectivity),
    counted on the mask's bounding window (background outside it reaches the border)."""
    from scipy import ndimage

    if isinstance(mask, Mapping):
        bounds = masks.rle_bounds(mask)
        m = np.zeros((0, 0), bool) if bounds is None else masks.decode_window(mask, bounds)
    else:
        m = np.asarray(mask, dtype=bool)
        bounds = masks.bbox(m)
        if bounds is not None:
            m = m[int(bounds[1]):int(bounds[3]), int(bounds[0]):int(bounds[2])]
    return int(ndimage.binary_fill_holes(m).sum() - m.sum())


def polygons_to_mask(polygons: Iterable[Sequence[Sequence[float]]], height: int, width: int) -> np.ndarray:
    """Rasterise polygons into a bool ``(height, width)`` mask: a pixel is set when its centre
    lies inside some polygon (even-odd rule per polygon; the union over polygons).

    Pure numpy (no scikit-image or OpenCV). Vertices are ``(x, y)`` pixels in the run's frame;
    polygons with fewer than 3 vertices add nothing.
    """
    out = np.zeros((height, width), dtype=bool)
    centres_x = np.arange(width) + 0.5
    for poly in polygons:
        p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        if len(p) < 3:
            continue
        x0, y0 = p[:, 0], p[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        lo = max(0, int(np.floor(y0.min() - 0.5)))
        hi = min(height, int(np.ceil(y0.max() + 0.5)))
        for i in range(lo, hi):
            yc = i + 0.5
            crosses = (y0 <= yc) != (y1 <= yc)  # half-open: a vertex on the line counts once
            if not crosses.any():
                continue
            xa, ya, xb, yb = x0[crosses], y0[crosses], x1[crosses], y1[crosses]
            xs = np.sort(xa + (yc - ya) * (xb - xa) / (yb - ya))
            row = np.zeros(width, dtype=bool)
            for a, b in zip(xs[0::2], xs[1::2]):
                row |= (centres_x > a) & (centres_x < b)
            out[i] |= row
    return out


def polygons_bbox(polygons: Sequence[Sequence[Sequence[float]]]) -> tuple[float, float, float, float] | None:
    """Bounds ``(x1, y1, x2, y2)`` of all vertices; None when there are none."""
    pts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons]
    pts = [p for p in pts if len(p)]
    if not pts:
        return None
    a = np.concatenate(pts)
    return (float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 0].max()), float(a[:, 1].max()))


_TABLE_PAIRS = 1 << 22
"""Largest ``N * M`` for which :func:`_closest_pair` compares every pair (about 30 ms)."""
_TABLE_BLOCK = 1 << 18
"""Vertex pairs per block of that comparison (a few MB of temporary arrays)."""


def _closest_pair(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """``(i, j)`` with ``a[i]`` and ``b[j]`` closest to each other, the smallest ``i`` and then
    the smallest ``j`` among ties (``(N, 2)`` and ``(M, 2)`` points). A k-d tree over ``b``:
    O((N + M) log M) time and O(N + M) memory, where the full distance table would take N * M.
    Pairs of parts up to :data:`_TABLE_PAIRS` vertex pairs are compared in numpy, by blocks of
    ``a`` (the same squared distances, so the same answer), without importing scipy (half a
    second of an export's start-up)."""
    if len(a) * len(b) <= _TABLE_PAIRS:
        step = max(1, _TABLE_BLOCK // len(b))
        sq = np.concatenate([((a[k:k + step, None, :] - b[None, :, :]) ** 2).sum(-1).min(axis=1)
                             for k in range(0, len(a), step)])
    else:
        from scipy.spatial import cKDTree

        _, nearest = cKDTree(b).query(a)
        sq = ((a - b[nearest]) ** 2).sum(-1)
    i = int(np.argmin(sq))
    return i, int(np.argmin(((b - a[i]) ** 2).sum(-1)))


def join_parts(polygons: Sequence[Polygon]) -> Polygon:
    """One polygon that visits every part: parts are chained in the given order, each linked to
    the next by a zero-width bridge between their closest vertices (walked there and back), the
    way Ultralytics merges a multi-part COCO segmentation into one YOLO line.

    Filled, the result covers the same pixels as the parts (the bridges have no area).
    """
    parts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons if len(p)]
    if not parts:
        return np.zeros((0, 2))
    # link i: (vertex of part i, vertex of part i+1) closest to each other
    links = [_closest_pair(a, b) for a, b in zip(parts[:-1], parts[1:])]

    # Walk part 0 from vertex 0 to its exit, part 1 from its entry to its exit, ..., round the
    # last part, then back through each part from its exit to its entry, in reverse order.
    # Iterative (a recursion per part failed at ~1,000 parts).
    entries = [0] + [b for _, b in links]
    rings = [np.roll(p, -e, axis=0) for p, e in zip(parts, entries)]  # each starts at its entry vertex
    exits = [(a - e) % len(p) for (a, _), p, e in zip(links, parts, entries)]
    pieces = [ring[:x + 1] for ring, x in zip(rings, exits)]
    pieces += [rings[-1], rings[-1][:1]]  # round the last part, back to its entry vertex
    for ring, x in zip(reversed(rings[:-1]), reversed(exits)):
        pieces += [ring[x:], ring[:1]]
    out = np.concatenate(pieces)
    return out[:-1]  # the walk ends on the start vertex: the polygon closes by itself
