"""The ``feature_layers`` and ``feature_scales`` options: validation and resuming runs made before them."""

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


@pytest.mark.parametrize("value", [0.75, 1, "1,0.75", "0.5"])
def test_good_scales_pass(value) -> None:
    assert PipelineConfig(feature_scales=value).feature_scales == value


@pytest.mark.parametrize("value", [0, -0.5, 5.0, float("nan"), "", "1,,0.5", "a", True, [0.75]])
def test_bad_scales_name_the_field(value) -> None:
    with pytest.raises(ConfigError, match="feature_scales"):
        PipelineConfig(feature_scales=value)


@pytest.mark.parametrize(("name", "value"), [("feature_layers", "blocks.3"), ("feature_scales", 0.75)])
def test_runs_made_before_the_field_resume(name: str, value) -> None:
    cfg = get_preset("lite")
    stored = {k: v for k, v in cfg.result_dict().items() if k != name}
    assert cfg.differences(stored) == []
    assert cfg.replace(**{name: value}).differences(stored) == [name]
