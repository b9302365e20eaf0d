"""Palette PNGs written from scanline buffers: PIL reads back the same indices and palette."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from autolabel.formats import indexpng
from autolabel.formats.voc import voc_colormap


@pytest.mark.parametrize("height,width", [(1, 1), (3, 7), (40, 33)])
def test_pil_reads_back_the_indices_and_the_palette(height, width):
    rng = np.random.default_rng(height * width)
    lines = indexpng.scanlines(height, width)
    assert lines.shape == (height, width + 1) and not lines.any()
    lines[:, 1:] = rng.integers(0, 256, (height, width))
    lines[: height // 2, 1:] = 3  # runs, what Z_RLE is for
    palette = voc_colormap()
    img = Image.open(io.BytesIO(indexpng.palette_png_bytes(lines, palette)))
    img.load()
    assert img.mode == "P" and img.size == (width, height)
    assert np.array_equal(np.asarray(img), lines[:, 1:])
    assert img.getpalette() == [v for rgb in palette for v in rgb]


def test_the_file_is_signature_header_palette_data_end():
    lines = indexpng.scanlines(2, 3)
    lines[1, 1:] = [1, 2, 1]
    data = indexpng.palette_png_bytes(lines, [(0, 0, 0), (128, 0, 0), (0, 128, 0)])
    assert data.startswith(indexpng.PNG_SIGNATURE)
    chunks, at = [], len(indexpng.PNG_SIGNATURE)
    while at < len(data):
        (n,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + n]
        assert struct.unpack(">I", data[at + 8 + n:at + 12 + n])[0] == zlib.crc32(kind + body)
        chunks.append((kind, body))
        at += 12 + n
    assert [k for k, _ in chunks] == [b"IHDR", b"PLTE", b"IDAT", b"IEND"]
    assert chunks[0][1] == struct.pack(">IIBBBBB", 3, 2, 8, 3, 0, 0, 0)
    assert zlib.decompress(chunks[2][1]) == bytes([0, 0, 0, 0, 0, 1, 2, 1])  # filter byte 0 per row


def test_bad_buffers_and_palettes_are_refused():
    with pytest.raises(ValueError, match="C-contiguous uint8"):
        indexpng.palette_png_bytes(np.zeros((3, 4), np.int32), [(0, 0, 0)])
    with pytest.raises(ValueError, match="C-contiguous uint8"):
        indexpng.palette_png_bytes(indexpng.scanlines(4, 6)[:, ::2], [(0, 0, 0)])
    with pytest.raises(ValueError, match="C-contiguous uint8"):
        indexpng.palette_png_bytes(np.zeros((3, 1), np.uint8), [(0, 0, 0)])
    with pytest.raises(ValueError, match="1 to 256 colours"):
        indexpng.palette_png_bytes(indexpng.scanlines(2, 2), [])


def test_images_of_very_many_runs_are_laid_out_for_zlib(monkeypatch):
    rng = np.random.default_rng(5)
    lines = indexpng.scanlines(30, 41)
    lines[:, 1:] = (rng.random((30, 41)) < 0.5) * rng.integers(1, 4, (30, 41))
    flat = lines.ravel()
    first = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    values, lengths = flat[first], np.diff(np.append(first, flat.size))
    palette = voc_colormap()
    from_runs = indexpng.palette_png_runs(values, lengths, 41, 30, palette)
    monkeypatch.setattr(indexpng, "MAX_RUNS", values.size - 1)
    laid_out = indexpng.palette_png_runs(values, lengths, 41, 30, palette)
    assert laid_out == indexpng.palette_png_bytes(lines, palette) != from_runs
    for data in (from_runs, laid_out):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), lines[:, 1:])
    with pytest.raises(ValueError, match="not the scanlines of a 41 x 29 image"):
        indexpng.palette_png_runs(values, lengths, 41, 29, palette)
