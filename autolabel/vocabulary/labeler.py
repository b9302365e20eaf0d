"""Labelers: classifier probabilities -> each box's label, score and alternatives."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autolabel.types import Alternative
from autolabel.vocabulary.compile import CompiledVocabulary, compile_vocabulary
from autolabel.vocabulary.resolve import Resolution
from autolabel.vocabulary.space import LabelSpace
from autolabel.vocabulary.spec import Vocabulary, parse_vocabulary

if TYPE_CHECKING:  # torch is imported only when a labeler labels
    import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelResult:
    """The naming of one box: best class, its probability and the alternatives (best first)."""

    label: str
    label_id: str
    score: float
    topk: tuple[Alternative, ...]


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

    def _check(self, probs: torch.Tensor) -> None:
        if probs.ndim != 2 or probs.shape[1] != len(self.space):
            raise ValueError(f"expected probabilities of shape (B, {len(self.space)}), got {tuple(probs.shape)}")

    def alternatives(self, probs: torch.Tensor) -> list[tuple[Alternative, ...]]:
        """The classifier's own top-k (label, synset, probability) per row, best first."""
        self._check(probs)
        values, indices = probs.float().topk(self.topk, dim=1)
        return [
            tuple(Alternative(self.space.names[i], self.space.synsets[i], min(max(v, 0.0), 1.0)) for v, i in zip(vals, idxs))
            for vals, idxs in zip(values.tolist(), indices.tolist())
        ]

    def label(self, probs: torch.Tensor) -> list[LabelResult | None]:
        """One result per row of ``probs`` (B, C) float probabilities (rows sum to 1)."""
        out: list[LabelResult | None] = []
        for alts in self.alternatives(probs):
            out.append(LabelResult(alts[0].label, alts[0].label_id, alts[0].score, alts))
        return out

    def describe(self) -> dict[str, Any] | None:
        """What the manifest may record about the vocabulary (None: the classifier's labels)."""
        return None


class VocabularyLabeler(Labeler):
    """Names boxes with the user's classes (see the module docstring for the rules).

    ``label`` gives, per box: ``label`` = ``label_id`` = the user class, ``score`` = its summed
    probability capped at the classifier's own top-1 probability (:func:`capped_score`),
    ``topk`` = the classifier's own fine-grained top-k; or, for an unmapped box, ``None``
    (``drop``), the best classifier class outside the user's classes with its own probability
    (``keep``; its name gets its synset appended if it equals a user class name), or the
    catch-all class with the probability of none of the classes, capped the same way (``other``).
    """

    def __init__(self, compiled: CompiledVocabulary, topk: int = 5) -> None:
        import torch

        super().__init__(compiled.space, topk)
        self.compiled = compiled
        self.vocabulary = compiled.vocabulary
        self.classes = compiled.run_classes
        owner = torch.tensor(compiled.owner, dtype=torch.long)
        k = len(self.vocabulary.classes)
        self._column = torch.where(owner >= 0, owner, k)  # (C,) score column of each model class
        self._unmapped = (owner < 0).nonzero().squeeze(1)
        self._mapped_synsets = frozenset(s for s, o in zip(compiled.space.synsets, compiled.owner) if o >= 0)
        taken = set(self.classes)
        self._keep_names = tuple(
            f"{n} ({s})" if n in taken else n for n, s in zip(compiled.space.names, compiled.space.synsets)
        )

    def class_scores(self, probs: torch.Tensor) -> torch.Tensor:
        """(B, K+1) float64: each user class's summed probability, then the probability of
        none of them (the sum over model classes outside every user class)."""
        import torch

        self._check(probs)
        p = probs.detach().to("cpu", dtype=torch.float64)
        out = torch.zeros(p.shape[0], len(self.vocabulary.classes) + 1, dtype=torch.float64)
        return out.index_add_(1, self._column, p)  # sequential on the CPU: deterministic

    def best_outside(self, probs: torch.Tensor) -> list[tuple[float, int]]:
        """Per row: the probability and index of the best classifier class that belongs to no
        user class (``(0.0, -1)`` when every class belongs to one)."""
        import torch

        self._check(probs)
        if not len(self._unmapped):
            return [(0.0, -1)] * probs.shape[0]
        v, j = probs.detach().to("cpu", dtype=torch.float64)[:, self._unmapped].max(dim=1)
        return [(float(a), int(self._unmapped[b])) for a, b in zip(v.tolist(), j.tolist())]

    def label(self, probs: torch.Tensor) -> list[LabelResult | None]:
        """One result (or None = drop the box) per row of ``probs`` (B, C) probabilities.

        A box is *mapped* to its best user class (largest summed probability; ties: the class
        listed first) when that sum is positive, at least ``min_score``, and either one of the
        classifier's top-k classes (the stored alternatives, with a probability above 0)
        belongs to a user class, or the sum is at least the probability of every single
        classifier class outside the user's classes. Otherwise the ``unmapped`` policy names it.
        The sum picks the class; the box's score is the sum capped at the row's top-1
        probability (:func:`capped_score`).
        """
        alts = self.alternatives(probs)
        scores = self.class_scores(probs).tolist()
        outside = self.best_outside(probs)
        vocab = self.vocabulary
        k = len(vocab.classes)
        out: list[LabelResult | None] = []
        for row, row_alts in enumerate(alts):
            s = scores[row]
            best = max(range(k), key=lambda c: (s[c], -c))  # ties: the class listed first
            score, rest = s[best], s[k]
            alt_p, alt_i = outside[row]
            named = any(a.score > 0.0 and a.label_id in self._mapped_synsets for a in row_alts)
            top1 = row_alts[0].score
            if score > 0.0 and score >= vocab.min_score and (named or score >= alt_p):
                name = vocab.classes[best].name
                out.append(LabelResult(name, name, capped_score(score, top1), row_alts))
            elif vocab.unmapped == "other":
                out.append(LabelResult(vocab.other, vocab.other, capped_score(rest, top1), row_alts))
            elif vocab.unmapped == "keep" and alt_i >= 0:
                out.append(LabelResult(self._keep_names[alt_i], self.space.synsets[alt_i], _unit(alt_p), row_alts))
            else:
                out.append(None)
        return out

    def describe(self) -> dict[str, Any]:
        """The vocabulary as resolved: source, policy, and each class's synsets."""
        v = self.vocabulary
        return {
            "source": v.source,
            "unmapped": v.unmapped,
            "min_score": v.min_score,
            "other": v.other if v.unmapped == "other" else None,
            "classes": {c.name: list(c.synsets) for c in self.compiled.classes},
        }


