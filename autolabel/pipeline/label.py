"""Pipeline stage: labelling. A chunk's crops classified together (``batch_size`` at a time),
each named through the run's vocabulary (:mod:`autolabel.vocabulary`), scored
(:mod:`autolabel.pipeline.scoring`), scored down or dropped when it looks like background
(:mod:`autolabel.pipeline.objectness`) and kept at ``min_score`` or above.
"""

from __future__ import annotations

from typing import Any

from autolabel.pipeline.crops import gather_crops
from autolabel.pipeline.objectness import BackgroundRule, background_score, scenery_synsets
from autolabel.pipeline.scoring import detection_score
from autolabel.pipeline.work import Found, Item
from autolabel.vocabulary import LabelResult

Named = tuple[Found, LabelResult, float]
"""A kept object: what was found, its label, its score in ``[0, 1]`` (``objectness ** w *
class_probability ** (1 - w)``, times the background rule's factors where they apply)."""


class Labelling:
    """Classifies and names a chunk's crops.

    Args:
        config: the pipeline settings (``batch_size``, ``pad_batches``, ``min_score``,
            ``objectness_weight``, the background rule's ``background_*``, ``max_scenery_share``,
            ``scenery_power``, ``small_area`` and ``small_penalty``).
        clock: where ``classify`` is added (per crop).
        shapes: where the classifier's input shapes are recorded.
    """

    def __init__(self, config: Any, clock: Any, shapes: Any) -> None:
        self.config = config
        self.clock = clock
        self.shapes = shapes
        self.rule = BackgroundRule.from_config(config)

    def __call__(self, classifier: Any, labeler: Any, device_type: str, items: list[Item]) -> list[list[Named]]:
        """Per item, in order, its named objects worth writing, by descending score. Releases
        the items' crops."""
        cfg = self.config
        crops = gather_crops(items)
        with self.clock("classify", len(crops)):
            probs = classifier.classify(crops, cfg.batch_size, shapes=self.shapes, pad=cfg.speed_option("pad_batches", device_type))
            results = labeler.label(probs) if len(crops) else []
        scenery = scenery_synsets(labeler.space.synsets) if self.rule.uses_scenery else frozenset()
        out = []
        i = 0
        for it in items:
            size = (it.decoded.width, it.decoded.height) if it.decoded is not None else None
            out.append(keep(cfg.min_score, it.regions, results[i: i + len(it.regions)], rule=self.rule, size=size,
                            scenery=scenery, weight=cfg.objectness_weight))
            i += len(it.regions)
            it.crops = []
        return out


def keep(min_score: float, regions: list[Found], results: list[LabelResult | None], *,
         rule: BackgroundRule | None = None, size: tuple[int, int] | None = None,
         scenery: frozenset[str] = frozenset(), weight: float = 0.5) -> list[Named]:
    """The named objects worth writing, by descending score: each scored
    ``objectness ** weight * class_probability ** (1 - weight)`` (:mod:`autolabel.pipeline.scoring`;
    0.5: the square root of the product), then, with
    an active ``rule`` and the image's ``size`` ``(width, height)``, scored down or dropped as
    background (:func:`~autolabel.pipeline.objectness.background_score`); those without a
    label or below ``min_score`` dropped."""
    apply = rule is not None and rule.active and size is not None
    cands = []
    for found, res in zip(regions, results):
        if res is None:
            continue
        score: float | None = detection_score(found.objectness, res.score, weight)
        if apply:
            assert rule is not None and size is not None
            score = background_score(score, found.box, size[0], size[1], res.topk, scenery, rule)
        if score is not None and score >= min_score:
            cands.append((found, res, score))
    return sorted(cands, key=lambda c: -c[2])
