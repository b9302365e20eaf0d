"""Draw an image's boxes, labels and scores (the optional ``previews/`` of a run)."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from autolabel.types import ImageAnnotations

_COLOURS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60))


def draw_preview(image: Image.Image, record: ImageAnnotations, max_side: int = 1024) -> Image.Image:
    """A copy of ``image`` (RGB, displayed orientation) at most ``max_side`` px, boxes drawn."""
    scale = min(1.0, max_side / max(image.size))
    canvas = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale)))) if scale < 1 else image.copy()
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    width = max(2, round(max(canvas.size) / 300))
    for i, det in enumerate(record.detections):
        colour = _COLOURS[i % len(_COLOURS)]
        x1, y1, x2, y2 = (v * scale for v in det.box)
        draw.rectangle((x1, y1, x2 - 1, y2 - 1), outline=colour, width=width)
        text = f"{det.label} {det.score:.2f}"
        tb = draw.textbbox((x1, y1), text, font=font)
        ty = y1 - (tb[3] - tb[1]) - 4 if y1 > (tb[3] - tb[1]) + 4 else y1
        draw.rectangle((x1, ty, x1 + tb[2] - tb[0] + 4, ty + tb[3] - tb[1] + 4), fill=colour)
        draw.text((x1 + 2, ty + 1), text, fill=(255, 255, 255), font=font)
    return canvas
