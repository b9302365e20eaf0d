"""Masks held as an object's window of the image: encode, place, bound, decode and clip RLE
masks with work proportional to the object's window (or to its runs), never a whole-image array.

A stored mask is COCO RLE over the whole displayed image (:mod:`autolabel.masks.rle`), but an
object covers a small part of a large photo: a 6000 x 4000 photo is 24 MP, its objects' boxes a
few MP and their outlines a few thousand runs. Everything here works on runs or on the object's
window, and gives exactly what the whole-image computation gives (the tests compare them):

* :func:`encode_window`: a bool window placed at ``(x0, y0)`` -> RLE over the image;
* :func:`from_frame`: a mask on another pixel grid (a refined mask at the working resolution, a
  patch mask) -> RLE over the image and its bounds, computed on the mask's own cells: a displayed
  column takes the runs of the mask column under it, so the cost is the mask's cells plus the
  runs written, not the displayed pixels of the object (the whole window never exists);
* :func:`rle_bounds`: an RLE mask's pixel bounds from its runs;
* :func:`decode_window`: the part of an RLE mask inside a box, decoded from the runs that touch
  it (what polygon tracing, VOC painting, crops and segm evaluation take);
* :func:`clip_rle`, :func:`crop`: an RLE mask cut to a box.

Runs: a foreground run is a ``[start, end)`` range of flat column-major indices
(``index = x * height + y``); a *segment* is the part of a run in one column.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from autolabel.masks.rle import RLE, Box, _check_runs, _decode_counts, _encode_counts, _pixel_box, bbox

# --------------------------------------------------------------------------------------------
# runs <-> segments


def _segments_rle(cols: np.ndarray, y0: np.ndarray, y1: np.ndarray, height: int, width: int) -> RLE:
    """RLE over a ``height x width`` image of the column segments ``[y0, y1)`` of column
    ``cols`` (int64 arrays, sorted by column then row, disjoint and not touching within a column)."""
    total = height * width
    if cols.size == 0:
        return {"size": [int(height), int(width)], "counts": _encode_counts(np.array([total]))}
    starts = cols * height + y0
    ends = cols * height + y1
    join = ends[:-1] == starts[1:]  # a run reaching the bottom of a column continues at the top of the next one
    if join.any():
        starts = starts[np.concatenate(([True], ~join))]
        ends = ends[np.concatenate((~join, [True]))]
    n = starts.size
    runs = np.empty(2 * n + 1, dtype=np.int64)
    runs[0] = starts[0]
    runs[1::2] = ends - starts
    runs[2:-1:2] = starts[1:] - ends[:-1]
    runs[-1] = total - ends[-1]
    if runs[-1] == 0:
        runs = runs[:-1]
    return {"size": [int(height), int(width)], "counts": _encode_counts(runs)}


def array_segments(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(col, row0, row1)`` of each vertical run of True in a bool ``(h, w)`` array, sorted by
    column then row (``row1`` exclusive)."""
    padded = np.zeros((mask.shape[1], mask.shape[0] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask.T
    d = np.diff(padded, axis=1)
    sc, sr = np.nonzero(d == 1)
    _, er = np.nonzero(d == -1)
    return sc.astype(np.int64), sr.astype(np.int64), er.astype(np.int64)


def _ragged_arange(lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(n) for n in lengths])`` without a Python loop."""
    total = int(lengths.sum())
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - first


def foreground_runs(rle: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)``: the mask's runs of 1s as flat column-major ``[start, end)`` indices
    (empty runs left out, touching runs joined). RecordError if the counts do not cover ``H * W``."""
    h, w = (int(v) for v in rle["size"])
    runs = _decode_counts(rle["counts"])
    _check_runs(runs, h, w, "mask")
    pos = np.cumsum(runs)
    starts, ends = pos[0:-1:2], pos[1::2]
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    touch = ends[:-1] == starts[1:]  # runs of 1s split by an empty run of 0s are one run
    if touch.any():
        starts, ends = starts[np.concatenate(([True], ~touch))], ends[np.concatenate((~touch, [True]))]
    return starts, ends


def rle_bounds(rle: Mapping[str, Any]) -> Box | None:
    """Pixel bounds ``(x1, y1, x2, y2)`` (exclusive) of an RLE mask, from its runs; None if it is
    empty. Equals :func:`autolabel.masks.rle.bbox` of the decoded mask."""
    h = int(rle["size"][0])
    starts, ends = foreground_runs(rle)
    if starts.size == 0:
        return None
    first_col, last_col = starts // h, (ends - 1) // h
    one = first_col == last_col  # runs that wrap into the next column cover every row
    top = int(np.where(one, starts % h, 0).min())
    bottom = int(np.where(one, (ends - 1) % h, h - 1).max())
    return (float(first_col.min()), float(top), float(last_col.max() + 1), float(bottom + 1))


rle_bbox = rle_bounds


def column_segments(rle: Mapping[str, Any], box: Box | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(col, row0, row1)``: an RLE mask's runs of 1s split into one segment per image column
    (rows ``[row0, row1)``), sorted by column then row, neither overlapping nor touching within
    a column; only the parts inside ``box`` (whole pixels, cut to the image) when given. Work is
    proportional to the runs and the columns they cross, never to the image."""
    h, w = (int(v) for v in rle["size"])
    x1, y1, x2, y2 = (0, 0, w, h) if box is None else _pixel_box(box, w, h)
    starts, ends = foreground_runs(rle)
    empty = np.zeros(0, dtype=np.int64)
    if x2 <= x1 or y2 <= y1 or starts.size == 0:
        return empty, empty, empty
    starts, ends = np.maximum(starts, x1 * h), np.minimum(ends, x2 * h)
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    c0, c1 = starts // h, (ends - 1) // h
    n = c1 - c0 + 1
    k = _ragged_arange(n)
    s, e = np.repeat(starts, n), np.repeat(ends, n)
    col = np.repeat(c0, n) + k
    r0 = np.maximum(np.where(k == 0, s - col * h, 0), y1)
    r1 = np.minimum(np.where(col == (e - 1) // h, e - col * h, h), y2)
    keep = r1 > r0
    return col[keep], r0[keep], r1[keep]


def row_runs(rle: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row, x0, x1)``: an RLE mask's runs of 1s along image rows (columns ``[x0, x1)`` of
    ``row``), sorted by row then column, neither overlapping nor touching within a row: the mask
    in row-major order, as an image file stores it. Work is proportional to the column segments
    (:func:`column_segments`) and the rows the mask's left and right edges cross, never to the
    image or the mask's area."""
    col, row0, row1 = column_segments(rle)
    empty = np.zeros(0, dtype=np.int64)
    if col.size == 0:
        return empty, empty, empty
    # pixels (x - 1, y) and (x, y) differ on the rows between the segment ends of columns x - 1
    # and x that do not coincide, taken in pairs: the mask's edges at column boundary x
    span = int(row1.max()) + 1
    ends = np.concatenate((col, col, col + 1, col + 1)) * span + np.concatenate((row0, row1, row0, row1))
    ends.sort()
    u = odd_occurrences(ends)  # an end shared by two segments (of x - 1 and x) is no edge
    lo, hi = u[0::2], u[1::2]
    length = hi - lo
    boundary = np.repeat(lo // span, length)
    rows = np.repeat(lo % span, length) + _ragged_arange(length)
    stride = int(col.max()) + 2
    edges = rows * stride + boundary
    edges.sort()  # per row, its edges left to right: start, end, start, end, ...
    return edges[0::2] // stride, edges[0::2] % stride, edges[1::2] % stride


def odd_occurrences(sorted_keys: np.ndarray) -> np.ndarray:
    """The values that occur an odd number of times in ``sorted_keys`` (ascending), once each."""
    first = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
    counts = np.diff(np.append(first, sorted_keys.size))
    return sorted_keys[first[counts % 2 == 1]]


def decode_window(rle: Mapping[str, Any], box: Box) -> np.ndarray:
    """The part of an RLE mask inside the pixel ``box`` (rounded outwards to whole pixels, cut to
    the image): bool ``(rows, cols)`` in the box's frame, ``out[r, c]`` = image pixel
    ``(x1 + c, y1 + r)``; empty shape if the box holds no pixel of the image. Work and memory are
    the window's plus the runs', whatever the image's size."""
    h, w = (int(v) for v in rle["size"])
    x1, y1, x2, y2 = _pixel_box(box, w, h)
    nc, nr = max(0, x2 - x1), max(0, y2 - y1)
    col, r0, r1 = column_segments(rle, box)
    if col.size == 0:
        return np.zeros((nr, nc), dtype=bool)
    col, r0, r1 = col - x1, r0 - y1, r1 - y1
    # the window column-major: alternating runs of 0s and 1s between the segments' ends
    edges = np.empty(2 * col.size + 2, dtype=np.int64)
    edges[0], edges[-1] = 0, nc * nr
    edges[1:-1:2], edges[2:-1:2] = col * nr + r0, col * nr + r1
    values = np.arange(edges.size - 1) % 2 == 1
    return np.repeat(values, np.diff(edges)).reshape(nc, nr).T


def crop(rle: Mapping[str, Any], box: Box) -> np.ndarray:
    """The part of an RLE mask inside the pixel ``box`` (rounded outwards to whole pixels, cut to
    the image): a bool ``(rows, cols)`` array in the box's frame, as FiftyOne's
    ``Detection.mask`` holds it. Empty shape if the box holds no pixel of the image."""
    return decode_window(rle, box).copy()


def encode_window(window: np.ndarray, x0: int, y0: int, height: int, width: int) -> RLE:
    """RLE of a ``(height, width)`` image mask that is ``window`` at ``(x0, y0)`` and 0 elsewhere.

    Same result as ``encode`` of the whole image with the window pasted in, without building the
    whole image: the work is proportional to the window. Parts of the window outside the image
    are cut off.

    Args:
        window: ``(h, w)`` bool, ``window[r, c]`` is image pixel ``(x0 + c, y0 + r)``.
        x0, y0: image column and row of ``window[0, 0]`` (may be negative).
        height, width: the image's size in pixels.
    """
    win = np.asarray(window, dtype=bool)
    if win.ndim != 2:
        raise ValueError(f"a mask window is (h, w), got shape {win.shape}")
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    r0, c0 = max(0, -y0), max(0, -x0)
    r1, c1 = min(win.shape[0], height - y0), min(win.shape[1], width - x0)
    if r1 <= r0 or c1 <= c0:
        win = np.zeros((0, 0), dtype=bool)
    else:
        win = win[r0:r1, c0:c1]
    cols, y_0, y_1 = array_segments(win)
    return _segments_rle(cols + x0 + c0, y_0 + y0 + r0, y_1 + y0 + r0, height, width)


def _tight(win: np.ndarray, x0: int, y0: int, height: int, width: int) -> tuple[RLE, Box] | None:
    """The pixels of ``win`` (a bool window whose top-left pixel is ``(x0, y0)`` of a ``height`` x
    ``width`` image) as RLE over the image, with their pixel bounds; None when it holds none."""
    b = bbox(win)
    if b is None:
        return None
    bx1, by1, bx2, by2 = (int(v) for v in b)
    rle = encode_window(win[by1:by2, bx1:bx2], x0 + bx1, y0 + by1, height, width)
    return rle, (float(x0 + bx1), float(y0 + by1), float(x0 + bx2), float(y0 + by2))


def clip_rle(rle: Mapping[str, Any], box: Box) -> tuple[RLE, Box] | None:
    """An RLE mask cut to the pixel ``box`` (rounded outwards): ``(rle, bounds)`` of what is left,
    or None when nothing of the mask lies in the box."""
    h, w = (int(v) for v in rle["size"])
    x1, y1, x2, y2 = _pixel_box(box, w, h)
    if x2 <= x1 or y2 <= y1:
        return None
    return _tight(decode_window(rle, (x1, y1, x2, y2)), x1, y1, h, w)


# --------------------------------------------------------------------------------------------
# masks on other pixel grids


def _blocks(index: np.ndarray, size: int) -> tuple[int, np.ndarray, np.ndarray] | None:
    """Displayed pixels sampling cells ``index`` (nondecreasing, one per pixel) of an axis of
    ``size`` cells, grouped: ``(first, cells, counts)``: the pixels from offset ``first`` on take
    ``cells[0]`` (``counts[0]`` pixels), then ``cells[1]``... Pixels off the axis (index outside
    ``[0, size)``) are left out; None when none is on it."""
    on = np.flatnonzero((index >= 0) & (index < size))
    if on.size == 0:
        return None
    idx = index[on[0]:on[-1] + 1]
    first = np.flatnonzero(np.concatenate(([True], idx[1:] != idx[:-1])))
    return int(on[0]), idx[first], np.diff(np.concatenate((first, [idx.size])))


def from_frame(
    mask: np.ndarray,
    origin: tuple[float, float],
    scale: tuple[float, float],
    width: int,
    height: int,
    box: Box | None = None,
) -> tuple[RLE, Box] | None:
    """An object's mask given on another pixel grid -> its RLE over the displayed image, and its bounds.

    The mask may be at any resolution and cover any part of the image: a refined mask at the
    working resolution, a patch mask on the feature grid (one cell per patch), a tile's mask.
    Each displayed pixel takes the value of the mask cell under its centre (nearest sampling,
    as :meth:`autolabel.discovery.refine.PixelMask.sample`). Computed on the mask's cells: each
    displayed column takes the runs of the cell column under it (see the module doc).

    Args:
        mask: ``(mh, mw)`` bool; cell ``[r, c]`` covers displayed pixels
            ``[ox + c * sx, ox + (c + 1) * sx) x [oy + r * sy, oy + (r + 1) * sy)``.
        origin: ``(ox, oy)``, displayed pixels of the top-left corner of ``mask[0, 0]``.
        scale: ``(sx, sy)``, displayed pixels per mask cell (> 0).
        width, height: the displayed image's size in pixels.
        box: if given, pixel ``(x1, y1, x2, y2)``: pixels outside it (rounded outwards to whole
            pixels) are 0, e.g. the detection's box when the mask is a coarse patch mask.

    Returns:
        ``(rle, bounds)``: the ``{"size": [height, width], "counts": str}`` RLE and the mask's
        pixel bounds ``(x1, y1, x2, y2)`` (exclusive, whole pixels), which a detection takes as
        its box; None when no displayed pixel is on the object.
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"a mask is (h, w), got shape {m.shape}")
    (ox, oy), (sx, sy) = (float(origin[0]), float(origin[1])), (float(scale[0]), float(scale[1]))
    if not (sx > 0 and sy > 0):
        raise ValueError(f"mask scale must be positive, got {scale!r}")
    cells = bbox(m)
    if cells is None:
        return None
    # the displayed pixels whose centres can fall on a True cell, within the image and the box
    x1 = max(0, int(np.floor(ox + cells[0] * sx)))
    y1 = max(0, int(np.floor(oy + cells[1] * sy)))
    x2 = min(width, int(np.ceil(ox + cells[2] * sx)))
    y2 = min(height, int(np.ceil(oy + cells[3] * sy)))
    if box is not None:
        x1, y1 = max(x1, int(np.floor(box[0]))), max(y1, int(np.floor(box[1])))
        x2, y2 = min(x2, int(np.ceil(box[2]))), min(y2, int(np.ceil(box[3])))
    if x2 <= x1 or y2 <= y1:
        return None
    mh, mw = m.shape
    xb = _blocks(np.floor((np.arange(x1, x2) + 0.5 - ox) / sx).astype(np.int64), mw)
    yb = _blocks(np.floor((np.arange(y1, y2) + 0.5 - oy) / sy).astype(np.int64), mh)
    if xb is None or yb is None:
        return None
    (fx, ucols, ccount), (fy, urows, rcount) = xb, yb
    sub = m[np.ix_(urows, ucols)]  # one cell per block of displayed pixels
    # displayed row where each row block starts (and where the last one ends)
    ystart = y1 + fy + np.concatenate(([0], np.cumsum(rcount)))
    xstart = x1 + fx + np.concatenate(([0], np.cumsum(ccount)))
    rows_on, cols_on = np.flatnonzero(sub.any(axis=1)), np.flatnonzero(sub.any(axis=0))
    if rows_on.size == 0:
        return None
    bounds = (float(xstart[cols_on[0]]), float(ystart[rows_on[0]]),
              float(xstart[cols_on[-1] + 1]), float(ystart[rows_on[-1] + 1]))
    bc, br0, br1 = array_segments(sub)  # runs of each block column, in row blocks
    nseg = np.bincount(bc, minlength=sub.shape[1])
    first_seg = np.cumsum(nseg) - nseg
    # every displayed column of block column j takes j's segments, in order
    block_of_col = np.repeat(np.arange(sub.shape[1]), ccount)
    per_col = nseg[block_of_col]
    col = np.repeat(xstart[0] + np.arange(block_of_col.size), per_col)
    seg = np.repeat(first_seg[block_of_col], per_col) + _ragged_arange(per_col)
    rle = _segments_rle(col, ystart[br0[seg]], ystart[br1[seg]], height, width)
    return rle, bounds
