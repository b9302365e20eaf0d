"""Presets equal their YAML copies in configs/; options validate with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from autolabel.config import PRESETS, PipelineConfig, get_preset, load_config
from autolabel.errors import ConfigError
from tests.conftest import REPO


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_configs_yaml_equals_builtin_preset(name: str) -> None:
    assert load_config(REPO / "configs" / f"{name}.yaml") == PRESETS[name]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_configs_yaml_lists_every_option(name: str) -> None:
    """The YAML copies are what users copy and edit: every option is there to see, in order."""
    import dataclasses

    import yaml

    listed = list(yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text(encoding="utf-8")))
    assert listed == [f.name for f in dataclasses.fields(PipelineConfig)]


def test_every_yaml_in_configs_is_a_preset() -> None:
    assert sorted(p.stem for p in (REPO / "configs").glob("*.yaml")) == sorted(PRESETS)


def test_config_file_may_start_from_a_preset(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("preset: lite\nmax_boxes: 3\n")
    cfg = load_config(p)
    assert cfg.max_boxes == 3 and cfg.extractor == PRESETS["lite"].extractor


@pytest.mark.parametrize("text, msg", [
    ("max_boxez: 3\n", "unknown option.*max_boxez"),
    ("nms_iou: 2\n", r"option nms_iou: expected a number in \[0, 1\]"),
    ("discovery: many\n", "option discovery"),
    ("refine_processes: -2\n", r"option refine_processes: expected an integer >= 0, or -1 \(auto\)"),
    ("refine_processes: true\n", "option refine_processes"),
    ("mask_readings: 2\n", r"option mask_readings: expected 0 \(off\), 1 \(one diagonal shift\) or 3"),
    ("mask_readings: true\n", "option mask_readings"),
    ("mask_readings: 1.0\n", "option mask_readings"),
    ("agreement_scale: 1\n", r"option agreement_scale: expected 0 \(off\) or a factor in \(0, 4\] other than 1"),
    ("agreement_scale: -0.5\n", "option agreement_scale"),
    ("agreement_scale: true\n", "option agreement_scale"),
    ("agreement_iou_low: -0.1\n", r"option agreement_iou_low: expected an IoU in \[0, 1\]"),
    ("agreement_iou_low: 0.8\nagreement_iou_high: 0.7\n", r"option agreement_iou_high: expected an IoU in \[agreement_iou_low, 1\]"),
    ("agreement_boost: 0.5\n", r"option agreement_boost: expected a factor in \[1, 16\]"),
    ("agreement_penalty: 1.5\n", r"option agreement_penalty: expected a factor in \[0, 1\]"),
    ("saliency_power: -1\n", r"option saliency_power: expected a number in \[0, 16\]"),
    ("saliency_power: true\n", "option saliency_power"),
    ("saliency_knee: 0\n", r"option saliency_knee: expected a ratio in \(0, 16\]"),
    ("saliency_power: 2\nfeature_layers: blocks.4,blocks.6\n", "option saliency_power: expected 0 with several feature_layers"),
    ("saliency_power: 2\nfeature_scales: 1,0.75\n", "option saliency_power: expected 0 with several feature_layers or feature_scales"),
    ("tighten_margin: 1\n", r"option tighten_margin: expected empty \(off\) or a probability margin in \[0, 1\)"),
    ("tighten_margin: -0.1\n", "option tighten_margin"),
    ("tighten_margin: yes\n", "option tighten_margin"),
    ("duplicate_iou: 0\n", r"option duplicate_iou: expected empty \(off\) or a box IoU in \(0, 1\]"),
    ("duplicate_iou: 1.5\n", "option duplicate_iou"),
    ("duplicate_iou: yes\n", "option duplicate_iou"),
    ("- a\n", "expected a mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_config_files(tmp_path: Path, text: str, msg: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=msg):
        load_config(p)


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(ConfigError, match="available: default, seed, fast, lite"):
        get_preset("huge")


def test_runtime_fields_do_not_block_resume() -> None:
    a = PipelineConfig()
    stored = a.to_dict()
    assert a.replace(device="cpu", batch_size=4, workers=1).differences(stored) == []
    assert a.replace(max_boxes=3).differences(stored) == ["max_boxes"]


def test_config_alias_bomb_is_refused_in_one_short_line(tmp_path: Path) -> None:
    from tests.test_yamlio import billion_laughs

    p = tmp_path / "c.yaml"
    p.write_text(billion_laughs() + "max_boxes: 3\n")
    with pytest.raises(ConfigError, match=r"--config .*c.yaml: its aliases would expand") as ei:
        load_config(p)
    assert len(str(ei.value)) < 300


def test_config_bad_values_are_quoted_short(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("max_side: &s [[1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8, 9]]\nextractor: " + "x" * 5000 + "x: 1\n")
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    assert len(str(ei.value)) < 600
    p.write_bytes(b"max_side: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(p)


def test_runs_made_before_feature_saliency_resume_as_they_were() -> None:
    """A manifest without the saliency options was made without it: the presets that keep it
    off resume such runs; lite, which turns it on, names the option that differs."""
    for name in ("default", "fast", "seed", "lite"):
        cfg = PRESETS[name]
        stored = {k: v for k, v in cfg.result_dict().items() if k not in ("saliency_power", "saliency_knee")}
        assert cfg.differences(stored) == ([] if name != "lite" else ["saliency_power"])


def test_runs_made_before_scale_agreement_resume_as_they_were() -> None:
    """A manifest without the agreement options was made without agreement: the presets that
    keep it off resume such runs; lite, which turns it on, names the option that differs."""
    names = ("agreement_scale", "agreement_iou_low", "agreement_iou_high", "agreement_boost", "agreement_penalty")
    for name in ("default", "fast", "seed", "lite"):
        cfg = PRESETS[name]
        stored = {k: v for k, v in cfg.result_dict().items() if k not in names}
        assert cfg.differences(stored) == ([] if name != "lite" else ["agreement_scale"])


def test_runs_made_before_mask_readings_resume_as_they_were() -> None:
    """A manifest without ``mask_readings`` was made without shifted readings: the presets that
    keep them off resume such runs; lite, which reads once more, names the option that differs."""
    for name in ("default", "fast", "seed", "lite"):
        cfg = PRESETS[name]
        stored = {k: v for k, v in cfg.result_dict().items() if k != "mask_readings"}
        assert cfg.differences(stored) == ([] if name != "lite" else ["mask_readings"])


def test_runs_made_before_tightening_resume_as_they_were() -> None:
    """A manifest without ``tighten_margin`` was made without tightening: the presets that keep
    it off resume such runs; lite, which turns it on, names the option that differs."""
    for name in ("default", "fast", "seed", "lite"):
        cfg = PRESETS[name]
        stored = {k: v for k, v in cfg.result_dict().items() if k != "tighten_margin"}
        assert cfg.differences(stored) == ([] if name != "lite" else ["tighten_margin"])


def test_runs_made_before_duplicate_suppression_resume_as_they_were() -> None:
    """A manifest without ``duplicate_iou`` was made without it: the presets that keep it off
    resume such runs; lite, which turns it on, names the option that differs."""
    for name in ("default", "fast", "seed", "lite"):
        cfg = PRESETS[name]
        stored = {k: v for k, v in cfg.result_dict().items() if k != "duplicate_iou"}
        assert cfg.differences(stored) == ([] if name != "lite" else ["duplicate_iou"])
