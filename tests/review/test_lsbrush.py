"""Label Studio brush RLE: a hand-built stream decodes to its words and mask; Label Studio's own
encoder (label-studio-sdk or label-studio-converter, when a Label Studio venv is there) too."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from autolabel.review.lsbrush import brush_mask, decode_rle
from tests.review.brush_rle import encode_brush, encode_words

REPO = Path(__file__).resolve().parents[2]


def _mask() -> np.ndarray:
    rng = np.random.default_rng(3)
    m = rng.random((23, 37)) < 0.3
    m[5:20, 10:30] = True  # long runs
    m[0, :] = True  # a run across the row end
    return m


def test_a_hand_built_stream_round_trips_every_run_kind():
    words = [7] * 2 + [1, 2, 3] + [0] * 8 + [9] * 9 + [255] * 300 + [4] * 70_000 + list(range(256)) + [5]
    data = encode_words(words)
    assert decode_rle(bytes(data)).tolist() == words
    wide = [0, 1023, 1023, 5, 512]
    assert decode_rle(bytes(encode_words(wide, word_size=10))).tolist() == wide


def test_a_hand_built_brush_is_its_mask():
    m = _mask()
    assert np.array_equal(brush_mask({"format": "rle", "rle": encode_brush(m)}, 37, 23), m)


def test_a_header_for_another_size_or_a_cut_stream_is_refused():
    data = encode_brush(_mask())
    with pytest.raises(ValueError, match="the image needs"):
        brush_mask({"format": "rle", "rle": data}, 36, 23)
    with pytest.raises(ValueError, match="ends early"):
        decode_rle(bytes(data[: len(data) // 2]))
    with pytest.raises(ValueError, match="shorter than its header"):
        decode_rle(b"\x00\x01")


_REFERENCE = """
import json, sys
import numpy as np
try:
    from label_studio_sdk.converter.brush import mask2rle
except ImportError:
    from label_studio_converter.brush import mask2rle
mask = np.array(json.load(sys.stdin), dtype=np.uint8) * 255
print(json.dumps([int(b) for b in mask2rle(mask)]))
"""


def _ls_python() -> Path | None:
    venv = Path(os.environ.get("AUTOLABEL_LS_VENV") or REPO / ".venv-ls")
    py = venv / "bin" / "python"
    return py if py.exists() else None


def test_label_studios_own_encoder_decodes_to_the_mask():
    py = _ls_python()
    if py is None:
        pytest.skip("no Label Studio venv (AUTOLABEL_LS_VENV or <repo>/.venv-ls with label-studio-sdk or "
                    "label-studio-converter): the hand-built streams above cover the format")
    m = _mask()
    run = subprocess.run([str(py), "-c", _REFERENCE], input=json.dumps(m.astype(int).tolist()),
                         capture_output=True, text=True, timeout=120)
    if run.returncode != 0 and "ModuleNotFoundError" in run.stderr:
        pytest.skip(f"{py} has neither label_studio_sdk.converter nor label_studio_converter")
    assert run.returncode == 0, run.stderr[-2000:]
    rle = json.loads(run.stdout)
    assert np.array_equal(brush_mask({"format": "rle", "rle": rle}, 37, 23), m)
