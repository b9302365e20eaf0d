"""Instance masks as COCO run-length encoding (RLE), in pure numpy.

A detection's ``mask`` is stored in the run as COCO's *compressed* RLE of a binary mask over the
whole displayed (EXIF-turned) image::

    {"size": [height, width], "counts": "<ASCII string>"}

exactly what ``pycocotools.mask.encode`` writes for a Fortran-ordered ``uint8`` array, so any COCO
tool reads it (``pycocotools.mask.decode``, ``COCO.annToMask``). The encoder here is written from
the format's definition so that the annotation path needs neither pycocotools nor scikit-image
(GPU servers often lack them); the tests check it against pycocotools.

Format (column-major runs, alternating 0s and 1s, starting with 0s, the first run possibly 0):
each run count, from the third on, is stored as the difference to the count two runs before; each
value is written in 5-bit groups, least significant first, each group as ``chr(48 + g)`` with bit
``0x20`` set while more groups follow, and the sign carried by bit ``0x10`` of the last group.

Shapes: masks are ``(H, W)`` bool arrays, ``H`` rows (y) by ``W`` columns (x).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from autolabel.errors import RecordError

Box = tuple[float, float, float, float]

RLE = dict[str, Any]
"""``{"size": [H, W], "counts": str}``: COCO compressed RLE."""


# --------------------------------------------------------------------------------------------
# run lengths


def _runs(mask: np.ndarray) -> np.ndarray:
    """Column-major run lengths of a bool ``(H, W)`` mask, starting with a run of 0s."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(edges)
    if flat[0]:
        runs = np.concatenate(([0], runs))
    return runs.astype(np.int64)


def _encode_counts(runs: np.ndarray) -> str:
    out: list[str] = []
    counts = [int(v) for v in runs]
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: negative values keep their sign
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


MAX_GROUPS = 7
"""Most 5-bit groups one run count may take (35 bits): more means a count of 2**34 or beyond,
which no image holds (and pycocotools keeps counts in 32 bits)."""


def _decode_counts(s: str) -> np.ndarray:
    """The run lengths a compressed counts string holds, as int64 (vectorised: O(len(s)), no
    Python loop per character). Raises RecordError for a character outside the encoding, a
    number cut off at the end, or a number of more than :data:`MAX_GROUPS` groups."""
    try:
        raw = s.encode("ascii")
    except UnicodeEncodeError as e:
        raise RecordError(f"RLE counts hold a character outside the encoding: {s[e.start]!r} at {e.start}") from None
    c = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    bad = np.flatnonzero((c < 0) | (c > 63))
    if bad.size:
        raise RecordError(f"RLE counts hold a character outside the encoding: {s[bad[0]]!r} at {bad[0]}")
    if c.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = (c & 0x20) == 0  # the last group of each number
    if not last[-1]:
        raise RecordError("RLE counts end in the middle of a number")
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    groups = ends - starts + 1
    if groups.max() > MAX_GROUPS:
        at = int(np.argmax(groups > MAX_GROUPS))
        raise RecordError(f"RLE counts hold a run of {groups[at]} 5-bit groups (at {starts[at]}), "
                          f"more than the {MAX_GROUPS} any image needs")
    shift = 5 * (np.arange(c.size) - np.repeat(starts, groups))
    x = np.add.reduceat((c & 0x1F) << shift, starts)
    x -= np.where(c[ends] & 0x10, np.int64(1) << (5 * groups), 0)  # the sign bit of the last group
    # from the fourth count on, each is stored as the difference to the count two before
    x[1::2] = np.cumsum(x[1::2])
    x[2::2] = np.cumsum(x[2::2])
    return x


def _check_runs(runs: np.ndarray, height: int, width: int, where: str) -> None:
    """Raise RecordError unless ``runs`` are whole numbers >= 0 that sum to ``height * width``."""
    if runs.size and runs.min() < 0:
        raise RecordError(f"{where}: counts hold a negative run ({int(runs.min())})")
    total = int(runs.sum())
    if total != height * width:
        raise RecordError(f"{where}: counts cover {total} pixels, the {height}x{width} mask has {height * width}")


# --------------------------------------------------------------------------------------------
# public API


