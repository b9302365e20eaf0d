"""The classifier's label space: output index -> WordNet synset and readable name."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from autolabel.errors import ConfigError


@dataclass(frozen=True)
class LabelSpace:
    """The classifier's classes: ``synsets[i]`` and readable ``names[i]`` of output ``i``.

    Names are each synset's first lemma ("tabby" for "tabby, tabby cat"); where two synsets
    share a first lemma (ImageNet-1k has two "crane"s), the synset id is appended to keep
    every name unique: "crane (n02012849)".
    """

    subset: str
    synsets: tuple[str, ...]
    names: tuple[str, ...]
    descriptions: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.synsets)


@functools.lru_cache(maxsize=8)
def get_label_space(subset: str | None, num_classes: int) -> LabelSpace:
    """The label space called ``subset`` (``imagenet-22k``, ``imagenet-1k``, ...).

    ``subset=None`` (a head timm cannot name, e.g. a random test model with an odd class
    count) gives ``class_0 .. class_{n-1}``.
    """
    if subset is None:
        ids = tuple(str(i) for i in range(num_classes))
        names = tuple(f"class_{i}" for i in range(num_classes))
        return LabelSpace("unknown", ids, names, names)
    from timm.data import ImageNetInfo

    try:
        info = ImageNetInfo(subset)
    except Exception as e:  # timm raises assorted errors for unknown subsets
        raise ConfigError(f"unknown label space {subset!r} ({e})") from None
    if info.num_classes() != num_classes:
        raise ConfigError(
            f"classifier has {num_classes} outputs but label space {subset!r} has {info.num_classes()}"
        )
    synsets = tuple(info.label_names())
    descriptions = tuple(info.index_to_description(i) for i in range(num_classes))
    first = [d.split(",")[0].strip() for d in descriptions]
    counts: dict[str, int] = {}
    for n in first:
        counts[n] = counts.get(n, 0) + 1
    names = tuple(n if counts[n] == 1 else f"{n} ({s})" for n, s in zip(first, synsets))
    return LabelSpace(subset, synsets, names, descriptions)


def label_space_for_model(model: str) -> LabelSpace:
    """The label space of a timm classifier, from its pretrained config (no weights loaded).

    ``model`` may also be a preset name (``lite``: its classifier) or a label space name
    (``imagenet-1k``, ``imagenet-22k``, ...).
    """
    from autolabel.config import PRESETS

    if model in PRESETS:
        model = PRESETS[model].classifier
    from timm.data import ImageNetInfo, infer_imagenet_subset

    try:
        info = ImageNetInfo(model)
    except AssertionError:
        pass
    else:
        return get_label_space(model, info.num_classes())
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(model)
    except Exception:  # timm raises various errors for malformed names
        cfg = None
    if cfg is None:
        raise ConfigError(
            f"--model {model!r}: not a timm model with pretrained weights, a preset or an ImageNet label space"
        )
    num_classes = int(getattr(cfg, "num_classes", 0) or 0)
    subset = infer_imagenet_subset({"num_classes": num_classes})
    if subset is None:
        raise ConfigError(f"--model {model!r}: its {num_classes} outputs are not an ImageNet label space timm knows")
    return get_label_space(subset, num_classes)


@functools.lru_cache(maxsize=8)
def space_coverage(space: LabelSpace) -> dict[str, tuple[int, ...]]:
    """Every WordNet synset with model classes at or below it -> their indices (cached)."""
    from autolabel.vocabulary.wordnet import get_wordnet

    return get_wordnet().coverage(space.synsets)
