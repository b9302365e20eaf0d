"""Label Studio's brush RLE: what we write decodes to the mask, in the documented layout."""

from __future__ import annotations

import numpy as np
import pytest

from autolabel.integrations.labelstudio.brush import brush_value, decode_rle, encode_mask


def _rgba(mask: np.ndarray) -> np.ndarray:
    return (np.repeat(mask.astype(np.uint8)[..., None], 4, axis=2) * 255).ravel()


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (48, 64), (300, 500)])
def test_round_trip(shape):
    rng = np.random.default_rng(sum(shape))
    for mask in (rng.random(shape) > 0.5, np.zeros(shape, bool), np.ones(shape, bool)):
        assert np.array_equal(decode_rle(encode_mask(mask)), _rgba(mask))


def test_runs_longer_than_a_block_are_split():
    mask = np.ones((300, 400), bool)  # 480,000 values: more than one 2**16 block
    rle = encode_mask(mask)
    assert np.array_equal(decode_rle(rle), _rgba(mask))
    assert len(rle) < 100


def test_header_and_first_block_by_hand():
    # 1x2 mask [1, 0]: 8 values = 4 x 255 then 4 x 0
    bits = "".join(f"{b:08b}" for b in encode_mask(np.array([[True, False]])))
    assert bits[:32] == f"{8:032b}"                 # number of values
    assert bits[32:37] == "00111"                   # word size 8
    assert bits[37:53] == "0010" "0011" "0111" "1111"  # field sizes 3, 4, 8, 16
    assert bits[53:67] == "1" "00" "011" "11111111"   # repeated, 3-bit length field, 4 values, 255
    assert bits[67:81] == "1" "00" "011" "00000000"   # then 4 x 0
    assert set(bits[81:]) <= {"0"} and len(bits) % 8 == 0


def test_value_shape():
    v = brush_value(np.eye(3, dtype=bool), "cat")
    assert v["format"] == "rle" and v["brushlabels"] == ["cat"]
    assert all(isinstance(b, int) and 0 <= b <= 255 for b in v["rle"])


def test_bad_input():
    with pytest.raises(ValueError, match="mask"):
        encode_mask(np.zeros((0, 3), bool))
    with pytest.raises(ValueError, match="ends inside"):
        decode_rle([0, 0])
