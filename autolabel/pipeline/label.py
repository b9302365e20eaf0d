"""Pipeline stage: labelling. A chunk's crops classified together (``batch_size`` at a time),
each named through the run's vocabulary (:mod:`autolabel.vocabulary`), scored
(:mod:`autolabel.pipeline.scoring`) and kept at ``min_score`` or above.
"""

from __future__ import annotations

from typing import Any

from autolabel.pipeline.crops import gather_crops
from autolabel.pipeline.scoring import detection_score
from autolabel.pipeline.work import Found, Item
from autolabel.vocabulary import LabelResult

Named = tuple[Found, LabelResult, float]
"""A kept object: what was found, its label, its score (``sqrt(objectness * class probability)``)."""


class Labelling:
    """Classifies and names a chunk's crops.

    Args:
        config: the pipeline settings (``batch_size``, ``pad_batches``, ``min_score``).
        clock: where ``classify`` is added (per crop).
        shapes: where the classifier's input shapes are recorded.
    """

    def __init__(self, config: Any, clock: Any, shapes: Any) -> None:
        self.config = config
        self.clock = clock
        self.shapes = shapes

    def __call__(self, classifier: Any, labeler: Any, device_type: str, items: list[Item]) -> list[list[Named]]:
        """Per item, in order, its named objects worth writing, by descending score. Releases
        the items' crops."""
        cfg = self.config
        crops = gather_crops(items)
        with self.clock("classify", len(crops)):
            probs = classifier.classify(crops, cfg.batch_size, shapes=self.shapes, pad=cfg.speed_option("pad_batches", device_type))
            results = labeler.label(probs) if len(crops) else []
        out = []
        i = 0
        for it in items:
            out.append(keep(cfg.min_score, it.regions, results[i: i + len(it.regions)]))
            i += len(it.regions)
            it.crops = []
        return out


def keep(min_score: float, regions: list[Found], results: list[LabelResult | None]) -> list[Named]:
    """The named objects worth writing, by descending score: each scored
    ``sqrt(objectness * class probability)`` (:mod:`autolabel.pipeline.scoring`), those without
    a label or below ``min_score`` dropped."""
    cands = []
    for found, res in zip(regions, results):
        if res is None:
            continue
        score = detection_score(found.objectness, res.score)
        if score >= min_score:
            cands.append((found, res, score))
    return sorted(cands, key=lambda c: -c[2])
