"""Class names: classifier index -> WordNet synset -> readable name, and the run's class list.

The classifier outputs probabilities over a *label space* (ImageNet-22k: 21,841 synsets;
ImageNet-1k: 1,000). A :class:`Labeler` turns one probability row per box into the box's
``label``, ``label_id``, ``score`` and ``topk``, or ``None`` to drop the box.

Without a vocabulary the labels are the classifier's own. With one (a YAML file or a
``cat,dog`` list, see :func:`parse_vocabulary`) every box is named with one of the user's
classes through WordNet's hierarchy (:mod:`autolabel.wordnet`):

* each user class is a set of synsets, each meaning "this synset and every hyponym below it";
  words resolve to the first of their WordNet noun senses that has a model class below it;
* a box's score for a user class is the *sum* of the classifier's probabilities over the model
  classes below that class's synsets ("tabby" + "tiger cat" + "Egyptian cat" -> "cat");
* a model class below synsets of two user classes belongs to the more specific one ("beagle"
  goes to "dog", not to "animal", since dog is a hyponym of animal); where neither synset is
  below the other (WordNet is a DAG: a greyhound is a "dog" and a "racer") the nearer synset
  (fewest hypernym edges) wins, then the class listed first, with a warning; one synset listed
  under two classes is an error;
* the box takes its best user class when that class's summed probability is at least the
  vocabulary's ``min_score`` and the classifier points at the user's classes: one of its top-k
  classes (the alternatives stored with the box) belongs to a user class, or the class's sum
  is at least the probability of every single classifier class outside the user's classes
  (each of those is a competing answer: a photo of a horse is "sorrel", not a 0.5 % "dog");
  otherwise it is *unmapped* and the ``unmapped`` policy applies:
  ``drop`` it, ``keep`` that best classifier class outside the user's classes (with its own
  probability), or name it ``other`` (score: the summed probability of every classifier class
  outside the user's classes, i.e. that it is none of them).

Names and synsets come from timm's bundled :class:`timm.data.ImageNetInfo`; nothing is
downloaded.
"""

from __future__ import annotations

import difflib
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from autolabel.errors import ConfigError
from autolabel.types import Alternative

if TYPE_CHECKING:  # torch is imported only when a labeler labels
    import torch

    from autolabel.wordnet import WordNet

log = logging.getLogger(__name__)

UNMAPPED_POLICIES = ("drop", "keep", "other")
"""What happens to a box that is none of the user's classes."""
VOCABULARY_KEYS = ("classes", "unmapped", "min_score", "other")


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


# ---------------------------------------------------------------------------------------------
# Vocabulary files
# ---------------------------------------------------------------------------------------------


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
        if self.unmapped == "other" and self.other in seen:
            raise ConfigError(f"{where}: the catch-all class {self.other!r} is also a user class; rename one")

    @property
    def names(self) -> tuple[str, ...]:
        """User class names in order."""
        return tuple(c.name for c in self.classes)


def _yaml_loader() -> Any:
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """SafeLoader that refuses a mapping key given twice (PyYAML keeps the last silently)."""

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return UniqueKeyLoader


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
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"vocabulary {p}: file not found") from None
    except OSError as e:
        raise ConfigError(f"vocabulary {p}: cannot read it ({e.strerror or e})") from None
    try:
        data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ConfigError(f"vocabulary {p}: not valid YAML ({e})") from None
    return vocabulary_from_dict(data, source=f"vocabulary {p}")


def vocabulary_from_names(text: str) -> Vocabulary:
    """The quick form ``"cat,dog,apple"``: each name is a class defined by itself; unmapped
    boxes are dropped."""
    names = [n.strip() for n in text.split(",")]
    names = [n for n in names if n]
    return Vocabulary(tuple(ClassSpec(n, (n,)) for n in names), source="--classes")


def parse_vocabulary(spec: str) -> Vocabulary:
    """``cfg.vocabulary``: a YAML file (an existing file, or a name ending in .yaml/.yml) or a
    comma-separated class list."""
    p = Path(spec).expanduser()
    if p.suffix.lower() in (".yaml", ".yml") or p.is_file():
        return load_vocabulary(p)
    return vocabulary_from_names(spec)


