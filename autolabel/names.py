"""User text that is not plain: file names that are not UTF-8, and control characters.

**File names that are not UTF-8.** On POSIX a file name is bytes. Python (and so autolabel)
keeps one that is not valid UTF-8 (``bad\\xff.jpg`` from an old zip or a Windows share) as a
``str`` with PEP 383 ``surrogateescape``: each byte 0xXY that is not part of valid UTF-8 becomes
the lone surrogate U+DCXY. ``os.fsencode(name)`` gives back the exact bytes, so the file opens.

In the run's JSON files (``predictions.jsonl``, ``failures.jsonl``, ``manifest.json``) such a
character is written as the JSON escape ``\\udcXY`` (ASCII, so the file stays valid UTF-8);
every other character is written as itself. ``json.loads`` reads the same ``str`` back, so the
name round-trips exactly. :func:`name_bytes` turns it back into the file name's bytes; a reader
in another language decodes the escape to U+DCXY and maps U+DC80..U+DCFF to the byte 0x80..0xFF.

Formats that cannot carry a lone surrogate (XML, CSV in UTF-8, YAML) need their own escaping
of such names; :func:`display_name` is the readable form (``bad\\xff.jpg``).

**File names in exports** (:func:`escape_name`). XML 1.0 cannot hold most C0 control
characters even as character references, and tools choke on lone surrogates, so a file name
that holds either (or C1 controls such as U+0085, DEL, U+2028/U+2029) is written into an export
*percent-escaped*: each such character becomes ``%XY`` per byte of the file name (a
surrogate-escaped byte its own byte: ``bad\\xff.jpg`` -> ``bad%FF.jpg``; ``\\x1b`` -> ``%1B``;
U+0085 -> ``%C2%85``), and in such a name ``%`` itself becomes ``%25``, so
``urllib.parse.unquote_to_bytes`` of the escaped name gives the exact bytes of the file name.
Names without such characters are written unchanged. Images copied or linked into an export
get the escaped name, so the annotations and the files agree.

**Class names** (:func:`class_name_problem`): a class name with a control character, U+0085,
U+2028/U+2029 or a lone surrogate cannot be written by every format (XML, labelmap.txt, YAML);
such a name is refused when a vocabulary is built and when an export starts.

**Showing text.** :func:`display_name` escapes what a terminal would interpret or a line-based
reader would split on: C0 and C1 control characters, DEL, U+2028/U+2029 and lone surrogates.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escape_char(m: re.Match[str]) -> str:
    o = ord(m.group())
    if 0xDC80 <= o <= 0xDCFF:  # surrogateescape: show the original byte
        return f"\\x{o - 0xDC00:02x}"
    return f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}"


def display_name(text: str) -> str:
    """``text`` safe to print on one terminal line.

    Control characters (C0, DEL, C1, U+2028, U+2029) become ``\\xNN`` / ``\\uNNNN`` escapes and
    a byte that was not UTF-8 (surrogate U+DCXY) becomes ``\\xXY``. Printable text, letters
    of any script included, is unchanged.
    """
    return _UNPRINTABLE.sub(_escape_char, text)


def has_undecodable(text: str) -> bool:
    """True if ``text`` holds a lone surrogate (a file-name byte that was not UTF-8)."""
    return _LONE_SURROGATE.search(text) is not None


def name_bytes(name: str) -> bytes:
    """The file name's exact bytes (``os.fsencode``: surrogates back to their bytes)."""
    return os.fsencode(name)


def needs_escape(name: str) -> bool:
    """True if ``name`` holds a character that :func:`escape_name` escapes."""
    return _UNPRINTABLE.search(name) is not None


def _percent(m: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in os.fsencode(m.group()))


_ESCAPED = re.compile("[%\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def escape_name(name: str) -> str:
    """``name`` as exports write it: unchanged unless it holds a control character (C0, DEL,
    C1 such as U+0085, U+2028/U+2029) or a byte that was not UTF-8; then each of those and
    every ``%`` become ``%XY`` per byte (``bad\\xff.jpg`` -> ``bad%FF.jpg``), and
    ``urllib.parse.unquote_to_bytes`` of the result is the file name's exact bytes."""
    if not needs_escape(name):
        return name
    return _ESCAPED.sub(_percent, name)


def class_name_problem(name: str) -> str | None:
    """Why no export format can carry class ``name`` (None if every one can).

    Control characters (tab, newline, ``\\r``, ``\\x1b``, U+0085...), U+2028/U+2029 and
    bytes that were not UTF-8 cannot stand in XML 1.0 (CVAT, VOC, the Label Studio config), in
    ``labelmap.txt`` lines or in YAML ``names``.
    """
    m = _UNPRINTABLE.search(name)
    if m is None:
        return None
    return (f"class name '{display_name(name)}' holds the control character {_escape_char(m)}, which "
            "XML, labelmap.txt and YAML cannot carry; rename the class")


def json_line(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(obj, ensure_ascii=False, **kwargs)`` that is always valid UTF-8 text.

    Lone surrogates (file-name bytes that were not UTF-8) are written as ``\\udcXY`` escapes;
    ``json.loads`` gives the same string back. Everything else is written as itself, so text
    without such names is byte-identical to plain ``json.dumps(..., ensure_ascii=False)``.
    """
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    if _LONE_SURROGATE.search(text) is None:
        return text
    # A raw lone surrogate can only stand inside a JSON string: its escape is valid there.
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
