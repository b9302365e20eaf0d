"""The ``feature_layers`` option: validation and resuming runs made before it."""

from __future__ import annotations

import pytest

from autolabel.config import PipelineConfig, get_preset
from autolabel.errors import ConfigError


@pytest.mark.parametrize("value", ["blocks.4", "blocks.3,blocks.4", " blocks.4 , bn2 ", "stages.2"])
def test_good_values_pass(value: str) -> None:
    assert PipelineConfig(feature_layers=value).feature_layers == value


@pytest.mark.parametrize("value", ["", "blocks.4,", "4", "blocks 4", "blocks.4;blocks.6", 16, ["blocks.4"], True])
def test_bad_values_name_the_field(value) -> None:
    with pytest.raises(ConfigError, match="feature_layers"):
        PipelineConfig(feature_layers=value)


def test_runs_made_before_the_field_resume() -> None:
    cfg = get_preset("lite")
    stored = {k: v for k, v in cfg.result_dict().items() if k != "feature_layers"}
    assert cfg.differences(stored) == []
    assert cfg.replace(feature_layers="blocks.3").differences(stored) == ["feature_layers"]
