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
        taken = set(used.tolist())
        extra = [s for s in range(freq.size) if s not in taken][: 2 - used.size]
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
    """The bit fields ``values[k]`` of ``nbits[k]`` bits (at most 57), least significant first,
    one after another, padded with 0 bits to a whole byte."""
    offset = np.cumsum(nbits) - nbits
    total = int(offset[-1] + nbits[-1]) if nbits.size else 0
    words = np.zeros(total // 64 + 2, dtype=np.uint64)
    v = values.astype(np.uint64)
    word, shift = offset >> 6, (offset & 63).astype(np.uint64)
    # each field lands in its word, and what passes the word's top in the next one; fields in
    # one word do not overlap, so OR-ing them (in runs of one word: offsets only grow) joins them
    low = v << shift
    high = np.where(shift > 0, v >> (np.uint64(64) - np.maximum(shift, np.uint64(1))), np.uint64(0))
    for part, at in ((low, word), (high, word + 1)):
        first = np.flatnonzero(np.concatenate(([True], at[1:] != at[:-1])))
        words[at[first]] |= np.bitwise_or.reduceat(part, first)
    return words.astype("<u8").tobytes()[: (total + 7) // 8]


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

    # four bit fields a run: its literal; the full copies that do not fill a group; the groups
    # (`group` full copies in one field: they are all the same bits; one field per group); the
    # tail (one copy, or 0-2 literals). Fields of 0 bits add nothing.
    step = int(match_bits[-1])
    group = max(1, 48 // step)
    repeated = np.array([sum(int(match_val[-1]) << (i * step) for i in range(m)) for m in range(group + 1)])
    groups, left = full // group, full % group
    lit_v, lit_b = lit_code[v], lit_len[v]
    tail_at = np.maximum(tail - 3, 0)
    tail_v = np.where(short, match_val[tail_at], np.where(tail_lits >= 1, lit_v, 0) | np.where(tail_lits == 2, lit_v << lit_b, 0))
    tail_b = np.where(short, match_bits[tail_at], lit_b * tail_lits)
    field_v = np.stack((lit_v, repeated[left], np.full(v.size, repeated[group]), tail_v), axis=1).ravel()
    field_b = np.stack((lit_b, left * step, np.full(v.size, group * step), tail_b), axis=1).ravel()
    times = np.stack((np.ones_like(groups), np.ones_like(groups), groups, np.ones_like(groups)), axis=1).ravel()
    vals, bits = np.repeat(field_v, times), np.repeat(field_b, times)

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