def _unit(v: float) -> float:
    return min(max(float(v), 0.0), 1.0)


def capped_score(summed: float, top1: float) -> float:
    """The score of a box named with a user class: its ``summed`` probability over the class's
    model classes, at most the classifier's unrestricted ``top1`` probability; in ``[0, 1]``.

    The sum picks the label, but as a confidence it rewards a spread-out, unsure row: a crop of
    sky at giant schnauzer 0.49 with the rest over a hundred other breeds sums to dog 0.71,
    above a real dog named beagle 0.70. A crop the classifier cannot place (background, a part
    of something) gives such flat rows; a real object gives a peaked one. Capping at the top-1
    keeps the classifier's own confidence as the ceiling, so a class list never scores a box
    above what it scored without one (with the classifier's labels the score is the top-1),
    and a box whose top-1 class is in its user class keeps exactly that score: a class list
    cannot lift a background box over an object that outranked it without the list.
    """
    return _unit(min(float(summed), float(top1)))


def build_labeler(space: LabelSpace, vocabulary: str | Vocabulary | None = None, topk: int = 5) -> Labeler:
    """The labeler for a run: the classifier's own labels, or a user vocabulary's.

    Args:
        space: the classifier's label space.
        vocabulary: ``None`` for the classifier's labels; otherwise a vocabulary YAML path or a
            comma-separated class list (mapped through WordNet), or a parsed :class:`Vocabulary`.
        topk: alternatives kept per box.

    Raises:
        ConfigError: the vocabulary cannot be read or does not fit the label space.
    """
    if vocabulary is None:
        return Labeler(space, topk)
    vocab = vocabulary if isinstance(vocabulary, Vocabulary) else parse_vocabulary(vocabulary)
    compiled = compile_vocabulary(vocab, space, strict=True)
    for c in compiled.classes:
        for r in c.resolutions:
            note = sense_note(r)
            if note is None:
                log.info("%s: class %r: %s", vocab.source, c.name, r.describe())
                continue
            message = f"{vocab.source}: class {c.name!r}: {note}"
            if message not in _WARNED:  # a run builds its labeler more than once: say it once
                _WARNED.add(message)
                log.warning("%s", message)
    return VocabularyLabeler(compiled, topk)


_WARNED: set[str] = set()
"""Warnings already given in this process (:func:`build_labeler`)."""


def sense_note(r: Resolution) -> str | None:
    """Why a word's reading deserves a warning, or None: a word read in another sense than its
    first (most frequent) one, because its earlier senses cover none of the model's classes
    ("cup" on ImageNet-1k is the punch, sense 6, not the drinking cup, sense 1)."""
    if r.chosen is None or r.lemma is None or r.chosen.sense in (None, 1):
        return None
    word = r.lemma.replace(" ", "_")
    return (f"{r.term!r} is read as sense {r.chosen.sense} of {r.lemma!r}, not its first sense, because "
            f"its senses before {r.chosen.sense} cover none of the model's classes: {r.describe()}. "
            f"If you mean another sense, name it ({word}.n.01, ...) or its synset id "
            f"(`autolabel classes search {r.lemma}`)")
