"""Format options: values parsed by click types, and each value given to the format it is for."""

from __future__ import annotations

import click
import pytest

from autolabel.errors import ExportError
from autolabel.export import Option, assign_options, split_key


@pytest.mark.parametrize("opt, given, expected", [
    (Option(False), "true", True), (Option(False), "0", False), (Option(True), False, False),
    (Option(False), "off", False), (Option(1), "3", 3), (Option(0.5), "0.25", 0.25),
    (Option("one", choices=("one", "zero")), "zero", "zero"), (Option(2, choices=(1, 2)), "1", 1),
    (Option(3, type=click.IntRange(1, 5)), "5", 5), (Option(""), "https://x/?d=a b/", "https://x/?d=a b/"),
])
def test_option_converts(opt, given, expected):
    got = opt.convert("x", given)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("opt, given, match", [
    (Option(False), "maybe", r"^format 'f' option 'x': 'maybe' is not a valid boolean"),
    (Option(1), "x", r"^format 'f' option 'x': 'x' is not a valid integer"),
    (Option("one", choices=("one", "zero")), "two", r"^format 'f' option 'x': 'two' is not one of 'one', 'zero'"),
    (Option(3, type=click.IntRange(1, 5)), "9", r"^format 'f' option 'x': 9 is not in the range 1<=x<=5"),
])
def test_option_rejects_in_one_line_naming_format_and_option(opt, given, match):
    with pytest.raises(ExportError, match=match) as e:
        opt.convert("x", given, "f")
    assert "\n" not in str(e.value)


def test_option_describes_itself():
    assert (Option(False).type_name, Option(False).describe_default(), Option(False).is_flag) == ("BOOLEAN", "false", True)
    assert (Option("one", choices=("one", "zero")).type_name, Option("one", choices=("one", "zero")).is_flag) == ("one|zero", False)
    assert (Option(0.5).type_name, Option("").type_name, Option("").describe_default()) == ("FLOAT", "TEXT", '""')
    with pytest.raises(ValueError, match="--some-name"):
        Option(False, flag="-x")


def test_split_key():
    assert split_key("voc.voc_origin") == ("voc", "voc_origin")
    assert split_key("voc-origin") == (None, "voc_origin")
    assert split_key("my-fmt.some-opt") == ("my-fmt", "some_opt")
    for bad in ("", ".x", "voc.", " "):
        with pytest.raises(ExportError, match="is not NAME or FORMAT.NAME"):
            split_key(bad)


DECLARED = {
    "a": {"sep": Option(","), "n": Option(1)},
    "b": {"sep": Option(";"), "flag": Option(False)},
}


def test_bare_names_go_to_the_one_format_that_declares_them_qualified_names_to_theirs():
    got = assign_options(DECLARED, {"n": "4", "flag": "yes", "a.sep": "|", "b.sep": "\t", "unset": None})
    assert got == {"a": {"n": 4, "sep": "|"}, "b": {"flag": True, "sep": "\t"}}
    assert assign_options(DECLARED, {}) == {"a": {}, "b": {}}


@pytest.mark.parametrize("given, match", [
    ({"sep": ","}, r"^option 'sep' is declared by a and b; say which: a.sep=... or b.sep=...$"),
    ({"c.sep": ","}, r"^option 'c.sep' is for format 'c', which is not selected \(selected: a, b\)$"),
    ({"a.flag": "1"}, r"^format 'a' has no option 'flag'; its options: n, sep$"),
    ({"zzz": "1"}, r"^option 'zzz' is not understood by a, b \(it belongs to c, which is not selected\)$"),
    ({"n": "many"}, r"^format 'a' option 'n': 'many' is not a valid integer"),
])
def test_assignment_errors(given, match):
    with pytest.raises(ExportError, match=match):
        assign_options(DECLARED, given, owners={"zzz": ["c"]})
