"""autolabel.names: non-UTF-8 file names round-trip through the run's JSON; text is shown safely."""

from __future__ import annotations

import json
import os

import pytest

from autolabel.names import display_name, has_undecodable, json_line, name_bytes


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
