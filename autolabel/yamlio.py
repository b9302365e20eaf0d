"""One safe way to read the YAML files users give (configs, vocabularies, class maps, YOLO
``data.yaml``).

PyYAML's ``safe_load`` builds no objects, but it still follows aliases: 300 bytes of nested
``&a [*a, *a, ...]`` stand for billions of nodes, which any code that walks or prints the result
(a validation error quoting it) expands into gigabytes. :func:`load_yaml` composes the document,
counts the nodes the aliases would add if expanded, and refuses a document over a small budget
(:data:`ALIAS_BUDGET`) or one whose aliases refer to themselves, before anything is built.
Ordinary anchors (``<<: *defaults``) stay well inside it. Nesting deeper than PyYAML can compose
is refused as well, and every error quotes at most :data:`EXCERPT_CHARS` characters.
"""

from __future__ import annotations

import os
import reprlib
from pathlib import Path
from typing import Any

from autolabel.errors import AutolabelError, ConfigError

ALIAS_BUDGET = 10_000
"""At most this many nodes may be added by expanding aliases (beyond the document's own)."""

EXCERPT_CHARS = 80
"""Longest excerpt of the input or of a value that an error message quotes."""


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A ``repr`` of ``value`` of at most ``limit`` characters (nested containers shortened)."""
    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxtuple, r.maxset = 3, 6, 6, 6, 6
    r.maxstring = r.maxother = max(10, limit - 10)
    text = r.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_text(path: str | os.PathLike[str], what: str, *, error: type[AutolabelError] = ConfigError) -> str:
    """A user's text file, decoded as UTF-8; ``error`` naming ``what`` (e.g. ``"class map x.yaml"``)
    when it cannot be read or is not UTF-8 (the byte offset is given)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{what}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise error(f"{what}: cannot read it ({e.strerror or e})") from None


def _loader(unique_keys: bool) -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader; optionally refuses a mapping key given twice."""

    if unique_keys:
        def construct_mapping(loader: Any, node: Any, deep: bool = False) -> Any:
            seen: list[Any] = []
            for key_node, _ in node.value:
                key = loader.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {excerpt(key)} is given twice", key_node.start_mark
                    )
                seen.append(key)
            return yaml.SafeLoader.construct_mapping(loader, node, deep)

        Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


def _expanded_extra(root: Any) -> int | None:
    """Nodes that expanding the aliases under ``root`` adds, or None if an alias loops.

    Each node is weighed once (memoised by identity), so the check is linear in the document's
    own size: the expanded tree counts a shared node once per reference, the document once.
    """
    import yaml

    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(k)] for k in _children(node, yaml))
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for k in _children(node, yaml):
            if id(k) in on_path:
                return None
            if id(k) not in size:
                stack.append((k, False))
    return size[id(root)] - len(size)


def _children(node: Any, yaml: Any) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load_yaml(text: str, source: str, *, error: type[AutolabelError] = ConfigError,
              unique_keys: bool = False, alias_budget: int = ALIAS_BUDGET) -> Any:
    """Parse one YAML document safely.

    Args:
        text: the document.
        source: how the error names the input (``--class-map map.yaml``).
        error: the error type to raise (a subclass of :class:`AutolabelError`).
        unique_keys: refuse a mapping key given twice (PyYAML keeps the last one silently).
        alias_budget: most nodes that alias expansion may add.

    Returns:
        What ``yaml.safe_load`` returns (None for an empty document).

    Raises:
        ``error``: not valid YAML, an alias bomb, an alias that refers to itself, or nesting
            too deep; the message names ``source`` and quotes at most a short excerpt.
    """
    import yaml

    loader = _loader(unique_keys)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        extra = _expanded_extra(node)
        if extra is None:
            raise error(f"{source}: an alias refers to itself (a recursive YAML anchor); refused")
        if extra > alias_budget:
            raise error(
                f"{source}: its aliases would expand to more than {alias_budget:,} extra nodes "
                "(a YAML alias bomb?); refused"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise error(f"{source}: not valid YAML ({_yaml_problem(e)})") from None
    except RecursionError:
        raise error(f"{source}: nested too deeply to read") from None
    finally:
        loader.dispose()


def _yaml_problem(e: Any) -> str:
    """``problem (line L, column C)`` of a PyYAML error, without its quoted snippet."""
    problem = getattr(e, "problem", None) or getattr(e, "context", None) or type(e).__name__
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    text = f"{problem}{where}"
    return text if len(text) <= 2 * EXCERPT_CHARS else text[: 2 * EXCERPT_CHARS - 3] + "..."
