"""A project's label values, placed onto the classifier's classes as ``--classes`` places them.

Each label is a user class defined by its terms (:class:`~.labeling.Label`): a word resolved
through WordNet, or a synset id; the class covers every classifier class below it
(:mod:`autolabel.vocabulary`). A box that is none of the labels is dropped, so every region
carries a label of the config. A label that cannot be placed (a word WordNet does not know,
a synset with no classifier class below it, or one whose classes all go to another label)
is *unplaced*: it is reported once, and gets no regions; the others work as usual.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from autolabel.integrations.labelstudio.labeling import Label
from autolabel.names import class_name_problem
from autolabel.vocabulary import ClassSpec, LabelSpace, Vocabulary, compile_vocabulary


@dataclass(frozen=True)
class LabelMap:
    """The labels of a project against one label space.

    Attributes:
        placed: labels that name boxes, in config order, each with the terms that define it
            (terms that could not be read are left out and reported in :attr:`notes`).
        unplaced: label -> why it gets no regions.
        notes: terms dropped from a placed label, one line each.
        min_score: a box whose summed probability for its best label is lower is dropped.
    """

    placed: tuple[ClassSpec, ...]
    unplaced: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    min_score: float = 0.0

    @property
    def vocabulary(self) -> Vocabulary | None:
        """The vocabulary of the placed labels (unmapped boxes dropped); None when none is placed."""
        if not self.placed:
            return None
        return Vocabulary(self.placed, unmapped="drop", min_score=self.min_score, source="the labeling config")

    def key(self) -> str:
        """A stable text of what decides the labels (for the model version and caches)."""
        return json.dumps({"placed": [[c.name, list(c.terms)] for c in self.placed], "min_score": self.min_score},
                          sort_keys=True, ensure_ascii=True)

    def to_dict(self) -> dict[str, object]:
        return {"placed": [c.name for c in self.placed], "unplaced": dict(self.unplaced), "notes": list(self.notes)}


def _why_not(spec: ClassSpec, mapping: object, space_size: int) -> str:
    resolutions = getattr(mapping, "resolutions", ())
    failed = [r.describe() for r in resolutions if r.chosen is None]
    if failed and len(failed) == len(resolutions):
        return "; ".join(failed)
    ceded = getattr(mapping, "ceded", {})
    if ceded:
        return f"all the classifier classes below it go to {', '.join(sorted(ceded))}"
    return f"no class of the classifier's {space_size} lies below {', '.join(spec.terms)}"


def map_labels(labels: Sequence[Label], space: LabelSpace, min_score: float = 0.0) -> LabelMap:
    """Place ``labels`` onto ``space``: which labels name boxes, and why the others cannot.

    Never raises for a label; a label space that is not ImageNet's (a random test model) places
    nothing, every label being unplaced with the reason.
    """
    from autolabel.errors import ConfigError

    unplaced: dict[str, str] = {}
    specs: list[ClassSpec] = []
    for lab in labels:
        problem = class_name_problem(lab.value)
        if problem is not None:
            unplaced[lab.value] = problem
        else:
            specs.append(ClassSpec(lab.value, lab.terms))
    notes: list[str] = []
    # Dropping a label (or a term) can change which classes the others own: repeat until stable.
    for _ in range(len(specs) + 1):
        if not specs:
            break
        try:
            compiled = compile_vocabulary(Vocabulary(tuple(specs), source="the labeling config"), space, strict=False)
        except ConfigError as e:  # not an ImageNet label space: nothing can be placed
            unplaced.update({s.name: str(e) for s in specs})
            specs = []
            break
        kept: list[ClassSpec] = []
        changed = False
        for spec, c in zip(specs, compiled.classes):
            if not c.indices:
                unplaced[spec.name] = _why_not(spec, c, len(space))
                changed = True
                continue
            terms = tuple(t for t, r in zip(spec.terms, c.resolutions) if r.chosen is not None)
            if terms != spec.terms:
                notes += [f"label {spec.name!r}: {r.describe()}" for r in c.resolutions if r.chosen is None]
                changed = True
            kept.append(ClassSpec(spec.name, terms))
        specs = kept
        if not changed:
            break
    return LabelMap(tuple(specs), unplaced, tuple(dict.fromkeys(notes)), min_score)
