"""A vocabulary resolved against a label space: which model classes belong to which user class."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from autolabel.errors import ConfigError
from autolabel.vocabulary.resolve import Resolution, resolve_term
from autolabel.vocabulary.space import LabelSpace, space_coverage
from autolabel.vocabulary.spec import Vocabulary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassMapping:
    """One user class resolved against the label space.

    Attributes:
        name: the user class.
        resolutions: how each term was read.
        synsets: the synsets defining it (deduplicated, in order).
        indices: model class indices that belong to it, ascending.
        ceded: other user class -> how many model classes below this class's synsets went to
            that class (it has a more specific synset above them, or wins an ambiguity).
    """

    name: str
    resolutions: tuple[Resolution, ...]
    synsets: tuple[str, ...]
    indices: tuple[int, ...]
    ceded: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledVocabulary:
    """A vocabulary resolved against one label space.

    Attributes:
        vocabulary: as written.
        space: the classifier's label space.
        classes: one mapping per user class, in order.
        owner: for each model class, the index of the user class it belongs to, or -1.
        problems: what makes the vocabulary unusable (empty when it is fine).
        ambiguous: ``(model class index, winner, loser)`` for model classes below synsets of two
            user classes neither of which is a hyponym of the other (WordNet is a DAG: a
            greyhound is a "dog" and a "racer"); the nearer synset's class wins, then the class
            listed first.
    """

    vocabulary: Vocabulary
    space: LabelSpace
    classes: tuple[ClassMapping, ...]
    owner: tuple[int, ...]
    problems: tuple[str, ...]
    ambiguous: tuple[tuple[int, str, str], ...]

    @property
    def run_classes(self) -> tuple[str, ...]:
        """The run's class list: user classes in order, then the catch-all when used."""
        names = self.vocabulary.names
        return names + (self.vocabulary.other,) if self.vocabulary.unmapped == "other" else names

    def unmapped_count(self) -> int:
        """Model classes that belong to no user class."""
        return sum(1 for o in self.owner if o < 0)

    def to_dict(self) -> dict[str, Any]:
        """The whole resolution as JSON (what ``autolabel classes show --json`` prints): the
        vocabulary's settings, per class its synsets, model classes, ceded counts and how each
        term was read, then the classes covering nothing and the problems."""
        v, space = self.vocabulary, self.space
        return {
            "source": v.source,
            "label_space": space.subset,
            "model_classes": len(space),
            "unmapped": v.unmapped,
            "min_score": v.min_score,
            "run_classes": list(self.run_classes),
            "classes": [
                {
                    "name": c.name,
                    "synsets": list(c.synsets),
                    "covers": len(c.indices),
                    "model_classes": [space.names[i] for i in c.indices],
                    "ceded": dict(c.ceded),
                    "terms": [r.to_dict() for r in c.resolutions],
                }
                for c in self.classes
            ],
            "not_covered": [c.name for c in self.classes if not c.indices],
            "unmapped_model_classes": self.unmapped_count(),
            "problems": list(self.problems),
        }


def compile_vocabulary(vocabulary: Vocabulary, space: LabelSpace, *, strict: bool = True) -> CompiledVocabulary:
    """Resolve every term and assign each model class to at most one user class.

    Raises:
        ConfigError: when ``strict`` and the vocabulary has problems (a term that cannot be
            used, a synset under two classes, a class that covers no model class), listing all.
    """
    from autolabel.vocabulary.wordnet import get_wordnet

    if space.subset == "unknown":
        raise ConfigError(
            f"{vocabulary.source}: a class vocabulary needs an ImageNet classifier (its outputs are WordNet synsets); "
            f"this classifier's {len(space)} outputs are not a known label space"
        )
    wn = get_wordnet()
    cov = space_coverage(space)
    problems: list[str] = []
    resolved: list[tuple[Resolution, ...]] = []
    synsets: list[tuple[str, ...]] = []
    owner_of_synset: dict[str, int] = {}
    for k, spec in enumerate(vocabulary.classes):
        res = tuple(resolve_term(t, space) for t in spec.terms)
        resolved.append(res)
        ids: list[str] = []
        for r in res:
            if r.chosen is None:
                problems.append(f"class {spec.name!r}: {r.describe()}")
                continue
            s = r.chosen.synset
            if s in ids:
                continue
            prev = owner_of_synset.get(s)
            if prev is not None and prev != k:
                problems.append(
                    f"synset {s} ({r.chosen.name}) is in both {vocabulary.classes[prev].name!r} and {spec.name!r}; keep it in one"
                )
                continue
            owner_of_synset[s] = k
            ids.append(s)
        synsets.append(tuple(ids))

    # each model class below some chosen synset goes to the most specific one's class
    owner = [-1] * len(space)
    reach: dict[int, set[int]] = {}  # model index -> user classes with a synset above it
    candidates = sorted({i for s in owner_of_synset for i in cov.get(s, ())})
    ambiguous: list[tuple[int, str, str]] = []
    for i in candidates:
        above = {a: d for a, d in wn.hypernym_distances(space.synsets[i]).items() if a in owner_of_synset}
        reach[i] = {owner_of_synset[a] for a in above}
        # a synset that is a hypernym of another candidate is less specific: it yields
        specific = {a: d for a, d in above.items() if not any(b != a and a in wn.ancestors(b) for b in above)}
        best = min(specific, key=lambda a: (specific[a], owner_of_synset[a]))
        owner[i] = owner_of_synset[best]
        for a in specific:
            k = owner_of_synset[a]
            if k != owner[i]:
                ambiguous.append((i, vocabulary.classes[owner[i]].name, vocabulary.classes[k].name))

    mappings: list[ClassMapping] = []
    for k, spec in enumerate(vocabulary.classes):
        indices = tuple(i for i in candidates if owner[i] == k)
        ceded: dict[str, int] = {}
        for i in candidates:
            if k in reach[i] and owner[i] != k:
                other = vocabulary.classes[owner[i]].name
                ceded[other] = ceded.get(other, 0) + 1
        mappings.append(ClassMapping(spec.name, resolved[k], synsets[k], indices, ceded))
        if synsets[k] and not indices:
            why = f" (all went to {', '.join(sorted(ceded))})" if ceded else ""
            problems.append(f"class {spec.name!r} covers none of the model's {len(space)} classes{why}")
    pairs: dict[tuple[str, str], list[str]] = {}
    for i, winner, loser in ambiguous:
        pairs.setdefault((winner, loser), []).append(space.names[i])
    for (winner, loser), names in pairs.items():
        log.warning(
            "%s: %d model class(es) lie below synsets of both %r and %r, neither more specific (e.g. %s); "
            "they go to %r (the nearer synset, or the class listed first)",
            vocabulary.source, len(names), winner, loser, ", ".join(names[:3]), winner,
        )
    compiled = CompiledVocabulary(vocabulary, space, tuple(mappings), tuple(owner), tuple(problems), tuple(ambiguous))
    if strict and problems:
        raise ConfigError(f"{vocabulary.source}: " + "\n  ".join(problems))
    return compiled
