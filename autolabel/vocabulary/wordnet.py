"""WordNet 3.0 noun hierarchy of ImageNet's classes, read from the package's data file.

``autolabel/data/wordnet_imagenet.json.gz`` holds every noun synset that is a class of some
ImageNet label space timm ships (1k, 12k, 21k/22k variants) or a hypernym ancestor of one
(23,548 synsets): its direct hypernyms, its lemmas with their sense numbers, and its
definition; plus WordNet's irregular noun plurals for those lemmas. It is regenerated from the
WordNet 3.0 database by ``scripts/build_wordnet_hierarchy.py``; WordNet's licence is in
``autolabel/data/WORDNET_LICENSE``. Nothing is downloaded.

Synset ids are ImageNet's "wnids": ``"n"`` + the 8-digit offset in WordNet 3.0's
``data.noun`` (``n02121808`` = domestic cat). Hypernym edges include instance hypernyms.
Words are looked up case-insensitively with spaces (``"granny smith"``); underscores and
repeated spaces are normalised.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from collections import deque
from dataclasses import dataclass
from importlib import resources
from typing import Any, Iterable, Mapping, Sequence

DATA_FILE = "wordnet_imagenet.json.gz"
ROOT = "n00001740"
"""WordNet's single noun root, "entity"."""

WNID_RE = re.compile(r"^n\d{8}$")
SENSE_KEY_RE = re.compile(r"^(?P<word>.+)\.n\.(?P<sense>\d{1,3})$")
"""nltk-style sense names: ``cat.n.01`` is sense 1 of the noun "cat"."""

