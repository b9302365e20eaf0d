"""Pipeline stage: labelling. A chunk's crops classified together (``batch_size`` at a time),
each named through the run's vocabulary (:mod:`autolabel.vocabulary`), scored
(:mod:`autolabel.pipeline.scoring`), scored down or dropped when it looks like background
(:mod:`autolabel.pipeline.objectness`), with ``evidence_side`` re-ranked by how well each box
covers the classifier's evidence for its classes in the whole photo
(:mod:`autolabel.pipeline.evidence`), and kept at ``min_score`` or above.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import torch

from autolabel.geometry import nms
from autolabel.pipeline.crops import gather_crops
from autolabel.pipeline.evidence import box_factors
from autolabel.pipeline.objectness import BackgroundRule, background_score, scenery_synsets
from autolabel.pipeline.scoring import detection_score
from autolabel.pipeline.work import Found, Item
from autolabel.vocabulary import LabelResult

T = TypeVar("T")

Named = tuple[Found, LabelResult, float]
"""A kept object: what was found, its label, its score in ``[0, 1]`` (``objectness ** w *
class_probability ** (1 - w)``, times the background rule's factors where they apply, times the
evidence factor with ``evidence_side``)."""


class Labelling:
    """Classifies and names a chunk's crops.

    Args:
        config: the pipeline settings (``batch_size``, ``pad_batches``, ``min_score``,
            ``objectness_weight``, the background rule's ``background_*``, ``max_scenery_share``,
            ``scenery_power``, ``small_area``, ``small_penalty``, ``evidence_side``,
            ``evidence_power`` and ``topk``).
        clock: where ``classify`` (per crop) and ``evidence`` (per image) are added.
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
            n = len(it.regions)
            size = (it.decoded.width, it.decoded.height) if it.decoded is not None else None
            named = results[i: i + n]
            evidence = self.evidence(classifier, it, probs[i: i + n], named) if cfg.evidence_side and n else None
            out.append(keep(cfg.min_score, it.regions, named, rule=self.rule, size=size,
                            scenery=scenery, weight=cfg.objectness_weight, evidence=evidence,
                            duplicate_iou=cfg.duplicate_iou))
            i += n
            it.crops, it.class_maps = [], None
        return out

    def evidence(self, classifier: Any, item: Item, probs: Any, results: Sequence[LabelResult | None]) -> list[float] | None:
        """The evidence factors of ``item``'s regions (:func:`~autolabel.pipeline.evidence.box_factors`
        over the labelled ones; 1 for the others, which are dropped), from the item's
        :attr:`~autolabel.pipeline.work.Item.class_maps` when the feature stage made them, else one
        classifier pass over the whole photo. ``probs``: the regions' ``(n, K)`` class probabilities. None without a
        decoded image."""
        if item.decoded is None:
            return None
        cfg = self.config
        named = [k for k, r in enumerate(results) if r is not None]
        factors = [1.0] * len(results)
        if not named:
            return factors
        with self.clock("evidence", 1):
            if item.class_maps is not None:
                maps, width, height = item.class_maps.logits.numpy(), item.class_maps.width, item.class_maps.height
            else:
                maps = classifier.class_maps(item.decoded.image, cfg.evidence_side).numpy()
                width, height = item.decoded.width, item.decoded.height
            k = min(max(1, cfg.topk), probs.shape[1])
            top = probs[named].float().topk(k, dim=1)
            tops = list(zip(top.indices.tolist(), top.values.tolist()))
            got = box_factors(maps, [item.regions[j].box for j in named], tops, width, height, cfg.evidence_power)
        for j, f in zip(named, got):
            factors[j] = f
        return factors


def keep(min_score: float, regions: list[Found], results: list[LabelResult | None], *,
         rule: BackgroundRule | None = None, size: tuple[int, int] | None = None,
         scenery: frozenset[str] = frozenset(), weight: float = 0.5,
         evidence: Sequence[float] | None = None, duplicate_iou: float | None = None) -> list[Named]:
    """The named objects worth writing, by descending score: each scored
    ``objectness ** weight * class_probability ** (1 - weight)`` (:mod:`autolabel.pipeline.scoring`;
    0.5: the square root of the product), then, with
    an active ``rule`` and the image's ``size`` ``(width, height)``, scored down or dropped as
    background (:func:`~autolabel.pipeline.objectness.background_score`), then multiplied by
    its ``evidence`` factor (one per region, in ``[0, 1]``; :mod:`autolabel.pipeline.evidence`);
    those without a label or below ``min_score`` dropped; with ``duplicate_iou``, of two kept
    boxes overlapping at a box IoU above it, the lower-scored dropped
    (:func:`~autolabel.geometry.nms`)."""
    apply = rule is not None and rule.active and size is not None
    cands = []
    for k, (found, res) in enumerate(zip(regions, results)):
        if res is None:
            continue
        score: float | None = detection_score(found.objectness, res.score, weight)
        if apply:
            assert rule is not None and size is not None
            score = background_score(score, found.box, size[0], size[1], res.topk, scenery, rule)
        if evidence is not None and score is not None:
            score *= evidence[k]
        if score is not None and score >= min_score:
            cands.append((found, res, score))
    cands.sort(key=lambda c: -c[2])
    return without_duplicates(cands, [c[0].box for c in cands], [c[2] for c in cands], duplicate_iou)


def without_duplicates(items: list[T], boxes: Sequence[Sequence[float]], scores: Sequence[float],
                       duplicate_iou: float | None) -> list[T]:
    """``items`` (by descending score; ``boxes`` and ``scores`` one per item) less the
    lower-scored of any two whose boxes overlap at a box IoU above ``duplicate_iou``
    (:func:`~autolabel.geometry.nms`), in their order; all of them with ``duplicate_iou`` None.
    The label stage's last step, and the re-scoring of stored records'
    (:func:`autolabel.tools.devset.sweep.rescore`)."""
    if duplicate_iou is None or len(items) < 2:
        return items
    kept = nms(torch.tensor(boxes, dtype=torch.float64), torch.tensor(scores, dtype=torch.float64), duplicate_iou)
    return [items[k] for k in sorted(kept.tolist())]
