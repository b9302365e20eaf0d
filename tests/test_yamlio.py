"""autolabel.yamlio: alias bombs, recursive anchors and deep nesting are refused in short errors."""

from __future__ import annotations

import pytest

from autolabel.errors import ConfigError, RunError
from autolabel.yamlio import ALIAS_BUDGET, EXCERPT_CHARS, excerpt, load_yaml


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """The classic bomb: each level lists the previous one ``width`` times (9**9 nodes)."""
    lines = ["a: &a [" + ",".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_ordinary_anchors_and_merge_keys_load() -> None:
    text = "defaults: &d {min_score: 0.3, unmapped: drop}\nstrict:\n  <<: *d\n  min_score: 0.5\nlist: [*d, *d]\n"
    data = load_yaml(text, "x.yaml")
    assert data["strict"] == {"min_score": 0.5, "unmapped": "drop"} and data["list"][1]["unmapped"] == "drop"
    assert load_yaml("", "x.yaml") is None


def test_alias_bomb_is_refused_before_anything_is_built() -> None:
    text = billion_laughs()
    assert len(text) < 400
    with pytest.raises(ConfigError, match=rf"^--class-map m.yaml: its aliases would expand to more than {ALIAS_BUDGET:,} extra nodes") as ei:
        load_yaml(text, "--class-map m.yaml")
    assert len(str(ei.value)) < 200


def test_yolo_names_of_an_alias_bomb_and_the_error_type_is_the_callers() -> None:
    text = billion_laughs(6) + "names: [*f]\n"
    with pytest.raises(RunError, match="alias bomb"):
        load_yaml(text, "data.yaml", error=RunError)


def test_recursive_anchor_and_deep_nesting_are_refused() -> None:
    with pytest.raises(ConfigError, match="refers to itself"):
        load_yaml("a: &x [1, *x]\n", "v.yaml")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_yaml("[" * 100_000, "v.yaml")


def test_syntax_errors_quote_no_long_excerpt() -> None:
    huge = "k: [" + "x" * 1_000_000 + "\n"
    with pytest.raises(ConfigError) as ei:
        load_yaml(huge, "c.yaml")
    assert str(ei.value).startswith("c.yaml: not valid YAML (") and len(str(ei.value)) < 300


def test_unique_keys_when_asked() -> None:
    assert load_yaml("a: 1\na: 2\n", "v.yaml") == {"a": 2}
    with pytest.raises(ConfigError, match="key 'a' is given twice at line 2"):
        load_yaml("a: 1\na: 2\n", "v.yaml", unique_keys=True)


def test_excerpt_is_short_for_any_value() -> None:
    deep: list = []
    for _ in range(50):
        deep = [deep] * 10
    assert len(excerpt(deep)) <= EXCERPT_CHARS
    assert len(excerpt("x" * 10_000)) <= EXCERPT_CHARS
    assert excerpt("cat") == "'cat'"
