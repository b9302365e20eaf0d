"""A zlib stream (RFC 1950 / 1951) made straight from runs of equal bytes, without the bytes.

What an index image's PNG needs: its scanlines are long runs of one value (background, an
object), given by the masks' runs. zlib would read every byte of the image, tens of megabytes
for a large photo; here the work follows the number of runs and the stream's length (about one
symbol per 258 bytes), never the bytes themselves.

Encoding: one final block with dynamic Huffman codes. Each run is its value as a literal, then
copies of the byte before (distance 1) of 258 bytes, and what is left as one shorter copy (3
to 257 bytes) or one or two literals. Code lengths are Huffman's, limited to 15 bits (the code
length code to 7) by halving the counts until they fit; every code is complete, so any inflater
takes it. The Adler-32 checksum is computed from the runs in closed form.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

MAX_MATCH = 258
"""Longest copy deflate encodes (one symbol, no extra bits)."""
_LEN_BASE = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163,
             195, 227, 258)
_LEN_EXTRA = (0,) * 8 + (1,) * 4 + (2,) * 4 + (3,) * 4 + (4,) * 4 + (5,) * 4 + (0,)
_CL_ORDER = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)
_ADLER_MOD = 65521


def huffman_lengths(freq: np.ndarray, max_bits: int) -> np.ndarray:
    """Code lengths (``int64``, 0 for unused symbols) of a Huffman code for the counts ``freq``,
    none longer than ``max_bits``; the code is complete (a symbol used alone gets a partner of
    length 1: the first unused symbol)."""
    freq = np.asarray(freq, dtype=np.int64).copy()
    used = np.flatnonzero(freq)
    if used.size < 2:
        extra = [s for s in range(freq.size) if s not in set(used.tolist())][: 2 - used.size]
        freq[extra] = 1
        used = np.flatnonzero(freq)
    while True:
        lengths = np.zeros(freq.size, dtype=np.int64)
        tie = itertools.count()
        heap = [(int(freq[s]), next(tie), [int(s)]) for s in used]
        heapq.heapify(heap)
        while len(heap) > 1:
            fa, _, a = heapq.heappop(heap)
            fb, _, b = heapq.heappop(heap)
            lengths[a + b] += 1
            heapq.heappush(heap, (fa + fb, next(tie), a + b))
        if lengths.max() <= max_bits:
            return lengths
        freq[used] = np.maximum(freq[used] >> 1, 1)


def _codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical codes (RFC 1951 3.2.2) of ``lengths``, bit-reversed: deflate packs bits from
    the least significant end but reads a Huffman code from its first (most significant) bit."""
    codes = np.zeros(lengths.size, dtype=np.int64)
    code = 0
    for bits in range(1, int(lengths.max()) + 1):
        for s in np.flatnonzero(lengths == bits):
            codes[s] = int(format(code, f"0{bits}b")[::-1], 2)
            code += 1
        code <<= 1
    return codes


def _pack(values: np.ndarray, nbits: np.ndarray) -> bytes:
    """The bit fields ``values[k]`` of ``nbits[k]`` bits (at most 56), least significant first,
    one after another, padded with 0 bits to a whole byte."""
    offset = np.cumsum(nbits) - nbits
    total = int(offset[-1] + nbits[-1]) if nbits.size else 0
    size = (total + 7) // 8
    first = offset >> 3
    shifted = (values << (offset & 7)).astype(np.uint64)
    out = np.zeros(size + 8, dtype=np.float64)
    for k in range(8):  # fields do not overlap: adding their bytes is OR-ing them
        part = ((shifted >> np.uint64(8 * k)) & np.uint64(255)).astype(np.float64)
        out += np.bincount(first + k, weights=part, minlength=size + 8)[: size + 8]
    return out[:size].astype(np.uint8).tobytes()


