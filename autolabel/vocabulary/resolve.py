"""Reading one term of a class definition (a synset id, ``cat.n.01`` or a word) as a WordNet sense."""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from autolabel.vocabulary.space import LabelSpace, space_coverage

if TYPE_CHECKING:  # pragma: no cover
    from autolabel.vocabulary.wordnet import WordNet


@dataclass(frozen=True)
class Sense:
    """A WordNet noun synset as a candidate meaning of a term.

    Attributes:
        synset: wnid.
        sense: the word's sense number (1 = most frequent), or None when named by id.
        name: the synset's lemmas, comma-separated.
        definition: WordNet's definition.
        covers: how many of the model's classes lie at or below it.
    """

    synset: str
    sense: int | None
    name: str
    definition: str
    covers: int

    def describe(self) -> str:
        num = f"sense {self.sense} " if self.sense is not None else ""
        return f"{num}{self.synset} ({self.name}: {self.definition}) covers {self.covers}"


@dataclass(frozen=True)
class Resolution:
    """How one term of a class definition was read.

    Attributes:
        term: as written.
        chosen: the synset taken, or None when the term could not be used.
        others: the word's other noun senses (WordNet order) that are ImageNet classes or
            their ancestors (a word's remaining senses cover no model class in any space).
        lemma: the word whose sense was taken (after plural -> singular, or the word's other
            number form when its own senses cover no model class), or None for a synset id.
        error: why the term cannot be used (None when it can).
    """

    term: str
    chosen: Sense | None
    others: tuple[Sense, ...] = ()
    lemma: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The term, the synset and sense taken (None if none), the other senses, the error and
        the one-line description."""
        return {
            "term": self.term,
            "synset": self.chosen.synset if self.chosen else None,
            "sense": self.chosen.sense if self.chosen else None,
            "other_senses": [{"synset": o.synset, "sense": o.sense, "covers": o.covers} for o in self.others],
            "error": self.error,
            "text": self.describe(),
        }

    def describe(self) -> str:
        """One line: what was taken, which other senses exist."""
        if self.chosen is None:
            return f"{self.term!r}: {self.error}"
        if self.lemma is None:
            text = f"{self.term!r} -> {self.chosen.describe()}"
        else:
            word = self.term if normalize_lemma(self.term) == self.lemma else f"{self.term} ({self.lemma})"
            text = f"{word!r} -> {self.chosen.describe()}"
        if self.others:
            text += "; other senses: " + "; ".join(o.describe() for o in self.others)
        return text


def normalize_lemma(word: str) -> str:
    from autolabel.vocabulary.wordnet import normalize_word

    return normalize_word(word)


@functools.lru_cache(maxsize=8)
def _covering_words(space: LabelSpace) -> tuple[str, ...]:
    from autolabel.vocabulary.wordnet import get_wordnet

    wn = get_wordnet()
    cov = space_coverage(space)
    return tuple(sorted(w for w in wn.words() if any(s in cov for s, _ in wn.senses(w))))


def nearest_words(word: str, space: LabelSpace, n: int = 5) -> list[str]:
    """Words close in spelling to ``word`` that have a sense covering a model class."""
    from autolabel.vocabulary.wordnet import normalize_word

    return difflib.get_close_matches(normalize_word(word), _covering_words(space), n=n, cutoff=0.7)


def _sense(wn: WordNet, wnid: str, sense: int | None, cov: Mapping[str, tuple[int, ...]]) -> Sense:
    s = wn.synset(wnid)
    return Sense(wnid, sense, ", ".join(s.lemmas), s.definition, len(cov.get(wnid, ())))


def resolve_term(term: str, space: LabelSpace) -> Resolution:
    """Read one term of a class definition against the model's label space.

    * ``n02121808``: that synset;
    * ``cat.n.01``: sense 1 of the noun "cat";
    * a word ("cat", "cats", "Granny Smith"): of its WordNet noun senses, the first (WordNet's
      sense order) with at least one model class at or below it; when none has, the same for
      its other number forms (:meth:`~autolabel.vocabulary.wordnet.WordNet.inflections`:
      "cow" is read as "cows", i.e. cattle, whose senses cover the model's "ox").

    A term that names nothing, or only synsets with no model class below them, gets an
    ``error`` (with the nearest words that would work, for an unknown word).
    """
    from autolabel.vocabulary.wordnet import SENSE_KEY_RE, get_wordnet, is_wnid

    wn = get_wordnet()
    cov = space_coverage(space)
    n_model = len(space)
    t = term.strip()
    if is_wnid(t.lower()):
        wnid = t.lower()
        if wnid not in wn:
            return Resolution(term, None, error="not an ImageNet class or hypernym of one in WordNet 3.0, so it covers no model class")
        sense = _sense(wn, wnid, None, cov)
        err = None if sense.covers else f"covers none of the model's {n_model} classes ({sense.name}: {sense.definition})"
        return Resolution(term, sense if not err else None, error=err)

    m = SENSE_KEY_RE.match(t)
    if m:
        lemma, senses = wn.lookup(m.group("word"))
        number = int(m.group("sense"))
        all_senses = tuple(_sense(wn, s, k, cov) for s, k in senses)
        hit = [s for s in all_senses if s.sense == number]
        if not hit:
            have = ", ".join(f"{lemma.replace(' ', '_')}.n.{s.sense:02d}" for s in all_senses) or "none"
            return Resolution(
                term, None, all_senses, lemma,
                error=f"sense {number} of {lemma!r} is not an ImageNet class or a hypernym of one, so it covers no "
                f"model class (senses that are: {have})",
            )
        chosen = hit[0]
        others = tuple(s for s in all_senses if s is not chosen)
        if not chosen.covers:
            return Resolution(term, None, others, lemma, error=f"{chosen.describe()} of the model's {n_model} classes")
        return Resolution(term, chosen, others, lemma)

    lemma, senses = wn.lookup(t)
    all_senses = tuple(_sense(wn, s, k, cov) for s, k in senses)
    chosen_or_none = next((s for s in all_senses if s.covers), None)
    if chosen_or_none is None:
        # Singular or plural: "cow" has no sense with a model class below it, "cows" (cattle)
        # has; take the first other number form of the word whose senses cover one.
        for form in wn.inflections(lemma):
            form_senses = tuple(_sense(wn, s, k, cov) for s, k in wn.lookup(form)[1])
            hit = next((s for s in form_senses if s.covers), None)
            if hit is not None:
                return Resolution(term, hit, tuple(s for s in form_senses if s is not hit), form)
    if not senses:
        near = nearest_words(t, space)
        hint = f"; nearest: {', '.join(near)}" if near else ""
        return Resolution(term, None, (), None, error=f"not a WordNet noun with an ImageNet class below it{hint}")
    if chosen_or_none is None:
        near = [w for w in nearest_words(t, space) if w != lemma]
        hint = f"; nearest words that do: {', '.join(near)}" if near else ""
        listed = "; ".join(s.describe() for s in all_senses)
        return Resolution(
            term, None, all_senses, lemma,
            error=f"none of its senses covers a class of the model's {space.subset} label space ({listed}){hint}; "
            "name a synset with `autolabel classes search`",
        )
    return Resolution(term, chosen_or_none, tuple(s for s in all_senses if s is not chosen_or_none), lemma)


@dataclass(frozen=True)
class SynsetMatch:
    """A WordNet noun synset found by :func:`search_synsets`.

    Attributes:
        id: wnid; sense: its sense name (``cat.n.01``), usable in a vocabulary like the id;
        depth: hypernym edges below WordNet's root; covers: model classes at or below it;
        names: its lemmas; definition: WordNet's gloss.
    """

    id: str
    sense: str
    depth: int
    covers: int
    names: tuple[str, ...]
    definition: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sense": self.sense, "depth": self.depth, "covers": self.covers,
                "names": list(self.names), "definition": self.definition}


def _matched_lemma(lemmas: tuple[str, ...], text: str) -> int:
    t = " ".join(text.replace("_", " ").split()).lower()
    for i, w in enumerate(lemmas):
        if w.lower() == t:
            return i
    for i, w in enumerate(lemmas):
        if t in w.lower():
            return i
    return 0


def search_synsets(text: str, space: LabelSpace, *, covering: bool = False) -> list[SynsetMatch]:
    """Noun synsets whose id is ``text`` or one of whose words contains it (exact word matches
    first, in WordNet's sense order), with how many of ``space``'s classes each covers;
    ``covering`` keeps only those that cover at least one."""
    from autolabel.vocabulary.wordnet import get_wordnet

    wn = get_wordnet()
    cov = space_coverage(space)
    out = []
    for wnid in wn.search(text):
        n = len(cov.get(wnid, ()))
        if covering and n == 0:
            continue
        s = wn.synset(wnid)
        out.append(SynsetMatch(wnid, s.sense_name(_matched_lemma(s.lemmas, text)), wn.depth(wnid), n,
                               tuple(s.lemmas), s.definition))
    return out
