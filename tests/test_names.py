"""autolabel.names: non-UTF-8 file names round-trip through the run's JSON; text is shown safely."""

from __future__ import annotations

import json
import os

import pytest

from autolabel.names import class_name_problem, display_name, escape_name, has_undecodable, json_line, name_bytes


def test_json_line_keeps_undecodable_bytes_as_escapes_and_round_trips() -> None:
    name = os.fsdecode(b"old zip/bad\xff\xfe.jpg")
    assert has_undecodable(name)
    line = json_line({"path": name, "label": "café"})
    line.encode("utf-8")  # valid UTF-8 text: the write that used to raise UnicodeEncodeError
    assert '"old zip/bad\\udcff\\udcfe.jpg"' in line and "café" in line  # other text stays as itself
    back = json.loads(line)["path"]
    assert back == name and name_bytes(back) == b"old zip/bad\xff\xfe.jpg"


def test_json_line_is_plain_json_dumps_without_such_names() -> None:
    obj = {"path": "a/é.jpg", "n": [1, 2.5], "s": 'quote " and \\ backslash'}
    assert json_line(obj, separators=(",", ":")) == json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("text, shown", [
    ("cat", "cat"),
    ("Käse 猫", "Käse 猫"),
    ("ca\x1b[31mt", "ca\\x1b[31mt"),
    ("a\rb\nc\x00", "a\\x0db\\x0ac\\x00"),
    ("next\x85line\u2028", "next\\x85line\\u2028"),
    (os.fsdecode(b"bad\xff.jpg"), "bad\\xff.jpg"),
])
def test_display_name_escapes_control_characters_and_undecodable_bytes(text: str, shown: str) -> None:
    assert display_name(text) == shown


@pytest.mark.parametrize("name, escaped", [
    ("cam1/0001.jpg", "cam1/0001.jpg"),          # ordinary names are unchanged
    ("100%.jpg", "100%.jpg"),                    # ... also with a percent sign
    ("bad\udcff.jpg", "bad%FF.jpg"),             # a byte that was not UTF-8: the byte itself
    ("a\x1bb%.jpg", "a%1Bb%25.jpg"),              # a control character; % escaped in such a name
    ("nel\x85/cr\r.jpg", "nel%C2%85/cr%0D.jpg"),  # U+0085 as its UTF-8 bytes; / kept
])
def test_escape_name_is_readable_and_gives_back_the_exact_bytes(name: str, escaped: str) -> None:
    from urllib.parse import unquote_to_bytes

    assert escape_name(name) == escaped
    assert escaped.isprintable() and escaped.encode("utf-8")
    if escaped != name:
        assert unquote_to_bytes(escaped) == os.fsencode(name)


@pytest.mark.parametrize("name", ["do\x1bg", "a\tb", "sea\x85lion", "x\u2028y", "bad\udcff"])
def test_class_names_no_format_can_carry_are_named(name: str) -> None:
    problem = class_name_problem(name)
    assert problem is not None and display_name(name) in problem
    assert class_name_problem("salt & pepper <shaker>") is None
