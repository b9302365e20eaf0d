"""A Label Studio brush RLE built by hand, bit by bit, for tests (the layout is in
:mod:`autolabel.review.lsbrush`): repeated runs and literal runs, with every run-length field size."""

from __future__ import annotations

from typing import Sequence

import numpy as np

SIZES = (3, 4, 8, 16)
"""Bits of the four run-length fields (Label Studio's own choice)."""


def _field(value: int, bits: int) -> str:
    assert 0 <= value < 1 << bits, (value, bits)
    return format(value, f"0{bits}b")


def _length(n: int) -> str:
    """The 2-bit size index and the ``n - 1`` field in the smallest size that holds it."""
    k = next(k for k, s in enumerate(SIZES) if n - 1 < 1 << s)
    return _field(k, 2) + _field(n - 1, SIZES[k])


def encode_words(words: Sequence[int], word_size: int = 8) -> list[int]:
    """RLE bytes of ``words``: runs of 2 or more equal words as repeats, the rest as literal runs."""
    w = [int(x) for x in words]
    bits = [_field(len(w), 32), _field(word_size - 1, 5), *(_field(s - 1, 4) for s in SIZES)]
    longest = 1 << SIZES[-1]
    i = 0
    literal: list[int] = []

    def flush() -> None:
        while literal:
            chunk, literal[:] = literal[:longest], literal[longest:]
            bits.append("0" + _length(len(chunk)) + "".join(_field(x, word_size) for x in chunk))

    while i < len(w):
        j = i
        while j < len(w) and w[j] == w[i] and j - i < longest:
            j += 1
        if j - i >= 2:
            flush()
            bits.append("1" + _length(j - i) + _field(w[i], word_size))
        else:
            literal.append(w[i])
        i = j
    flush()
    stream = "".join(bits)
    stream += "0" * (-len(stream) % 8)
    return [int(stream[k:k + 8], 2) for k in range(0, len(stream), 8)]


def encode_brush(mask: np.ndarray) -> list[int]:
    """The ``rle`` of a brush painting ``mask`` (bool ``(H, W)``) the way Label Studio stores it:
    RGBA words per pixel, alpha 255 inside; the colour words vary, so literal runs occur too."""
    m = np.asarray(mask, dtype=bool)
    rgba = np.zeros(m.shape + (4,), dtype=np.uint8)
    rgba[m] = (255, 0, 77, 255)
    return encode_words(rgba.ravel().tolist())
