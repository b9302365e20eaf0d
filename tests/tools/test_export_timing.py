"""The export row of ``autolabel bench`` (:mod:`autolabel.tools.bench.export_timing`): every
installed format timed alone and all in one call, per image, and the ratio to annotating."""

from __future__ import annotations

from pathlib import Path

import pytest

from autolabel.export import list_exporters
from autolabel.tools.bench.export_timing import time_exports
from tests.exporters.masked_sample import build_masked_run


@pytest.fixture
def masked_run(tmp_path: Path) -> Path:
    return build_masked_run(tmp_path / "masked")


def test_export_row(masked_run: Path, tmp_path: Path):
    t = time_exports(masked_run, tmp_path / "x", annotate_seconds_per_image=2.0)
    assert t.images == 3
    assert set(t.per_format) == set(list_exporters()) and all(v > 0 for v in t.per_format.values())
    assert t.all_formats > 0 and t.ratio_to_annotate == t.all_formats / 2.0
    d = t.to_dict()
    assert d["ratio_to_annotate"] == t.ratio_to_annotate and d["per_format"] == t.per_format
    assert not (tmp_path / "x").exists()  # each export is removed once timed
    assert time_exports(masked_run, tmp_path / "y", 0.0, ["coco"]).ratio_to_annotate is None