def adler32_runs(values: np.ndarray, lengths: np.ndarray) -> int:
    """Adler-32 (RFC 1950) of the bytes ``values[k]`` repeated ``lengths[k]`` times, in closed form."""
    v, n = np.asarray(values, dtype=np.int64), np.asarray(lengths, dtype=np.int64)
    vn = (v * n) % _ADLER_MOD
    a_before = (1 + np.cumsum(vn) - vn) % _ADLER_MOD  # A before each run
    # B grows by A after each byte of a run: n * A + v * n * (n + 1) / 2
    half = np.where(n % 2 == 0, (n // 2) % _ADLER_MOD * ((n + 1) % _ADLER_MOD), n % _ADLER_MOD * (((n + 1) // 2) % _ADLER_MOD))
    b = int((((n % _ADLER_MOD) * a_before) % _ADLER_MOD + (v * (half % _ADLER_MOD)) % _ADLER_MOD).sum()) % _ADLER_MOD
    a = int((1 + vn.sum()) % _ADLER_MOD)
    return (b << 16) | a


def zlib_runs(values: np.ndarray, lengths: np.ndarray) -> bytes:
    """The zlib stream of the bytes ``values[k]`` (0-255) repeated ``lengths[k]`` (>= 1) times;
    ``zlib.decompress`` gives the bytes back.

    Raises:
        ValueError: no runs, a length below 1, a value outside 0-255, or arrays of two sizes.
    """
    v, n = np.asarray(values, dtype=np.int64).ravel(), np.asarray(lengths, dtype=np.int64).ravel()
    if v.size == 0 or v.size != n.size or n.min() < 1 or v.min() < 0 or v.max() > 255:
        raise ValueError("runs need as many values (0-255) as lengths (>= 1), at least one")
    rest = n - 1  # after the literal that starts each run
    full, tail = rest // MAX_MATCH, rest % MAX_MATCH
    short = tail >= 3  # the tail is one copy, else 0-2 literals
    tail_lits = np.where(short, 0, tail)
    len_index = np.searchsorted(_LEN_BASE, np.arange(MAX_MATCH + 1), side="right") - 1  # length -> code index
    lit_freq = np.bincount(v, weights=1 + tail_lits, minlength=256).astype(np.int64)
    len_freq = np.bincount(len_index[tail[short]], minlength=len(_LEN_BASE)).astype(np.int64)
    len_freq[-1] += int(full.sum())
    freq = np.concatenate((lit_freq, [1], len_freq))  # 256: end of block
    lit_len = huffman_lengths(freq, 15)
    lit_code = _codes(lit_len)
    dist_len, dist_code = np.array([1, 1]), np.array([0, 1])  # distance 1 (code 0), and a partner

    # the match symbols: length code + extra bits + distance code 0, one bit field each
    lens = np.arange(3, MAX_MATCH + 1)
    idx = len_index[lens]
    sym = 257 + idx
    extra = np.array(_LEN_EXTRA)[idx]
    match_val = lit_code[sym] | ((lens - np.array(_LEN_BASE)[idx]) << lit_len[sym]) | (dist_code[0] << (lit_len[sym] + extra))
    match_bits = lit_len[sym] + extra + dist_len[0]

    # tokens, run by run: literal, full copies, then the tail (one copy or 0-2 literals)
    count = 1 + full + np.where(short, 1, tail_lits)
    run = np.repeat(np.arange(v.size), count)
    at = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    is_lit = (at == 0) | ((at > full[run]) & ~short[run])
    is_full = ~is_lit & (at <= full[run])
    vals = np.where(is_lit, lit_code[v[run]], np.where(is_full, match_val[-1], match_val[np.maximum(tail[run] - 3, 0)]))
    bits = np.where(is_lit, lit_len[v[run]], np.where(is_full, match_bits[-1], match_bits[np.maximum(tail[run] - 3, 0)]))

    # header: last block, dynamic codes; the code lengths coded with the code length code
    nlit = max(257, int(np.flatnonzero(lit_len)[-1]) + 1)
    seq = np.concatenate((lit_len[:nlit], dist_len))
    cl_len = huffman_lengths(np.bincount(seq, minlength=19), 7)
    cl_code = _codes(cl_len)
    order = [int(cl_len[s]) for s in _CL_ORDER]
    nclen = max(4, max(i for i, x in enumerate(order) if x) + 1)
    head_vals = [1 | (2 << 1), nlit - 257, dist_len.size - 1, nclen - 4, *order[:nclen]]
    head_bits = [3, 5, 5, 4, *([3] * nclen)]
    all_vals = np.concatenate((head_vals, cl_code[seq], vals, [lit_code[256]])).astype(np.int64)
    all_bits = np.concatenate((head_bits, cl_len[seq], bits, [lit_len[256]])).astype(np.int64)
    return b"\x78\x01" + _pack(all_vals, all_bits) + adler32_runs(v, n).to_bytes(4, "big")
