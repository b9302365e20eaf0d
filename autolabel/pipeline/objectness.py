"""Is a box on an object, or on the background? Cheap signals that score a labelled box down
(or drop it), measured on dev284's tune half (``docs/discovery-quality.md``):

* **scenery classes**: how much of the classifier's top-k probability goes to classes that
  name a scene, a surface or a built structure, not an object (:func:`scenery_share`):
  ImageNet's geological formations (alp, cliff, seashore, lakeside, valley ...), structures
  (buildings, bridges, fences and walls, doors, pedestals, fountains, docks ...), shops and
  other establishments, window screens, web sites: the label space's synsets under
  :data:`SCENERY_ROOTS` in WordNet (:func:`scenery_synsets`). A box's score is multiplied by
  ``(1 - share) ** scenery_power``: a crop the classifier calls "seashore" at 0.3 keeps 24 % of
  its score at power 4. On dev284's tune half, boxes with any scenery class in their top 5
  matched an object 1 time in 20, against 1 in 6 for the others. Above ``max_scenery_share``
  the box is dropped outright.
* **backdrop geometry**: a box that touches at least ``background_sides`` of the image's four
  borders (:func:`border_sides`, within :data:`BORDER_TOLERANCE` of the side) while covering
  less than ``background_area`` of the image is a corner or a band of the photo's backdrop:
  sky, grass, a floor, a wall, the frame. On dev284's tune half such boxes matched an object
  about 1 time in 20, against 1 in 3 for boxes touching no border and 1 in 4 for boxes
  covering (nearly) the whole photo, which often is one large object.
* **small boxes**: a box covering less than ``small_area`` of the image spans few cells of the
  extractor's feature grid (lite: a 40 x 30 grid at ``max_side`` 640, so 10 % of the image is
  about 120 cells); such regions are mostly parts of something or texture (tune half: 1 match
  in 17 for boxes of 2-10 % of the photo, 1 in 6 above).

Every factor lies in ``[0, 1]``, so the score stays in ``[0, 1]`` and only ever goes down.
All read only what a record holds (its box, the image size, the top-k alternatives), so a
stored run can be re-scored the same way (:mod:`autolabel.tools.devset.sweep`), and they cost
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
    "n04341686",  # structure: buildings, bridges, barriers (doors, fences, walls), pedestals, docks, fountains ...
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
        scenery_power: a box's score is multiplied by ``(1 - scenery share) ** scenery_power``
            (0 turns this off).
        small_area: a box covering less than this share of the image is small ...
        small_penalty: ... and its score is multiplied by this (1 turns this off).
    """

    sides: int = 2
    area: float = 0.6
    penalty: float = 1.0
    max_scenery_share: float = 1.0
    scenery_power: float = 0.0
    small_area: float = 0.0
    small_penalty: float = 1.0

    @classmethod
    def from_config(cls, cfg: Any) -> BackgroundRule:
        """The rule of a :class:`~autolabel.config.PipelineConfig` (``background_*``,
        ``max_scenery_share``, ``scenery_power``, ``small_area`` and ``small_penalty``)."""
        return cls(cfg.background_sides, cfg.background_area, cfg.background_penalty, cfg.max_scenery_share,
                   cfg.scenery_power, cfg.small_area, cfg.small_penalty)

    @property
    def active(self) -> bool:
        return self.penalty < 1.0 or self.uses_scenery or (self.small_penalty < 1.0 and self.small_area > 0.0)

    @property
    def uses_scenery(self) -> bool:
        """Whether the rule reads the scenery classes (callers look them up only then)."""
        return self.max_scenery_share < 1.0 or self.scenery_power > 0.0


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
    """``score`` as ``rule`` leaves it, in ``[0, score]``: None (drop the box) for more than
    ``max_scenery_share`` on scenery classes, or for a backdrop box when the penalty is 0;
    otherwise ``score`` times ``(1 - scenery share) ** scenery_power``, times the penalty for a
    backdrop box, times ``small_penalty`` for a box under ``small_area`` of the image."""
    if rule.uses_scenery:
        share = min(max(scenery_share(topk, scenery), 0.0), 1.0)
        if rule.max_scenery_share < 1.0 and share > rule.max_scenery_share:
            return None
        if rule.scenery_power > 0.0:
            score *= (1.0 - share) ** rule.scenery_power
    if rule.penalty < 1.0 and is_backdrop(box, width, height, rule.sides, rule.area):
        if rule.penalty <= 0.0:
            return None
        score *= rule.penalty
    if rule.small_penalty < 1.0 and area_share(box, width, height) < rule.small_area:
        score *= rule.small_penalty
    return score
