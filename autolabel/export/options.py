"""Format options: how an exporter declares one, and how a value given for it is read.

An exporter declares its options as ``options = {"name": Option(default, "help", ...)}``. Every
value, from Python or from ``autolabel export -O NAME=VALUE``, is converted by the option's
click :class:`~click.ParamType` (derived from the default unless one is given), so ``"true"``,
``"0.5"`` or ``"zero"`` from a command line and ``True``, ``0.5`` or ``"zero"`` from Python
arrive as the same value.

Naming: ``NAME`` or ``FORMAT.NAME`` (see :func:`split_key`); a bare ``NAME`` goes to the one
selected format that declares it, ``FORMAT.NAME`` to that format only (needed when two selected
formats declare the same name). ``-`` in a name reads as ``_``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from autolabel.errors import ExportError

_TYPES: dict[type, click.ParamType] = {bool: click.BOOL, int: click.INT, float: click.FLOAT, str: click.STRING}


@dataclass(frozen=True)
class Option:
    """A format-specific option an exporter accepts.

    Attributes:
        default: value used when the option is not given. Unless ``type`` is set, its Python type
            picks the click type values are parsed with: bool -> ``click.BOOL`` (``true``/``false``,
            ``1``/``0``, ``yes``/``no``, ``on``/``off``), int -> ``click.INT``, float ->
            ``click.FLOAT``, anything else -> ``click.STRING``.
        help: one line for ``autolabel formats`` and ``autolabel export --help``.
        choices: allowed values, if restricted (parsed with ``click.Choice``).
        type: a click ParamType to parse values with instead (e.g. ``click.IntRange(1, 10)``).
        flag: a long command-line flag that sets this option, e.g. ``"--coco-results"``, beside
            ``-O NAME=VALUE`` (which always works). A bool option's flag takes no value and sets
            True; any other takes one value.
    """

    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    type: click.ParamType | None = None
    flag: str | None = None

    def __post_init__(self) -> None:
        if self.flag is not None and (not self.flag.startswith("--") or len(self.flag) < 4 or " " in self.flag):
            raise ValueError(f"Option flag must look like '--some-name', got {self.flag!r}")

    @property
    def param_type(self) -> click.ParamType:
        """The click type values of this option are parsed with."""
        if self.type is not None:
            return self.type
        if self.choices is not None:
            return click.Choice([str(c) for c in self.choices])
        return _TYPES.get(type(self.default), click.STRING)

    @property
    def type_name(self) -> str:
        """What a value looks like, for listings: ``one|zero``, ``BOOLEAN``, ``INTEGER``, ``TEXT`` ..."""
        if self.choices is not None:
            return "|".join(str(c) for c in self.choices)
        return self.param_type.name.upper()

    @property
    def is_flag(self) -> bool:
        """True if :attr:`flag` takes no value (a bool option)."""
        return self.type is None and self.choices is None and isinstance(self.default, bool)

    def convert(self, name: str, value: Any, fmt: str | None = None) -> Any:
        """``value`` parsed by :attr:`param_type` (and, with ``choices``, mapped back onto the
        declared choice it names).

        Raises:
            ExportError: one line naming the format, the option and what was wrong.
        """
        try:
            out = self.param_type.convert(value, None, None)
        except click.BadParameter as e:
            where = f"format {fmt!r} option {name!r}" if fmt else f"option {name!r}"
            raise ExportError(f"{where}: {e.message}") from None
        if self.choices is not None:
            out = next(c for c in self.choices if str(c) == out)
        return out

    def describe_default(self) -> str:
        """The default as a user would type it (``false``, ``""``, ``one``)."""
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if self.default == "":
            return '""'
        return str(self.default)


def split_key(key: str) -> tuple[str | None, str]:
    """``"voc.voc_origin"`` -> ``("voc", "voc_origin")``; ``"voc-origin"`` -> ``(None, "voc_origin")``.

    The format part is kept as given (format names may contain ``-``); the option part has
    ``-`` replaced by ``_``.

    Raises:
        ExportError: an empty format or option name.
    """
    fmt, dot, name = key.strip().rpartition(".")
    name = name.strip().replace("-", "_")
    if not name or (dot and not fmt.strip()):
        raise ExportError(f"option name {key!r} is not NAME or FORMAT.NAME")
    return (fmt.strip() if dot else None), name


def assign_options(declared: Mapping[str, Mapping[str, Option]], given: Mapping[str, Any],
                   owners: Mapping[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
    """Give each value in ``given`` to the format it is for, converted.

    Args:
        declared: selected format -> its declared options.
        given: ``NAME`` or ``FORMAT.NAME`` -> value (a string from a command line, or a value;
            None leaves the default).
        owners: for error hints, option name -> formats that are registered but not selected
            and declare it.

    Returns:
        format -> {option name: converted value}, for every format in ``declared``.

    Raises:
        ExportError: a format that is not selected, a name no selected format declares, a bare
            name two selected formats declare, or a value its type refuses.
    """
    out: dict[str, dict[str, Any]] = {n: {} for n in declared}
    selected = ", ".join(declared)
    for key, value in given.items():
        if value is None:  # None: not given, the default stays
            continue
        fmt, name = split_key(key)
        if fmt is not None:
            if fmt not in declared:
                raise ExportError(f"option {key!r} is for format {fmt!r}, which is not selected (selected: {selected})")
            if name not in declared[fmt]:
                known = ", ".join(sorted(declared[fmt])) or "none"
                raise ExportError(f"format {fmt!r} has no option {name!r}; its options: {known}")
            takers = [fmt]
        else:
            takers = [n for n, opts in declared.items() if name in opts]
            if not takers:
                other = (owners or {}).get(name) or []
                hint = f" (it belongs to {', '.join(other)}, which is not selected)" if other else ""
                raise ExportError(f"option {name!r} is not understood by {selected}{hint}")
            if len(takers) > 1:
                raise ExportError(f"option {name!r} is declared by {' and '.join(takers)}; say which: "
                                  + " or ".join(f"{t}.{name}=..." for t in takers))
        for n in takers:
            out[n][name] = declared[n][name].convert(name, value, n)
    return out
