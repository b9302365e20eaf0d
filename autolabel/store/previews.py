"""Draw an image's boxes, labels and scores (the optional ``previews/`` of a run).

A preview has the image's own relative path and name under ``RUN/previews/`` (``a/x.jpg`` ->
``previews/a/x.jpg``, ``b.png`` -> ``previews/b.png``), in the format its extension names, so
two images never share a preview and each is found where its image is.

Every label (``"<label> <score>"`` on the box's colour) lies wholly inside the preview and no
label covers another: each goes just above its box, else inside its top edge, else below it,
else inside its bottom edge, else the nearest free place below; a label wider than the image is
shortened with an ellipsis. Instance masks (when the run has them) are painted first, each in
its box's colour at :data:`MASK_ALPHA` opacity, then the boxes, then the labels on top.

:func:`draw_missing_previews` draws, from a run's stored records, the previews it lacks (say,
``--previews`` given only after the run was done): each image decoded once, no model needed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath
from typing import Iterable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from autolabel.masks import decode
from autolabel.types import ImageAnnotations

log = logging.getLogger(__name__)

_COLOURS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60))
_PAD = 2
"""Pixels between a label's text and the edge of its background."""

MASK_ALPHA = 0.45
"""Opacity of a mask's colour over the image (the object stays visible under it)."""

Rect = tuple[int, int, int, int]
"""``(x1, y1, x2, y2)`` integer pixels, ``x2``/``y2`` exclusive."""


MIN_PREVIEW_SIDE = 96
"""Shorter side of a preview canvas, in pixels, at least (a thin image is padded to it)."""
THIN_ASPECT = 4
"""An image this many times longer than it is wide (or the reverse) is thin (see :func:`_padded`)."""
_BAND = (64, 64, 64)
"""Colour of the padding around a thin image."""


def preview_path(previews_dir: Path, rel_path: str) -> Path:
    """Where the preview of the image at POSIX ``rel_path`` goes: the same relative path."""
    return Path(previews_dir).joinpath(*PurePosixPath(rel_path).parts)


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(canvas: tuple[int, int], boxes: list[tuple[float, float, float, float]],
                 sizes: list[tuple[int, int]]) -> list[Rect]:
    """Background rectangles for the labels of ``boxes``, inside ``canvas`` and not overlapping.

    Args:
        canvas: ``(width, height)`` of the preview in pixels.
        boxes: pixel ``(x1, y1, x2, y2)`` of each box on the preview.
        sizes: ``(width, height)`` of each label's background (text plus padding); a width over
            the canvas width is cut to it (the caller shortens the text to fit).

    Returns:
        One rectangle per box, in order. Labels never overlap each other while the canvas has
        room; when it has none the last labels stack at the bottom edge.
    """
    W, H = canvas
    placed: list[Rect] = []
    for (x1, y1, _x2, y2), (w, h) in zip(boxes, sizes):
        w, h = min(w, W), min(h, H)
        left = int(min(max(0, round(x1)), W - w))
        top = int(min(max(0, round(y1)), H - h))

        def free(x: int, y: int, w: int = w, h: int = h) -> Rect | None:
            r = (x, y, x + w, y + h)
            return None if any(_overlaps(r, q) for q in placed) else r

        preferred = [round(y1) - h, round(y1), round(y2), round(y2) - h]  # above, inside top, below, inside bottom
        rows = sorted(range(H - h + 1), key=lambda y: abs(y - top))
        tries = ((left, int(min(max(0, y), H - h))) for y in preferred)
        column = ((left, y) for y in rows)
        anywhere = ((x, y) for y in rows[:: max(1, h)] for x in sorted(range(0, W - w + 1, 8), key=lambda x: abs(x - left)))
        rect = next((r for xy in (*tries, *column, *anywhere) if (r := free(*xy))), None)
        placed.append(rect or (left, H - h, left + w, H))  # no room anywhere: stack at the bottom
    return placed


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, max_width: int) -> str:
    """``text``, shortened with an ellipsis until it is at most ``max_width`` pixels wide."""
    if draw.textlength(text, font=font) <= max_width:
        return text
    while text and draw.textlength(text + "…", font=font) > max_width:
        text = text[:-1]
    return text + "…" if text else ""


def paint_masks(canvas: Image.Image, record: ImageAnnotations, alpha: float = MASK_ALPHA) -> Image.Image:
    """``canvas`` (the image at any size, RGB) with each detection's mask blended in its colour.

    A canvas pixel takes the mask value under its centre (nearest sampling from the image's
    ``record.width x record.height`` frame). Detections without a mask are skipped; returns a
    new image (``canvas`` itself when no detection has a mask).
    """
    if not any(d.mask is not None for d in record.detections):
        return canvas
    arr = np.asarray(canvas.convert("RGB"), dtype=np.float32).copy()
    ch, cw = arr.shape[:2]
    sx, sy = record.width / cw, record.height / ch
    for i, det in enumerate(record.detections):
        if det.mask is None:
            continue
        full = decode(det.mask)
        rows, cols = np.nonzero(full.any(axis=1))[0], np.nonzero(full.any(axis=0))[0]
        if rows.size == 0:
            continue
        # canvas pixels whose centres fall in the mask's bounds
        x1, x2 = int(np.floor(cols[0] / sx)), min(cw, int(np.ceil((cols[-1] + 1) / sx)))
        y1, y2 = int(np.floor(rows[0] / sy)), min(ch, int(np.ceil((rows[-1] + 1) / sy)))
        src_c = np.minimum(((np.arange(x1, x2) + 0.5) * sx).astype(np.int64), record.width - 1)
        src_r = np.minimum(((np.arange(y1, y2) + 0.5) * sy).astype(np.int64), record.height - 1)
        on = full[np.ix_(src_r, src_c)]
        win = arr[y1:y2, x1:x2]
        win[on] = win[on] * (1.0 - alpha) + np.asarray(_COLOURS[i % len(_COLOURS)], np.float32) * alpha
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")


