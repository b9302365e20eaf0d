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