def encode(mask: np.ndarray) -> RLE:
    """Bool ``(H, W)`` mask -> compressed RLE ``{"size": [H, W], "counts": str}``."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"a mask is (H, W), got shape {m.shape}")
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": _encode_counts(_runs(m))}


def _check_size(obj: Any, where: str, shape: tuple[int, int] | None) -> tuple[int, int]:
    """``obj["size"]`` as ``(h, w)``: two positive ints, equal to ``shape`` when given."""
    if not isinstance(obj, Mapping):
        raise RecordError(f"{where} must be a COCO RLE object {{'size': [h, w], 'counts': ...}}, got {type(obj).__name__}")
    size = obj.get("size")
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise RecordError(f"{where}: size must be [height, width] of positive ints, got {size!r}")
    if shape is not None and (size[0], size[1]) != tuple(shape):
        raise RecordError(f"{where}: size is {list(size)} (h, w), the image is {list(shape)}")
    return int(size[0]), int(size[1])


def check_rle(obj: Any, where: str = "mask", shape: tuple[int, int] | None = None) -> RLE:
    """Validate a stored compressed RLE; returns it as a plain dict.

    Args:
        obj: ``{"size": [h, w], "counts": str}``.
        where: what to name in the error (a detection, an annotation).
        shape: if given, the ``(height, width)`` the mask must have (the image's), checked
            before the counts are read.

    Raises:
        RecordError: one line saying what is wrong: size not two positive ints, or not
            ``shape``; counts not a string, holding a character outside the encoding, a
            negative run, or runs that do not sum to ``h * w``.
    """
    h, w = _check_size(obj, where, shape)
    counts = obj.get("counts")
    if not isinstance(counts, str):
        raise RecordError(f"{where}: counts must be a compressed RLE string, got {type(counts).__name__}")
    try:
        runs = _decode_counts(counts)
    except RecordError as e:
        raise RecordError(f"{where}: {e}") from None
    _check_runs(runs, h, w, where)
    return {"size": [h, w], "counts": counts}


def from_runs(obj: Any, where: str = "mask", shape: tuple[int, int] | None = None) -> RLE:
    """Uncompressed RLE ``{"size": [h, w], "counts": [n0, n1, ...]}`` (run lengths, column-major,
    starting with 0s) -> compressed RLE, validated as :func:`check_rle` validates (``shape``
    likewise checked before the counts are read).

    Raises:
        RecordError: a bad size; a count that is not a whole number (bools refused), negative
            or beyond ``h * w``; or counts that do not sum to ``h * w``.
    """
    h, w = _check_size(obj, where, shape)
    runs = obj.get("counts")
    if not isinstance(runs, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in runs):
        raise RecordError(f"{where}: uncompressed counts must be a list of whole numbers")
    bad = next((v for v in runs if not 0 <= v <= h * w), None)
    if bad is not None:
        shown = str(bad) if abs(bad) < 10**15 else f"{'-' if bad < 0 else ''}1e{len(str(abs(bad))) - 1}+"
        raise RecordError(f"{where}: counts hold a run of {shown} pixels; runs are 0 to {h * w} (the {h}x{w} mask)")
    arr = np.asarray(runs, dtype=np.int64)
    _check_runs(arr, h, w, where)
    return {"size": [h, w], "counts": _encode_counts(arr)}


def decode(rle: Mapping[str, Any]) -> np.ndarray:
    """Compressed RLE -> bool ``(H, W)`` mask. RecordError if the counts do not cover ``H * W``."""
    h, w = (int(v) for v in rle["size"])
    runs = _decode_counts(rle["counts"])
    _check_runs(runs, h, w, "mask")
    flat = np.repeat(np.arange(runs.size) % 2 == 1, runs)
    return flat.reshape((w, h)).T


def area(rle: Mapping[str, Any]) -> int:
    """Foreground pixel count of an RLE mask."""
    return int(_decode_counts(rle["counts"])[1::2].sum())


def bbox(mask: np.ndarray) -> Box | None:
    """Pixel bounds ``(x1, y1, x2, y2)`` (x2/y2 exclusive) of a bool mask; None if it is empty."""
    m = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(m.any(axis=0))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def rle_bbox(rle: Mapping[str, Any]) -> Box | None:
    """:func:`bbox` of an RLE mask."""
    return bbox(decode(rle))


def clip_to_box(mask: np.ndarray, box: Box) -> np.ndarray:
    """The mask's pixels inside the pixel box (rounded outwards to whole pixels)."""
    m = np.asarray(mask, dtype=bool)
    h, w = m.shape
    x1, y1, x2, y2 = _pixel_box(box, w, h)
    out = np.zeros_like(m)
    if x2 > x1 and y2 > y1:
        out[y1:y2, x1:x2] = m[y1:y2, x1:x2]
    return out


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks of the same shape (0 when both are empty)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


# --------------------------------------------------------------------------------------------
# masks held as a window of the image, and masks on other pixel grids


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
    # cut the window to the image
    r0, c0 = max(0, -y0), max(0, -x0)
    r1, c1 = min(win.shape[0], height - y0), min(win.shape[1], width - x0)
    total = height * width
    if r1 <= r0 or c1 <= c0:
        return {"size": [int(height), int(width)], "counts": _encode_counts(np.array([total]))}
    win = win[r0:r1, c0:c1]
    x0, y0 = x0 + c0, y0 + r0
    # runs of 1s per column (column-major, as COCO counts), as [start, end) flat image indices
    cols = np.zeros((win.shape[1], win.shape[0] + 2), dtype=np.int8)
    cols[:, 1:-1] = win.T
    d = np.diff(cols, axis=1)
    sc, sr = np.nonzero(d == 1)
    ec, er = np.nonzero(d == -1)
    starts = (x0 + sc).astype(np.int64) * height + y0 + sr
    ends = (x0 + ec).astype(np.int64) * height + y0 + er
    if starts.size == 0:
        return {"size": [int(height), int(width)], "counts": _encode_counts(np.array([total]))}
    # a run reaching the bottom of a column continues at the top of the next one
    join = ends[:-1] == starts[1:]
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
    as :meth:`autolabel.discovery.refine.PixelMask.sample`).

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
    cols = np.floor((np.arange(x1, x2) + 0.5 - ox) / sx).astype(np.int64)
    rows = np.floor((np.arange(y1, y2) + 0.5 - oy) / sy).astype(np.int64)
    cin = (cols >= 0) & (cols < mw)
    rin = (rows >= 0) & (rows < mh)
    win = np.zeros((y2 - y1, x2 - x1), dtype=bool)
    win[np.ix_(rin, cin)] = m[np.ix_(rows[rin], cols[cin])]
    return _tight(win, x1, y1, height, width)