# ---------------------------------------------------------------------------------------------
# Resolving a vocabulary against a label space
# ---------------------------------------------------------------------------------------------


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
        lemma: the word looked up (after plural -> singular), or None for a synset id.
        error: why the term cannot be used (None when it can).
    """

    term: str
    chosen: Sense | None
    others: tuple[Sense, ...] = ()
    lemma: str | None = None
    error: str | None = None

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
    from autolabel.wordnet import normalize_word

    return normalize_word(word)


@functools.lru_cache(maxsize=8)
def space_coverage(space: LabelSpace) -> dict[str, tuple[int, ...]]:
    """Every WordNet synset with model classes at or below it -> their indices (cached)."""
    from autolabel.wordnet import get_wordnet

    return get_wordnet().coverage(space.synsets)


@functools.lru_cache(maxsize=8)
def _covering_words(space: LabelSpace) -> tuple[str, ...]:
    from autolabel.wordnet import get_wordnet

    wn = get_wordnet()
    cov = space_coverage(space)
    return tuple(sorted(w for w in wn.words() if any(s in cov for s, _ in wn.senses(w))))


def nearest_words(word: str, space: LabelSpace, n: int = 5) -> list[str]:
    """Words close in spelling to ``word`` that have a sense covering a model class."""
    from autolabel.wordnet import normalize_word

    return difflib.get_close_matches(normalize_word(word), _covering_words(space), n=n, cutoff=0.7)


def _sense(wn: WordNet, wnid: str, sense: int | None, cov: Mapping[str, tuple[int, ...]]) -> Sense:
    s = wn.synset(wnid)
    return Sense(wnid, sense, ", ".join(s.lemmas), s.definition, len(cov.get(wnid, ())))


def resolve_term(term: str, space: LabelSpace) -> Resolution:
    """Read one term of a class definition against the model's label space.

    * ``n02121808``: that synset;
    * ``cat.n.01``: sense 1 of the noun "cat";
    * a word ("cat", "cats", "Granny Smith"): of its WordNet noun senses, the first (WordNet's
      sense order) with at least one model class at or below it.

    A term that names nothing, or only synsets with no model class below them, gets an
    ``error`` (with the nearest words that would work, for an unknown word).
    """
    from autolabel.wordnet import SENSE_KEY_RE, get_wordnet, is_wnid

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
    if not senses:
        near = nearest_words(t, space)
        hint = f"; nearest: {', '.join(near)}" if near else ""
        return Resolution(term, None, (), None, error=f"not a WordNet noun with an ImageNet class below it{hint}")
    all_senses = tuple(_sense(wn, s, k, cov) for s, k in senses)
    chosen_or_none = next((s for s in all_senses if s.covers), None)
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


def compile_vocabulary(vocabulary: Vocabulary, space: LabelSpace, *, strict: bool = True) -> CompiledVocabulary:
    """Resolve every term and assign each model class to at most one user class.

    Raises:
        ConfigError: when ``strict`` and the vocabulary has problems (a term that cannot be
            used, a synset under two classes, a class that covers no model class), listing all.
    """
    from autolabel.wordnet import get_wordnet

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


# ---------------------------------------------------------------------------------------------
# Labelers
# ---------------------------------------------------------------------------------------------


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
    probability, ``topk`` = the classifier's own fine-grained top-k; or, for an unmapped box,
    ``None`` (``drop``), the best classifier class outside the user's classes with its own
    probability (``keep``; its name gets its synset appended if it equals a user class name),
    or the catch-all class with the probability of none of the classes (``other``).
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
            if score > 0.0 and score >= vocab.min_score and (named or score >= alt_p):
                name = vocab.classes[best].name
                out.append(LabelResult(name, name, _unit(score), row_alts))
            elif vocab.unmapped == "other":
                out.append(LabelResult(vocab.other, vocab.other, _unit(rest), row_alts))
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
            if r.chosen is not None and r.lemma is not None and r.chosen.sense != 1:
                log.warning("%s: class %r: %s", vocab.source, c.name, r.describe())
            else:
                log.info("%s: class %r: %s", vocab.source, c.name, r.describe())
    return VocabularyLabeler(compiled, topk)


def names_for(space: LabelSpace, indices: Sequence[int]) -> list[str]:
    """Readable names of class ``indices``."""
    return [space.names[i] for i in indices]
