"""Is a box on an object, or on the background? Two cheap signals that score a labelled box
down (or drop it), measured on dev284's tune half (``docs/discovery-quality.md``):

* **backdrop geometry**: a box that touches at least ``background_sides`` of the image's four
  borders (:func:`border_sides`, within :data:`BORDER_TOLERANCE` of the side) while covering
  less than ``background_area`` of the image is a corner or a band of the photo's backdrop:
  sky, grass, a floor, a wall, the frame. On dev284's tune half such boxes matched an object
  about 1 time in 20, against 1 in 3 for boxes touching no border and 1 in 4 for boxes
  covering (nearly) the whole photo, which often is one large object.
* **scenery classes**: how much of the classifier's top-k probability goes to classes that
  name a scene or a surface, not an object (:func:`scenery_share`): ImageNet's geological
  formations (alp, cliff, seashore, lakeside, valley ...), shops and other establishments
  (bookshop, grocery store ...), fences and walls, window screens, web sites: the label
  space's synsets under :data:`SCENERY_ROOTS` in WordNet (:func:`scenery_synsets`).

Both read only what a record holds (its box, the image size, the top-k alternatives), so a
stored run can be re-scored the same way (:mod:`autolabel.tools.devset.sweep`), and both cost
nothing at annotation time: the class probabilities are already computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

BORDER_TOLERANCE = 0.02
"""A box touches a border when its edge lies within this share of the image's width (height)."""

SCENERY_ROOTS: tuple[str, ...] = (
    "n09287968",  # geological formation: alp, cliff, coral reef, geyser, lakeside, promontory, sandbar, seashore, valley, volcano
    "n03297735",  # establishment: shops (bookshop, grocery store, bakery ...), prison
    "n03327234",  # fence: chainlink fence, picket fence, stone wall, worm fence
    "n04589890",  # window screen
    "n06359193",  # web site
)
"""WordNet roots whose ImageNet classes name a scene or a surface rather than an object."""


@dataclass(frozen=True)
class BackgroundRule:
    """When a box counts as background, and what that costs its score.

    Attributes:
        sides: borders (of 4) a backdrop box touches at least.
        area: share of the image a backdrop box covers less than.
        penalty: a backdrop box's score is multiplied by this (0 drops it, 1 keeps it as is).
        max_scenery_share: a box whose top-k probability on scenery classes exceeds this is
            dropped (1.0 keeps every box).
    """

    sides: int = 2
    area: float = 0.6
    penalty: float = 1.0
    max_scenery_share: float = 1.0

    @classmethod
    def from_config(cls, cfg: Any) -> BackgroundRule:
        """The rule of a :class:`~autolabel.config.PipelineConfig` (``background_*`` settings)."""
        return cls(cfg.background_sides, cfg.background_area, cfg.background_penalty, cfg.max_scenery_share)

    @property
    def active(self) -> bool:
        return self.penalty < 1.0 or self.max_scenery_share < 1.0


def border_sides(box: Sequence[float], width: int, height: int, tolerance: float = BORDER_TOLERANCE) -> int:
    """How many image borders (0 to 4) the pixel box ``(x1, y1, x2, y2)`` touches."""
    x1, y1, x2, y2 = (float(v) for v in box)
    tx, ty = tolerance * width, tolerance * height
    return int(x1 <= tx) + int(y1 <= ty) + int(x2 >= width - tx) + int(y2 >= height - ty)


def area_share(box: Sequence[float], width: int, height: int) -> float:
    """The share of the ``width x height`` image the pixel box covers."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return max(0.0, x2 - x1) * max(0.0, y2 - y1) / float(width * height)


def is_backdrop(box: Sequence[float], width: int, height: int, sides: int, area: float) -> bool:
    """True for a box touching at least ``sides`` borders and covering less than ``area``."""
    return border_sides(box, width, height) >= sides and area_share(box, width, height) < area


@lru_cache(maxsize=8)
def _scenery(synsets: tuple[str, ...], roots: tuple[str, ...]) -> frozenset[str]:
    from autolabel.vocabulary.wordnet import get_wordnet

    wn = get_wordnet()
    want = set(roots)
    return frozenset(s for s in synsets if s in wn and (s in want or want & wn.ancestors(s)))


def scenery_synsets(synsets: Iterable[str], roots: Sequence[str] = SCENERY_ROOTS) -> frozenset[str]:
    """The synsets of a label space that lie under one of ``roots`` (or are one) in WordNet."""
    return _scenery(tuple(synsets), tuple(roots))


def scenery_share(topk: Iterable[Any], scenery: frozenset[str]) -> float:
    """The summed probability of the top-k alternatives (``label_id``, ``score``) in ``scenery``."""
    return float(sum(a.score for a in topk if a.label_id in scenery))


def background_score(score: float, box: Sequence[float], width: int, height: int, topk: Iterable[Any],
                     scenery: frozenset[str], rule: BackgroundRule) -> float | None:
    """``score`` as ``rule`` leaves it: None (drop the box) for scenery or a backdrop box when
    the penalty is 0, the score times the penalty for a backdrop box, else unchanged."""
    if rule.max_scenery_share < 1.0 and scenery_share(topk, scenery) > rule.max_scenery_share:
        return None
    if rule.penalty < 1.0 and is_backdrop(box, width, height, rule.sides, rule.area):
        return None if rule.penalty <= 0.0 else score * rule.penalty
    return score
