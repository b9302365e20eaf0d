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


def _decode_counts(s: str) -> list[int]:
    counts: list[int] = []
    p = 0
    n = len(s)
    while p < n:
        x = 0
        k = 0
        more = True
        while more:
            if p >= n:
                raise RecordError("mask RLE counts end in the middle of a number")
            c = ord(s[p]) - 48
            if c < 0 or c > 63:
                raise RecordError(f"mask RLE counts hold a character outside the encoding: {s[p]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


# --------------------------------------------------------------------------------------------
# public API


def encode(mask: np.ndarray) -> RLE:
    """Bool ``(H, W)`` mask -> compressed RLE ``{"size": [H, W], "counts": str}``."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"a mask is (H, W), got shape {m.shape}")
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": _encode_counts(_runs(m))}


def check_rle(obj: Any, where: str = "mask") -> RLE:
    """Validate a stored RLE; returns it as a plain dict. Raises RecordError saying what is wrong."""
    if not isinstance(obj, Mapping):
        raise RecordError(f"{where} must be a COCO RLE object {{'size': [h, w], 'counts': str}}, got {type(obj).__name__}")
    size = obj.get("size")
    counts = obj.get("counts")
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise RecordError(f"{where}: size must be [height, width] of positive ints, got {size!r}")
    if not isinstance(counts, str):
        raise RecordError(f"{where}: counts must be a compressed RLE string, got {type(counts).__name__}")
    runs = _decode_counts(counts)
    if any(v < 0 for v in runs) or sum(runs) != size[0] * size[1]:
        raise RecordError(f"{where}: counts do not cover a {size[0]}x{size[1]} image")
    return {"size": [int(size[0]), int(size[1])], "counts": counts}


def decode(rle: Mapping[str, Any]) -> np.ndarray:
    """Compressed RLE -> bool ``(H, W)`` mask."""
    h, w = (int(v) for v in rle["size"])
    runs = _decode_counts(rle["counts"])
    flat = np.zeros(h * w, dtype=bool)
    pos = 0
    for i, n in enumerate(runs):
        if i % 2:
            flat[pos:pos + n] = True
        pos += n
    return flat.reshape((w, h)).T


def area(rle: Mapping[str, Any]) -> int:
    """Foreground pixel count of an RLE mask."""
    return int(sum(_decode_counts(rle["counts"])[1::2]))


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
    x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
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
