"""zlib streams made from runs: zlib inflates them to the same bytes, with the right checksum."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from autolabel.formats import deflate


def _bytes(values, lengths) -> bytes:
    return np.repeat(np.asarray(values, np.uint8), lengths).tobytes()


@pytest.mark.parametrize("seed", range(6))
def test_zlib_inflates_random_runs_to_their_bytes(seed):
    rng = np.random.default_rng(seed)
    for longest in (3, 10, 300, 3_000, 100_000):
        k = int(rng.integers(1, 60))
        values = rng.integers(0, 256 if seed % 2 else 4, k)
        lengths = rng.integers(1, longest, k)
        data = zlib.decompress(deflate.zlib_runs(values, lengths))  # checks the Adler-32 too
        assert data == _bytes(values, lengths)


@pytest.mark.parametrize("length", [1, 2, 3, 4, 257, 258, 259, 260, 261, 516, 517, 518, 258 * 30 + 2, 300_001])
def test_every_tail_of_a_run(length):
    """The literal, the full copies, and the rest: no copy, 1-2 literals, or one shorter copy."""
    for values, lengths in (([7], [length]), ([0, 255, 0], [length, length, 1])):
        assert zlib.decompress(deflate.zlib_runs(values, lengths)) == _bytes(values, lengths)


def test_one_value_and_all_256_values():
    assert zlib.decompress(deflate.zlib_runs([0], [1])) == b"\0"
    values = np.arange(256)
    assert zlib.decompress(deflate.zlib_runs(values, np.ones(256, int))) == bytes(range(256))
    lengths = np.arange(1, 257) * 37
    assert zlib.decompress(deflate.zlib_runs(values, lengths)) == _bytes(values, lengths)


def _fibonacci(n: int) -> list[int]:
    out = [1, 1]
    while len(out) < n:
        out.append(out[-1] + out[-2])
    return out


def test_skewed_counts_keep_codes_within_15_bits():
    """Counts that grow like Fibonacci's numbers: Huffman alone gives codes of 21 bits."""
    fib = np.array(_fibonacci(22))
    lengths = deflate.huffman_lengths(fib, 15)
    assert lengths.min() >= 1 and lengths.max() <= 15 and np.sum(2.0 ** -lengths) == 1.0  # limited, complete
    values = np.repeat(np.arange(22), fib)  # literal counts 1, 1, 2, ..., 17711: runs of one byte
    assert zlib.decompress(deflate.zlib_runs(values, np.ones(values.size, int))) == values.astype(np.uint8).tobytes()


def test_huffman_lengths_of_one_symbol_make_a_complete_code():
    lengths = deflate.huffman_lengths(np.array([0, 0, 5, 0]), 7)
    assert sorted(lengths.tolist()) == [0, 0, 1, 1] and lengths[2] == 1


def test_adler32_in_closed_form_equals_zlibs():
    rng = np.random.default_rng(11)
    for _ in range(50):
        k = int(rng.integers(1, 40))
        values, lengths = rng.integers(0, 256, k), rng.integers(1, 200_000, k)
        assert deflate.adler32_runs(values, lengths) == zlib.adler32(_bytes(values, lengths))


@pytest.mark.parametrize("values,lengths", [([], []), ([1, 2], [3]), ([1], [0]), ([256], [1]), ([-1], [1])])
def test_bad_runs_are_refused(values, lengths):
    with pytest.raises(ValueError, match="runs need"):
        deflate.zlib_runs(np.array(values, dtype=np.int64), np.array(lengths, dtype=np.int64))
