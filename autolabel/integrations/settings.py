"""The pipeline settings an integration is started with: a preset or a config file, the user's
classes, and overrides of single settings, as ``autolabel annotate`` takes them.

What a platform passes (cvat-cli's ``-p name=type:value``, a FiftyOne ``load_model(**kwargs)``)
arrives here as keyword arguments, so every integration reads the same names: ``preset``,
``config``, ``classes``, ``vocabulary`` and any :class:`~autolabel.config.PipelineConfig` field
(``device``, ``min_score``, ``max_boxes``, ``masks`` ...).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from autolabel.config import PipelineConfig, get_preset, load_config
from autolabel.errors import ConfigError

DEFAULT_PRESET = "default"
"""The preset used when neither ``preset`` nor ``config`` is given (as ``autolabel annotate``)."""


def classes_text(classes: str | Sequence[str] | None) -> str | None:
    """The user's classes as the comma-separated list :attr:`PipelineConfig.vocabulary` takes.

    Args:
        classes: ``"cat,dog"``, or a sequence of names or synset ids (``["cat", "n02084071"]``).

    Raises:
        ConfigError: a name holds a comma (it would split into two classes), or a name is not
            a string.
    """
    if classes is None or isinstance(classes, str):
        return classes or None
    names = []
    for name in classes:
        if not isinstance(name, str):
            raise ConfigError(f"classes must be strings, got {name!r}")
        if "," in name:
            raise ConfigError(f"class {name!r} holds a comma; name it without one, or map it in a vocabulary YAML file")
        names.append(name.strip())
    return ",".join(n for n in names if n) or None


def integration_config(preset: str | None = None, config: str | Path | PipelineConfig | None = None,
                       classes: str | Sequence[str] | None = None, vocabulary: str | Path | None = None,
                       **overrides: Any) -> PipelineConfig:
    """The :class:`PipelineConfig` an integration runs with.

    Args:
        preset: a named preset (``lite``, ``default`` ...); ``default`` when no ``config`` is given.
        config: a config YAML file (which may name a preset itself), or a ready config.
        classes: only these classes (``"cat,dog"`` or a list); the classifier's own labels when
            neither ``classes`` nor ``vocabulary`` is given.
        vocabulary: a vocabulary YAML file mapping classifier classes onto the user's classes.
        overrides: single settings, by :class:`PipelineConfig` field name.

    Raises:
        ConfigError: both ``preset`` and ``config``, both ``classes`` and ``vocabulary``, an
            unknown preset or setting, or a value the setting refuses.
    """
    if preset and config is not None:
        raise ConfigError("give either preset or config, not both (a config file may name a preset:)")
    if classes is not None and vocabulary is not None:
        raise ConfigError("give either classes or vocabulary, not both")
    if isinstance(config, PipelineConfig):
        base = config
    else:
        base = load_config(config) if config is not None else get_preset(preset or DEFAULT_PRESET)
    fields = {f.name for f in dataclasses.fields(PipelineConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; settings are preset, config, classes, vocabulary "
                          f"and the fields of a config file ({', '.join(sorted(fields))})")
    if vocabulary is not None:
        overrides["vocabulary"] = str(vocabulary)
    elif classes is not None:
        overrides["vocabulary"] = classes_text(classes)
    return base.replace(**overrides)
