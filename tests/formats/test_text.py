"""How values are spelled: floats without exponent or negative zero; stable label colours."""

from __future__ import annotations

import re

import pytest

from autolabel.formats.text import fmt_float, label_color


@pytest.mark.parametrize("value, digits, text", [
    (0.5, 6, "0.500000"),
    (1e-5, 6, "0.000010"),
    (1e-9, 6, "0.000000"),
    (-1e-9, 6, "0.000000"),  # never -0.000000
    (-0.25, 3, "-0.250"),
    (123456.0, 2, "123456.00"),
])
def test_fmt_float(value, digits, text):
    assert fmt_float(value, digits) == text


def test_label_colours_are_hex_and_cycle():
    colours = [label_color(i) for i in range(20)]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)
    assert len(set(colours)) == 20
    assert label_color(20) == label_color(0) and label_color(23) == label_color(3)
