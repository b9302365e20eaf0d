"""Vocabulary files: the user's classes as written (a YAML file or a ``cat,dog`` list)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from autolabel.errors import ConfigError
from autolabel.names import class_name_problem, display_name
from autolabel.yamlio import load_yaml

UNMAPPED_POLICIES = ("drop", "keep", "other")
"""What happens to a box that is none of the user's classes."""
VOCABULARY_KEYS = ("classes", "unmapped", "min_score", "other")


@dataclass(frozen=True)
class ClassSpec:
    """One user class as written: its name and the terms defining it (synset ids such as
    ``n02121808``, sense names such as ``cat.n.01``, or words resolved through WordNet)."""

    name: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """The user's classes (in order) and what to do with boxes that are none of them.

    Attributes:
        classes: user classes in the order of the run's class list.
        unmapped: ``drop`` | ``keep`` (the classifier's own label) | ``other`` (one catch-all
            class named :attr:`other`, appended to the class list).
        min_score: a box whose summed user-class probability is lower is unmapped.
        other: the catch-all class's name.
        source: where the vocabulary came from (a file path or ``--classes``), for messages.
    """

    classes: tuple[ClassSpec, ...]
    unmapped: str = "drop"
    min_score: float = 0.0
    other: str = "other"
    source: str = "--classes"

    def __post_init__(self) -> None:
        where = self.source
        if not self.classes:
            raise ConfigError(f"{where}: no classes given")
        seen: set[str] = set()
        for c in self.classes:
            if not c.name.strip():
                raise ConfigError(f"{where}: a class name is empty")
            if c.name in seen:
                raise ConfigError(f"{where}: class {c.name!r} is listed twice")
            problem = class_name_problem(c.name)
            if problem is not None:
                raise ConfigError(f"{where}: {problem}")
            seen.add(c.name)
            if not c.terms or any(not t.strip() for t in c.terms):
                raise ConfigError(f"{where}: class {c.name!r} has an empty synset or word")
        if self.unmapped not in UNMAPPED_POLICIES:
            raise ConfigError(f"{where}: unmapped must be one of {', '.join(UNMAPPED_POLICIES)}, got {self.unmapped!r}")
        ms = self.min_score
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not (0.0 <= ms <= 1.0):
            raise ConfigError(f"{where}: min_score must be a number in [0, 1], got {ms!r}")
        if not isinstance(self.other, str) or not self.other.strip():
            raise ConfigError(f"{where}: other must be a non-empty class name, got {self.other!r}")
        if self.unmapped == "other" and class_name_problem(self.other) is not None:
            raise ConfigError(f"{where}: other: {class_name_problem(self.other)}")
        if self.unmapped == "other" and self.other in seen:
            raise ConfigError(f"{where}: the catch-all class {self.other!r} is also a user class; rename one")

    @property
    def names(self) -> tuple[str, ...]:
        """User class names in order."""
        return tuple(c.name for c in self.classes)


def _class_name(key: Any, where: str) -> str:
    if isinstance(key, bool) or key is None:
        raise ConfigError(f"{where}: class name {key!r} is read by YAML as {type(key).__name__} (yes/no/on/off/null); quote it")
    if isinstance(key, (int, float)):
        return str(key)
    if not isinstance(key, str):
        raise ConfigError(f"{where}: class names must be strings, got {key!r}")
    return key.strip()


def _terms(name: str, value: Any, where: str) -> tuple[str, ...]:
    if value is None or value == []:
        return (name,)
    if isinstance(value, str):
        return (value.strip(),)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value)
    raise ConfigError(
        f"{where}: class {name!r}: expected a list of synset ids or words (e.g. [n02121808] or [cup, mug]), got {value!r}"
    )


def vocabulary_from_dict(data: Any, source: str = "vocabulary") -> Vocabulary:
    """A :class:`Vocabulary` from a decoded YAML document.

    ``classes`` is a mapping ``name -> [synset id or word, ...]`` (a single string, or nothing
    for "the name itself"), or a list of names each standing for itself.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping with 'classes', got {type(data).__name__}")
    unknown = sorted(str(k) for k in set(data) - set(VOCABULARY_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(VOCABULARY_KEYS)}")
    raw = data.get("classes")
    specs: list[ClassSpec] = []
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            name = _class_name(key, source)
            specs.append(ClassSpec(name, _terms(name, value, source)))
    elif isinstance(raw, list):
        for key in raw:
            name = _class_name(key, source)
            specs.append(ClassSpec(name, (name,)))
    else:
        raise ConfigError(f"{source}: 'classes' must be a mapping of class name -> synsets/words, or a list of names")
    return Vocabulary(
        classes=tuple(specs),
        unmapped=str(data.get("unmapped", "drop")),
        min_score=data.get("min_score", 0.0),
        other=data.get("other", "other"),
        source=source,
    )


def load_vocabulary(path: str | Path) -> Vocabulary:
    """Read a vocabulary YAML file (see :func:`vocabulary_from_dict` for its keys)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"vocabulary {p}: file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"vocabulary {p}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"vocabulary {p}: cannot read it ({e.strerror or e})") from None
    data = load_yaml(text, f"vocabulary {p}", unique_keys=True)
    return vocabulary_from_dict(data, source=f"vocabulary {p}")


def vocabulary_from_names(text: str) -> Vocabulary:
    """The quick form ``"cat,dog,apple"``: each name is a class defined by itself; unmapped
    boxes are dropped."""
    names = [n.strip() for n in text.split(",")]
    names = [n for n in names if n]
    return Vocabulary(tuple(ClassSpec(n, (n,)) for n in names), source="--classes")


def _could_be_path(spec: str) -> bool:
    """False for a string no file system takes as a path: a NUL, a name part over 255 bytes
    or a whole over 4096 bytes (stat would fail with ENAMETOOLONG)."""
    data = spec.encode("utf-8", "surrogateescape")
    return b"\0" not in data and len(data) < 4096 and all(len(part) <= 255 for part in data.split(b"/"))


def parse_vocabulary(spec: str) -> Vocabulary:
    """``cfg.vocabulary``: a YAML file (an existing file, or a name ending in .yaml/.yml) or a
    comma-separated class list. A string that cannot be a path (too long, a NUL) is a class
    list; it is never looked up on disk."""
    if _could_be_path(spec):
        p = Path(spec).expanduser()
        if p.suffix.lower() in (".yaml", ".yml"):
            return load_vocabulary(p)
        try:
            is_file = p.is_file()
        except (OSError, ValueError):
            is_file = False
        if is_file:
            return load_vocabulary(p)
    elif spec.strip().lower().endswith((".yaml", ".yml")):
        raise ConfigError(f"vocabulary {display_name(spec[:80])}...: a file name this long cannot exist")
    return vocabulary_from_names(spec)
