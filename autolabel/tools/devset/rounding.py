"""The numbers of the dev-set reports' JSON: floats rounded to :data:`DIGITS` decimals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DIGITS = 4
"""Decimals kept of every float a report writes."""


def rounded(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` (a dataclass's ``__dict__``) with each float rounded to :data:`DIGITS` decimals."""
    return {k: (round(v, DIGITS) if isinstance(v, float) else v) for k, v in fields.items()}
