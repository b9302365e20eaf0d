"""Label Studio's brush RLE: how a ``brushlabels`` region stores its mask.

The mask is an ``(H, W, 4)`` uint8 RGBA image, flattened row-major (``H * W * 4`` values),
run-length coded into a bit stream, most significant bit first, packed into bytes (``rle``:
a list of ints 0..255, the last byte padded with zero bits):

- header: 32 bits the number of values; 5 bits the word size minus one (8 -> ``00111``); four
  times 4 bits the block-length field sizes minus one (``3, 4, 8, 16``);
- blocks until every value is written: 1 bit kind (1: one word repeated, 0: that many words
  follow); 2 bits which of the four field sizes holds the length; the length minus one in
  that many bits; then the word (kind 1) or the words (kind 0), ``word size`` bits each.

This encoder writes only repeated-word blocks (a mask is long runs); Label Studio's frontend
and label-studio-sdk's ``decode_rle`` read both kinds. A pixel of the object is ``255`` in all
four channels, any other ``0``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

WORD_BITS = 8
LENGTH_BITS = (3, 4, 8, 16)
"""The four block-length field sizes, in bits (a block holds at most ``2 ** 16`` values)."""
_MAX_BLOCK = 1 << LENGTH_BITS[-1]


def _value_runs(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, values)`` of the runs of equal values in a 1-D array (non-empty)."""
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], change))
    return starts, flat[starts]


def encode_mask(mask: np.ndarray) -> list[int]:
    """The ``rle`` of a boolean ``(H, W)`` mask (True: the object), as Label Studio stores it.

    Size of the output: about 4 bytes per run of equal pixels in row-major order.
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"expected a non-empty (H, W) mask, got shape {m.shape}")
    # each pixel is 4 equal bytes, so runs of pixels are runs of values 4x as long
    starts, values = _value_runs(m.ravel())
    lengths = np.diff(np.concatenate((starts, [m.size]))) * 4
    total = m.size * 4
    bits: list[str] = [f"{total:032b}", f"{WORD_BITS - 1:05b}", *(f"{n - 1:04b}" for n in LENGTH_BITS)]
    word = {False: "0" * WORD_BITS, True: "1" * WORD_BITS}
    for length, value in zip(lengths.tolist(), values.tolist()):
        while length > 0:
            n = min(length, _MAX_BLOCK)
            size = next(i for i, b in enumerate(LENGTH_BITS) if n <= 1 << b)
            bits.append(f"1{size:02b}{n - 1:0{LENGTH_BITS[size]}b}{word[bool(value)]}")
            length -= n
    stream = "".join(bits)
    stream += "0" * (-len(stream) % 8)
    return list(int(stream, 2).to_bytes(len(stream) // 8, "big"))


def decode_rle(rle: Sequence[int]) -> np.ndarray:
    """The flat uint8 values of a brush ``rle`` (both block kinds), ``H * W * 4`` long.

    Raises:
        ValueError: a header or block that runs past the end of the data.
    """
    data = bytes(int(b) for b in rle)
    stream = "".join(f"{b:08b}" for b in data)
    pos = 0

    def read(n: int) -> int:
        nonlocal pos
        if pos + n > len(stream):
            raise ValueError(f"brush rle ends inside a field (bit {pos} of {len(stream)})")
        v = int(stream[pos:pos + n], 2) if n else 0
        pos += n
        return v

    count = read(32)
    word = read(5) + 1
    sizes = [read(4) + 1 for _ in range(4)]
    out = np.zeros(count, dtype=np.uint8)
    i = 0
    while i < count:
        repeated = read(1)
        n = read(sizes[read(2)]) + 1
        if repeated:
            out[i:i + n] = read(word)
        else:
            for k in range(min(n, count - i)):
                out[i + k] = read(word)
        i += n
    return out


def brush_value(mask: np.ndarray, label: str) -> dict[str, Any]:
    """A ``brushlabels`` region ``value``: ``{"format": "rle", "rle": [...], "brushlabels": [label]}``."""
    return {"format": "rle", "rle": encode_mask(mask), "brushlabels": [label]}