# WordNet's "morphy" detachment rules for nouns, tried in this order.
_NOUN_SUFFIXES = (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y"))


def normalize_word(word: str) -> str:
    """Lookup form of a word: lowercase, underscores as spaces, single spaces, trimmed."""
    return " ".join(word.replace("_", " ").split()).lower()


def is_wnid(text: str) -> bool:
    """True for a synset id such as ``n02121808``."""
    return bool(WNID_RE.match(text))


@dataclass(frozen=True)
class Synset:
    """One noun synset.

    Attributes:
        id: wnid (``n02121808``).
        lemmas: its words in WordNet's order, display case (``("domestic cat", "house cat", ...)``).
        senses: for each lemma, this synset's sense number among that word's noun senses (1 = the
            most frequent).
        definition: the gloss without its usage examples.
        parents: direct hypernyms (wnids).
    """

    id: str
    lemmas: tuple[str, ...]
    senses: tuple[int, ...]
    definition: str
    parents: tuple[str, ...]

    @property
    def name(self) -> str:
        """The first lemma ("domestic cat")."""
        return self.lemmas[0]

    def sense_name(self, lemma_index: int = 0) -> str:
        """nltk-style name of one lemma's sense: ``domestic_cat.n.01``."""
        return f"{self.lemmas[lemma_index].replace(' ', '_').lower()}.n.{self.senses[lemma_index]:02d}"


class WordNet:
    """The hierarchy and the word index of the shipped WordNet subset.

    Build with :func:`get_wordnet` (cached); ``WordNet(content)`` takes the decoded data file.
    """

    def __init__(self, content: Mapping[str, Any]) -> None:
        if content.get("format") != 1:
            raise ValueError(f"unsupported WordNet data format {content.get('format')!r}")
        self.source: Mapping[str, Any] = content.get("source", {})
        self._synsets: dict[str, Synset] = {}
        words: dict[str, list[tuple[int, str]]] = {}
        for wnid, (parents, lemmas, definition) in content["synsets"].items():
            self._synsets[wnid] = Synset(
                wnid, tuple(w for w, _ in lemmas), tuple(int(n) for _, n in lemmas), definition, tuple(parents)
            )
            for word, sense in lemmas:
                words.setdefault(normalize_word(word), []).append((int(sense), wnid))
        # lemma -> synsets in WordNet's sense order (only synsets of this subset)
        self._words: dict[str, tuple[tuple[str, int], ...]] = {
            w: tuple((s, n) for n, s in sorted(set(v))) for w, v in words.items()
        }
        self._exceptions: dict[str, tuple[str, ...]] = {
            normalize_word(k): tuple(normalize_word(b) for b in v) for k, v in content.get("noun_exceptions", {}).items()
        }
        children: dict[str, list[str]] = {}
        for s in self._synsets.values():
            for p in s.parents:
                children.setdefault(p, []).append(s.id)
        self._children = {k: tuple(sorted(v)) for k, v in children.items()}
        self._depth: dict[str, int] = {}

    # -- synsets ---------------------------------------------------------------------------
    def __contains__(self, wnid: object) -> bool:
        return wnid in self._synsets

    def __len__(self) -> int:
        return len(self._synsets)

    def ids(self) -> Iterable[str]:
        """Every synset id of the subset."""
        return self._synsets.keys()

    def synset(self, wnid: str) -> Synset:
        """The synset ``wnid``; ``KeyError`` if it is not in the subset."""
        return self._synsets[wnid]

    def children(self, wnid: str) -> tuple[str, ...]:
        """Direct hyponyms within the subset, sorted."""
        return self._children.get(wnid, ())

    def ancestors(self, wnid: str) -> frozenset[str]:
        """Every hypernym ancestor of ``wnid`` up to the root (``wnid`` itself excluded)."""
        return frozenset(self.hypernym_distances(wnid)) - {wnid}

    def hypernym_distances(self, wnid: str) -> dict[str, int]:
        """``wnid`` and each ancestor -> fewest hypernym edges from ``wnid`` to it (``wnid``: 0)."""
        dist = {wnid: 0}
        queue = deque([wnid])
        while queue:
            s = queue.popleft()
            for p in self._synsets[s].parents:
                if p not in dist:
                    dist[p] = dist[s] + 1
                    queue.append(p)
        return dist

    def descendants(self, wnid: str) -> frozenset[str]:
        """``wnid`` and every hyponym below it (within the subset)."""
        seen = {wnid}
        stack = [wnid]
        while stack:
            for c in self._children.get(stack.pop(), ()):
                if c not in seen:
                    seen.add(c)
                    stack.append(c)
        return frozenset(seen)

    def depth(self, wnid: str) -> int:
        """Fewest hypernym edges from ``wnid`` up to the root "entity" (root: 0)."""
        d = self._depth.get(wnid)
        if d is None:
            dist = self.hypernym_distances(wnid)
            d = dist.get(ROOT, max(dist.values()))
            self._depth[wnid] = d
        return d

    # -- words -----------------------------------------------------------------------------
    def senses(self, word: str) -> tuple[tuple[str, int], ...]:
        """``(wnid, sense number)`` of each noun sense of ``word`` (exact lemma), in WordNet's
        sense order. Only senses in the subset are listed (others cover no ImageNet class)."""
        return self._words.get(normalize_word(word), ())

    def lookup(self, word: str) -> tuple[str, tuple[tuple[str, int], ...]]:
        """The lemma a word reads as and its senses: the word itself, else its base form by
        WordNet's irregular plurals and noun suffix rules ("mice" -> "mouse", "cats" -> "cat").
        Returns ``(lemma, senses)``; ``senses`` is empty when nothing matched."""
        w = normalize_word(word)
        if w in self._words:
            return w, self._words[w]
        for base in self._exceptions.get(w, ()):
            if base in self._words:
                return base, self._words[base]
        for suffix, ending in _NOUN_SUFFIXES:
            if w.endswith(suffix) and len(w) > len(suffix):
                base = w[: -len(suffix)] + ending
                if base in self._words:
                    return base, self._words[base]
        return w, ()

    def inflections(self, word: str) -> tuple[str, ...]:
        """The word's other number forms that are lemmas here, singular first: its base forms
        (WordNet's irregular plurals and noun suffix rules, as :meth:`lookup` applies them),
        then its plurals (the irregular plurals whose base it is, then English rules on its
        last word: ``+s``, ``+es`` after s/x/z/ch/sh, consonant ``y`` -> ``ies``, ``f``/``fe``
        -> ``ves``, ``man`` -> ``men``). "cow" -> ("cows",), "cows" -> ("cow",), "mouse" ->
        ("mice",) where those are lemmas. The word itself is never included."""
        w = normalize_word(word)
        if not w:
            return ()
        found: list[str] = list(self._exceptions.get(w, ()))
        found += [w[: -len(suffix)] + ending for suffix, ending in _NOUN_SUFFIXES
                  if w.endswith(suffix) and len(w) > len(suffix)]
        found += [plural for plural, bases in self._exceptions.items() if w in bases]
        head, _, last = w.rpartition(" ")
        prefix = head + " " if head else ""
        plurals = [last + "s"]
        if last.endswith(("s", "x", "z", "ch", "sh")):
            plurals.append(last + "es")
        if len(last) > 1 and last.endswith("y") and last[-2] not in "aeiou":
            plurals.append(last[:-1] + "ies")
        if last.endswith("fe"):
            plurals.append(last[:-2] + "ves")
        elif last.endswith("f"):
            plurals.append(last[:-1] + "ves")
        if last.endswith("man"):
            plurals.append(last[:-3] + "men")
        found += [prefix + p for p in plurals]
        out: list[str] = []
        for form in found:
            if form != w and form in self._words and form not in out:
                out.append(form)
        return tuple(out)

    def words(self) -> Iterable[str]:
        """Every lemma (lookup form) of the subset."""
        return self._words.keys()

    def search(self, text: str) -> list[str]:
        """Synsets whose id equals ``text`` or one of whose lemmas contains it (case-insensitive).

        Order: exact lemma matches (in WordNet's sense order), then lemmas starting with the
        text, then lemmas containing it; each group sorted by the matching lemma, then id.
        """
        t = normalize_word(text)
        if not t:
            return []
        if is_wnid(t):
            return [t] if t in self._synsets else []
        rank: dict[str, tuple[int, str, int, str]] = {}
        for word, senses in self._words.items():
            if t not in word:
                continue
            group = 0 if word == t else 1 if word.startswith(t) else 2
            for wnid, sense in senses:
                key = (group, word if group else "", sense, wnid)
                if wnid not in rank or key < rank[wnid]:
                    rank[wnid] = key
        return sorted(rank, key=rank.__getitem__)

    # -- label spaces ----------------------------------------------------------------------
    def coverage(self, classes: Sequence[str]) -> dict[str, tuple[int, ...]]:
        """For a model's class list (``classes[i]`` = wnid of output ``i``): every synset of the
        subset that has at least one model class at or below it -> those class indices, sorted.
        Model classes that are not in the subset are ignored."""
        out: dict[str, list[int]] = {}
        for i, wnid in enumerate(classes):
            if wnid in self._synsets:
                for a in self.hypernym_distances(wnid):
                    out.setdefault(a, []).append(i)
        return {k: tuple(v) for k, v in out.items()}


def load_content() -> dict[str, Any]:
    """The decoded package data file."""
    with resources.files("autolabel").joinpath("data").joinpath(DATA_FILE).open("rb") as f:
        return json.loads(gzip.decompress(f.read()).decode("utf-8"))


@functools.lru_cache(maxsize=1)
def get_wordnet() -> WordNet:
    """The shipped WordNet subset (loaded once, ~0.2 s)."""
    return WordNet(load_content())