def _padded(canvas: Image.Image, min_side: int) -> Image.Image:
    """A thin ``canvas`` (its longer side at least :data:`THIN_ASPECT` times its shorter, which
    is under ``min_side`` px: a 20000 x 20 strip shrunk to 1024 x 1) at the top-left of a grey
    canvas at least ``min_side`` px on each side, so its boxes' labels have room; any other
    canvas as it is."""
    w, h = canvas.size
    if min(w, h) >= min_side or max(w, h) < THIN_ASPECT * min(w, h):
        return canvas  # big enough, or a small image that is not thin: drawn as it is
    out = Image.new("RGB", (max(w, min_side), max(h, min_side)), _BAND)
    out.paste(canvas, (0, 0))
    return out


def draw_preview(image: Image.Image, record: ImageAnnotations, max_side: int = 1024) -> Image.Image:
    """A copy of ``image`` (RGB, displayed orientation) at most ``max_side`` px on its longer
    side: masks painted translucent (:func:`paint_masks`), boxes drawn over them, labels on top.
    A thin image whose shorter side comes out under :data:`MIN_PREVIEW_SIDE` px is drawn at the
    top-left of a grey canvas that size, so its labels have room below or beside it."""
    scale = min(1.0, max_side / max(image.size))
    canvas = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale)))) if scale < 1 else image.copy()
    canvas = _padded(paint_masks(canvas, record), min(MIN_PREVIEW_SIDE, max_side))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    width = max(2, round(max(canvas.size) / 300))
    boxes, texts, sizes = [], [], []
    for i, det in enumerate(record.detections):
        x1, y1, x2, y2 = (v * scale for v in det.box)
        draw.rectangle((x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)), outline=_COLOURS[i % len(_COLOURS)], width=width)
        text = _fit(draw, f"{det.label} {det.score:.2f}", font, canvas.width - 2 * _PAD)
        tb = draw.textbbox((0, 0), text, font=font)
        boxes.append((x1, y1, x2, y2))
        texts.append(text)
        sizes.append((tb[2] - min(0, tb[0]) + 2 * _PAD, tb[3] - min(0, tb[1]) + 2 * _PAD))
    for i, (rect, text) in enumerate(zip(place_labels(canvas.size, boxes, sizes), texts)):
        draw.rectangle((rect[0], rect[1], rect[2] - 1, rect[3] - 1), fill=_COLOURS[i % len(_COLOURS)])
        draw.text((rect[0] + _PAD, rect[1] + _PAD), text, fill=(255, 255, 255), font=font)
    return canvas


def save_preview(previews_dir: Path, image: Image.Image, record: ImageAnnotations) -> bool:
    """Draw ``record`` on ``image`` (decoded, displayed orientation) into its preview file.

    Returns:
        True if written; False (and a logged warning) if the file could not be written.
    """
    target = preview_path(previews_dir, record.path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        draw_preview(image, record).save(target, quality=85)
    except OSError as e:
        log.warning("could not write preview %s: %s", target, e)
        return False
    return True


def draw_missing_previews(previews_dir: Path, root: str | os.PathLike[str], records: Iterable[ImageAnnotations],
                          *, max_pixels: int = 200_000_000) -> tuple[int, int]:
    """Draw the previews of ``records`` that ``previews_dir`` lacks, from the records alone.

    Args:
        previews_dir: the run's ``previews/`` folder.
        root: the image root the records' paths are relative to.
        records: the run's stored records (boxes in the displayed frame).
        max_pixels: the decompression-bomb limit for decoding.

    Returns:
        ``(drawn, failed)``: previews written now, and images that could not be decoded or
        written any more (each logged as a warning).
    """
    from autolabel.errors import ImageError
    from autolabel.images import decode_image

    drawn = failed = 0
    for record in records:
        if preview_path(previews_dir, record.path).is_file():
            continue
        try:
            decoded = decode_image(root, record.path, max_pixels=max_pixels)
        except ImageError as e:
            log.warning("no preview for %s: %s", record.path, e.reason)
            failed += 1
            continue
        if (decoded.width, decoded.height) != (record.width, record.height):
            log.warning("%s is now %dx%d, the run has it as %dx%d; its preview may not match", record.path,
                        decoded.width, decoded.height, record.width, record.height)
        if save_preview(previews_dir, decoded.image, record):
            drawn += 1
        else:
            failed += 1
    return drawn, failed
