"""Instance masks as COCO run-length encoding (RLE), in pure numpy.

A detection's ``mask`` is stored in the run as COCO's *compressed* RLE of a binary mask over the
whole displayed (EXIF-turned) image, ``{"size": [height, width], "counts": "<ASCII string>"}``,
exactly what ``pycocotools.mask.encode`` writes.

- :mod:`autolabel.masks.rle`: the codec and what works on a whole ``(H, W)`` bool mask
  (:func:`encode`, :func:`decode`, :func:`check_rle`, :func:`from_runs`, :func:`area`, :func:`bbox`);
- :mod:`autolabel.masks.window`: what works on an object's window or its runs, never a
  whole-image array (:func:`from_frame`, :func:`encode_window`, :func:`rle_bounds`,
  :func:`decode_window`, :func:`crop`, :func:`clip_rle`): what the pipeline and the exporters use
  on large photos.

Shapes: masks are ``(H, W)`` bool arrays, ``H`` rows (y) by ``W`` columns (x).
"""

from __future__ import annotations

from autolabel.masks.rle import (
    MAX_GROUPS,
    RLE,
    Box,
    area,
    bbox,
    check_rle,
    clip_to_box,
    decode,
    encode,
    from_runs,
    mask_iou,
)
from autolabel.masks.window import (
    array_segments,
    clip_rle,
    column_segments,
    crop,
    decode_window,
    encode_window,
    foreground_runs,
    from_frame,
    rle_bbox,
    rle_bounds,
    row_runs,
)

__all__ = [
    "MAX_GROUPS", "RLE", "Box", "area", "array_segments", "bbox", "check_rle", "clip_rle", "clip_to_box", "column_segments", "crop", "decode",
    "decode_window", "encode", "encode_window", "foreground_runs", "from_frame", "from_runs", "mask_iou",
    "rle_bbox", "rle_bounds", "row_runs",
]
