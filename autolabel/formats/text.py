"""How values are spelled in the files: decimal floats and label colours."""

from __future__ import annotations

# 20 well-separated colours (hex RGB), cycled by class index: same class list, same colours.
_PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
    "#808000", "#ffd8b1", "#000075", "#808080",
)


def label_color(class_id: int) -> str:
    """A fixed ``#rrggbb`` colour for 0-based ``class_id`` (cycles after 20 classes)."""
    return _PALETTE[class_id % len(_PALETTE)]


def fmt_float(value: float, digits: int = 6) -> str:
    """``value`` with ``digits`` decimals, never ``-0.000000`` and never exponent notation
    (datumaro's YOLO probe rejects both)."""
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text
