"""The reports' JSON numbers: floats to 4 decimals, everything else as it is."""

from autolabel.tools.devset.rounding import rounded


def test_floats_are_rounded_and_the_rest_kept() -> None:
    fields = {"recall": 2 / 3, "boxes": 7, "min_score": None, "name": "lite", "ok": True}
    assert rounded(fields) == {"recall": 0.6667, "boxes": 7, "min_score": None, "name": "lite", "ok": True}
