"""The ``masks`` setting: on by default, part of the resume check, absent from older runs = off."""

from __future__ import annotations

import pytest

from autolabel.config import PRESETS, PipelineConfig
from autolabel.errors import ConfigError


def test_masks_are_on_by_default_in_every_preset() -> None:
    assert PipelineConfig().masks is True
    assert all(p.masks for p in PRESETS.values())
    assert "masks" in PipelineConfig().result_dict()  # changes results: resume compares it
    with pytest.raises(ConfigError, match="option masks: expected true or false"):
        PipelineConfig(masks="yes")


def test_resume_compares_masks_and_an_older_run_counts_as_without_masks() -> None:
    on, off = PipelineConfig(), PipelineConfig(masks=False)
    assert on.differences(on.to_dict()) == [] and off.differences(on.to_dict()) == ["masks"]
    older = {k: v for k, v in on.to_dict().items() if k != "masks"}  # a manifest from before masks
    assert off.differences(older) == []
    assert on.differences(older) == ["masks"]
    # any other field missing from a manifest still differs
    assert on.differences({k: v for k, v in older.items() if k != "max_boxes"}) == ["masks", "max_boxes"]
