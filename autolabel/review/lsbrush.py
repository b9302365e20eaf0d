"""Label Studio brush masks (``brushlabels`` regions): its RLE decoded into a bool mask.

A brush region stores the mask as ``value = {"format": "rle", "rle": [b0, b1, ...]}``: the bytes
of a bit stream (most significant bit first) that run-length encodes the *RGBA* pixels of the
image, row by row, 4 words per pixel (thi-ng's ``rle-pack``, which Label Studio's front end and
``label_studio_converter.brush`` use):

=========================  ==========================================================
header                     32 bits ``num`` (number of words, ``4 * W * H``), 5 bits
                           ``word_size - 1``, then four 4-bit ``size - 1`` of the run
                           length fields ``sizes[0..3]``
each chunk                 1 bit ``repeat``, 2 bits ``k``, ``sizes[k]`` bits ``n - 1``:
                           ``repeat = 1``: one ``word_size``-bit word, repeated ``n`` times;
                           ``repeat = 0``: ``n`` words of ``word_size`` bits each
=========================  ==========================================================

The mask is the alpha channel (every fourth word, starting at the fourth): a pixel is set when
its alpha is at least :data:`ALPHA_THRESHOLD` (half opaque; Label Studio writes 0 or 255).

Pure numpy; nothing here knows about runs or detections.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

ALPHA_THRESHOLD = 128
"""A brush pixel is in the mask when its alpha word is at least this (of 255)."""

_HEADER_BITS = 32 + 5 + 4 * 4


class _Bits:
    """Reads unsigned big-endian fields from a bit stream (``bits``: 0/1 uint8 array)."""

    def __init__(self, data: bytes) -> None:
        self.bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        self.text = self.bits.tobytes().translate(bytes.maketrans(b"\x00\x01", b"01")).decode("ascii")
        self.pos = 0

    def read(self, n: int) -> int:
        """The next ``n``-bit field (``n >= 1``)."""
        end = self.pos + n
        if end > len(self.text):
            raise ValueError(f"brush RLE ends early (needs bit {end}, has {len(self.text)})")
        value = int(self.text[self.pos:end], 2)
        self.pos = end
        return value

    def words(self, count: int, size: int) -> np.ndarray:
        """The next ``count`` words of ``size`` bits, as uint32 ``(count,)``."""
        end = self.pos + count * size
        if end > len(self.bits):
            raise ValueError(f"brush RLE ends early (needs bit {end}, has {len(self.bits)})")
        block = self.bits[self.pos:end].reshape(count, size).astype(np.uint32)
        self.pos = end
        weights = np.left_shift(np.uint32(1), np.arange(size - 1, -1, -1, dtype=np.uint32))
        return block @ weights


def decode_rle(data: bytes | bytearray, expected_words: int | None = None) -> np.ndarray:
    """The words that a Label Studio brush RLE encodes.

    Args:
        data: the RLE bytes (``bytes(value["rle"])``).
        expected_words: refuse a stream whose header announces another number of words (checked
            before anything is allocated; pass ``4 * W * H``).

    Returns:
        ``(num,)`` the decoded words (RGBA bytes of the image, row-major): uint8 for words of up
        to 8 bits (Label Studio's), else uint16 or uint32.

    Raises:
        ValueError: a header that is not this format, a stream that ends early or runs past
            ``num``, or ``num != expected_words``.
    """
    bits = _Bits(bytes(data))
    if len(bits.text) < _HEADER_BITS:
        raise ValueError(f"brush RLE is {len(data)} byte(s), shorter than its header")
    num = bits.read(32)
    word_size = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    if expected_words is not None and num != expected_words:
        raise ValueError(f"brush RLE holds {num} words, the image needs {expected_words} (4 per pixel)")
    out = np.zeros(num, dtype=np.uint8 if word_size <= 8 else np.uint16 if word_size <= 16 else np.uint32)
    i = 0
    while i < num:
        repeat = bits.read(1)
        n = bits.read(sizes[bits.read(2)]) + 1
        if i + n > num:
            raise ValueError(f"brush RLE has a run past its {num} words (at word {i}, {n} more)")
        if repeat:
            out[i:i + n] = bits.read(word_size)
        else:
            out[i:i + n] = bits.words(n, word_size)
        i += n
    return out


def brush_mask(value: Mapping[str, Any], width: int, height: int) -> np.ndarray:
    """The bool ``(height, width)`` mask of a ``brushlabels`` region's ``value``.

    Raises:
        ValueError: ``value`` is not ``{"format": "rle", "rle": [bytes 0..255, ...]}`` or its
            RLE does not decode to ``4 * width * height`` words (a mask of another image size).
    """
    fmt = value.get("format", "rle")
    if fmt != "rle":
        raise ValueError(f"brush format must be 'rle', got {str(fmt)[:20]!r}")
    raw = value.get("rle")
    if not isinstance(raw, (list, tuple)) or not all(isinstance(b, int) and not isinstance(b, bool) for b in raw):
        raise ValueError(f"brush 'rle' must be a list of byte values, got {type(raw).__name__}")
    try:
        data = bytes(raw)
    except ValueError:
        raise ValueError("brush 'rle' holds a value outside 0..255") from None
    words = decode_rle(data, expected_words=4 * width * height)
    return words.reshape(height, width, 4)[:, :, 3] >= ALPHA_THRESHOLD