def _tight(win: np.ndarray, x0: int, y0: int, height: int, width: int) -> tuple[RLE, Box] | None:
    """The pixels of ``win`` (a bool window whose top-left pixel is ``(x0, y0)`` of a ``height`` x
    ``width`` image) as RLE over the image, with their pixel bounds; None when it holds none."""
    b = bbox(win)
    if b is None:
        return None
    bx1, by1, bx2, by2 = (int(v) for v in b)
    rle = encode_window(win[by1:by2, bx1:bx2], x0 + bx1, y0 + by1, height, width)
    return rle, (float(x0 + bx1), float(y0 + by1), float(x0 + bx2), float(y0 + by2))


def _pixel_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """``box`` rounded outwards to whole pixels and cut to the image."""
    return (max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1]))),
            min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3]))))


def crop(rle: Mapping[str, Any], box: Box) -> np.ndarray:
    """The part of an RLE mask inside the pixel ``box`` (rounded outwards to whole pixels, cut to
    the image): a bool ``(rows, cols)`` array in the box's frame, as FiftyOne's
    ``Detection.mask`` holds it. Empty shape if the box holds no pixel of the image."""
    h, w = (int(v) for v in rle["size"])
    x1, y1, x2, y2 = _pixel_box(box, w, h)
    full = decode(rle)
    return full[y1:max(y1, y2), x1:max(x1, x2)].copy()


def clip_rle(rle: Mapping[str, Any], box: Box) -> tuple[RLE, Box] | None:
    """An RLE mask cut to the pixel ``box`` (rounded outwards): ``(rle, bounds)`` of what is left,
    or None when nothing of the mask lies in the box."""
    h, w = (int(v) for v in rle["size"])
    x1, y1, x2, y2 = _pixel_box(box, w, h)
    if x2 <= x1 or y2 <= y1:
        return None
    return _tight(decode(rle)[y1:y2, x1:x2], x1, y1, h, w)
