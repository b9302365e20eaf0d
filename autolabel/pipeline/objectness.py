"""Is a box on an object, or on the background? Two cheap signals a labelled box can be
dropped or scored down by, each measured on dev284's tune half (``docs/discovery-quality.md``):

* **border contact**: how many of the image's four borders the box touches
  (:func:`border_sides`, within :data:`BORDER_TOLERANCE` of the side). A box touching three
  or four borders is mostly the photo's backdrop: sky, grass, a wall, the frame.
* **scenery share**: how much of the classifier's top-k probability goes to classes that name a
  scene or a surface, not an object (:func:`scenery_share`): ImageNet's geological formations
  (alp, cliff, seashore, lakeside, valley ...), shops and other establishments (bookshop,
  grocery store ...), fences and walls, window screens, web sites. The set is the label
  space's synsets under :data:`SCENERY_ROOTS` in WordNet (:func:`scenery_synsets`).

Both use only what a record already holds (its box, the image size and the top-k
alternatives), so a stored run can be re-scored the same way (``autolabel devset``'s sweep)
and cost nothing at annotation time: the probabilities are already computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def border_sides(box: Sequence[float], width: int, height: int, tolerance: float = BORDER_TOLERANCE) -> int:
    """How many image borders (0 to 4) the pixel box ``(x1, y1, x2, y2)`` touches."""
    x1, y1, x2, y2 = (float(v) for v in box)
    tx, ty = tolerance * width, tolerance * height
    return int(x1 <= tx) + int(y1 <= ty) + int(x2 >= width - tx) + int(y2 >= height - ty)


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
                     scenery: frozenset[str], *, max_border_sides: int = 4, max_scenery_share: float = 1.0) -> float | None:
    """``score`` for a box on an object; None (drop it) when it touches more than
    ``max_border_sides`` image borders or more than ``max_scenery_share`` of its top-k
    probability names scenery. The defaults (4, 1.0) keep every box."""
    if max_border_sides < 4 and border_sides(box, width, height) > max_border_sides:
        return None
    if max_scenery_share < 1.0 and scenery_share(topk, scenery) > max_scenery_share:
        return None
    return score
