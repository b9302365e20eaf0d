"""COCO run-length encoding (RLE) of whole masks, in pure numpy: the codec and what works on a
whole ``(H, W)`` mask (:mod:`autolabel.masks.window` works on an object's window instead).

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
    """Run lengths -> the compressed counts string (vectorised: one pass per 5-bit group, not
    per run; the same characters as pycocotools' ``rleToString``)."""
    counts = np.asarray(runs, dtype=np.int64)
    if counts.size == 0:
        return ""
    x = counts.copy()
    x[3:] -= counts[1:-2]  # from the fourth count on, the difference to the count two before
    groups: list[np.ndarray] = []
    valid: list[np.ndarray] = []
    active = np.ones(x.size, dtype=bool)
    while active.any():
        c = x & 0x1F
        x = x >> 5  # arithmetic shift: negative values keep their sign
        more = active & np.where(c & 0x10, x != -1, x != 0)
        groups.append(np.where(more, c | 0x20, c) + 48)
        valid.append(active)
        active = more
    chars = np.stack(groups, axis=1)[np.stack(valid, axis=1)]  # each number's groups, in order
    return chars.astype(np.uint8).tobytes().decode("ascii")


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


def _pixel_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """``box`` rounded outwards to whole pixels and cut to the image."""
    return (max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1]))),
            min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3]))))
