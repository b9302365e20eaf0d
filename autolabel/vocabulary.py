"""Class names: classifier index -> WordNet synset -> readable name, and the run's class list.

The classifier outputs probabilities over a *label space* (ImageNet-22k: 21,841 synsets;
ImageNet-1k: 1,000). A :class:`Labeler` turns one probability row per box into the box's
``label``, ``label_id``, ``score`` and ``topk``, or ``None`` to drop the box.

Names and synsets come from timm's bundled :class:`timm.data.ImageNetInfo`; nothing is
downloaded.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Sequence

import torch

from autolabel.errors import ConfigError
from autolabel.types import Alternative

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelResult:
    """The naming of one box: best class, its probability and the alternatives (best first)."""

    label: str
    label_id: str
    score: float
    topk: tuple[Alternative, ...]


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


class Labeler:
    """Names boxes from classifier probabilities, with the classifier's own labels.

    Attributes:
        classes: the run's fixed class list, or ``None`` when the classes are whatever labels
            occur (the run store then lists them sorted by name).
    """

    def __init__(self, space: LabelSpace, topk: int = 5) -> None:
        self.space = space
        self.topk = max(1, min(int(topk), len(space)))
        self.classes: tuple[str, ...] | None = None

    def label(self, probs: torch.Tensor) -> list[LabelResult | None]:
        """One result per row of ``probs`` (B, C) float probabilities (rows sum to 1)."""
        if probs.ndim != 2 or probs.shape[1] != len(self.space):
            raise ValueError(f"expected probabilities of shape (B, {len(self.space)}), got {tuple(probs.shape)}")
        values, indices = probs.float().topk(self.topk, dim=1)
        out: list[LabelResult | None] = []
        for vals, idxs in zip(values.tolist(), indices.tolist()):
            alts = tuple(
                Alternative(self.space.names[i], self.space.synsets[i], min(max(v, 0.0), 1.0)) for v, i in zip(vals, idxs)
            )
            out.append(LabelResult(alts[0].label, alts[0].label_id, alts[0].score, alts))
        return out


def build_labeler(space: LabelSpace, vocabulary: str | None = None, topk: int = 5) -> Labeler:
    """The labeler for a run: the classifier's own labels, or a user vocabulary's.

    Args:
        space: the classifier's label space.
        vocabulary: ``None`` for the classifier's labels; otherwise a vocabulary YAML path or a
            comma-separated class list (mapped through WordNet).
        topk: alternatives kept per box.
    """
    if vocabulary is None:
        return Labeler(space, topk)
    raise ConfigError("class vocabularies are not available in this version")


def names_for(space: LabelSpace, indices: Sequence[int]) -> list[str]:
    """Readable names of class ``indices``."""
    return [space.names[i] for i in indices]
