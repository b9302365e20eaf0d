"""Palette PNG files written straight from index images (what VOC's segmentation PNGs are).

An 8-bit palette PNG is its chunks ``IHDR`` (colour type 3), ``PLTE``, ``IDAT`` and ``IEND``;
``IDAT`` is the zlib stream of the scanlines, each one a filter-type byte followed by the row's
indices. :func:`scanlines` gives an index image with that byte already in place (column 0,
filter 0: none), so a painter fills ``out[:, 1:]`` and :func:`write_palette_png` hands the
buffer to zlib as it is: no copy of the image, no per-row work in Python.

Compression: zlib's run-length strategy (``Z_RLE``). An index image is long runs of one value;
the strategy finds them at a byte's distance, which packs such images smaller than the default
strategy in a fraction of its time. zlib releases the GIL while it compresses, so PNGs written
on worker threads compress on several cores.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

from autolabel.formats import deflate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The 8 bytes every PNG file starts with."""

MAX_RUNS = 1 << 18
"""Most runs :func:`palette_png_runs` compresses from the runs (about 500 bytes of
temporary arrays a run, so at most about 130 MB); an image of more runs (speckle) is laid out
and given to zlib, which needs its bytes (``H * (W + 1)``) instead. The index images of large
photos have tens of thousands."""


def scanlines(height: int, width: int) -> np.ndarray:
    """A zeroed ``uint8 (height, width + 1)`` buffer: column 0 is each scanline's filter byte
    (0, none), columns ``1 .. width`` the image's indices (0, background); see the module doc."""
    return np.zeros((height, width + 1), np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def palette_png_bytes(lines: np.ndarray, palette: Sequence[tuple[int, int, int]]) -> bytes:
    """The PNG file of the index image in ``lines`` (a :func:`scanlines` buffer, C-contiguous,
    filter bytes 0) with ``palette`` (index -> ``(r, g, b)``, at most 256 entries).

    Raises:
        ValueError: ``lines`` is not a C-contiguous ``uint8 (H, W + 1)`` array with ``H, W >= 1``,
            or the palette is empty or longer than 256.
    """
    if lines.dtype != np.uint8 or lines.ndim != 2 or not lines.flags.c_contiguous or min(lines.shape) < 1 \
            or lines.shape[1] < 2:
        raise ValueError(f"scanlines must be a C-contiguous uint8 (H, W + 1) array, got {lines.dtype} {lines.shape}")
    height, width = lines.shape[0], lines.shape[1] - 1
    z = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    return _png(width, height, palette, z.compress(lines) + z.flush())


def palette_png_runs(values: np.ndarray, lengths: np.ndarray, width: int, height: int,
                     palette: Sequence[tuple[int, int, int]]) -> bytes:
    """The PNG file of the ``width x height`` index image whose scanlines (each a filter byte 0,
    then the row's indices) are the runs ``values[k]`` x ``lengths[k]``: compressed from the
    runs (:func:`autolabel.formats.deflate.zlib_runs`), never laid out as bytes.

    Raises:
        ValueError: the runs do not add up to ``height * (width + 1)`` bytes, a run is empty or
            a value is not an index (0-255), or the palette is empty or longer than 256.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if width < 1 or height < 1 or int(lengths.sum()) != height * (width + 1):
        raise ValueError(f"runs of {int(lengths.sum())} bytes are not the scanlines of a {width} x {height} image")
    if lengths.size > MAX_RUNS:  # as many runs as a noise image: its bytes take less memory than its symbols
        lines = np.repeat(np.asarray(values, dtype=np.uint8), lengths).reshape(height, width + 1)
        return palette_png_bytes(lines, palette)
    return _png(width, height, palette, deflate.zlib_runs(values, lengths))


def _png(width: int, height: int, palette: Sequence[tuple[int, int, int]], idat: bytes) -> bytes:
    if not 1 <= len(palette) <= 256:
        raise ValueError(f"a PNG palette holds 1 to 256 colours, got {len(palette)}")
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8 bits, palette, deflate, filters, no interlace
    plte = bytes(v for rgb in palette for v in rgb)
    return b"".join((PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"PLTE", plte), _chunk(b"IDAT", idat),
                     _chunk(b"IEND", b"")))
