"""Vocabulary files and the quick ``cat,dog`` form: parsing and the refusals."""

from __future__ import annotations

import pytest

from autolabel.errors import ConfigError
from autolabel.vocabulary import load_vocabulary, parse_vocabulary


def test_quick_form_and_yaml_forms(tmp_path):
    v = parse_vocabulary(" cat, rocket ,dog,")
    assert v.names == ("cat", "rocket", "dog") and v.unmapped == "drop" and v.min_score == 0.0
    assert [c.terms for c in v.classes] == [("cat",), ("rocket",), ("dog",)]

    f = tmp_path / "v.yaml"
    f.write_text(
        "classes:\n  dog: [n02084071]\n  cat:\n  apple: n07739125\n  cup: [cup, mug]\n  '1': [n02084071]\n"
        "unmapped: other\nmin_score: 0.25\nother: misc\n"
    )
    v = parse_vocabulary(str(f))
    assert v.names == ("dog", "cat", "apple", "cup", "1")  # file order
    assert [c.terms for c in v.classes] == [("n02084071",), ("cat",), ("n07739125",), ("cup", "mug"), ("n02084071",)]
    assert (v.unmapped, v.min_score, v.other) == ("other", 0.25, "misc")
    assert v.source == f"vocabulary {f}"

    g = tmp_path / "list_form"  # an existing file is read as YAML whatever its suffix
    g.write_text("classes: [cat, dog]\n")
    assert parse_vocabulary(str(g)).names == ("cat", "dog")


@pytest.mark.parametrize(
    "text, message",
    [
        ("classes: {cat: [a], cat: [b]}\n", "given twice"),
        ("classes: {no: [n02084071]}\n", "quote it"),
        ("classes: {cat: {x: 1}}\n", "expected a list of synset ids or words"),
        ("classes: {cat: }\nunmapped: ignore\n", "unmapped must be one of drop, keep, other"),
        ("classes: {cat: }\nmin_score: 2\n", "min_score must be a number in [0, 1]"),
        ("classes: {cat: }\ncolour: red\n", "unknown key(s) colour"),
        ("classes: {other: , cat: }\nunmapped: other\n", "catch-all class 'other' is also a user class"),
        ("classes: {}\n", "no classes given"),
        ("classes: cat\n", "'classes' must be a mapping"),
        ("classes: {cat: [\n", "not valid YAML"),
        ("- cat\n", "expected a mapping with 'classes'"),
    ],
)
def test_bad_vocabulary_files_name_the_file_and_the_problem(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_vocabulary(f)
    assert message in str(e.value) and str(f) in str(e.value)


def test_missing_yaml_file_and_empty_quick_form(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        parse_vocabulary(str(tmp_path / "nope.yml"))
    with pytest.raises(ConfigError, match="no classes given"):
        parse_vocabulary(" , ")
    with pytest.raises(ConfigError, match="'cat' is listed twice"):
        parse_vocabulary("cat,dog,cat")


@pytest.mark.parametrize("spec", ["cat,do\x1bg", "cat,sea\x85lion", "cat,a\rb"])
def test_a_class_name_no_format_can_carry_is_refused(spec: str) -> None:
    with pytest.raises(ConfigError, match="holds the control character"):
        parse_vocabulary(spec)
