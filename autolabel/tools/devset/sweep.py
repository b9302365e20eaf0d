"""Stored records re-scored under other thresholds, to tune without re-running the models.

Annotate once with permissive settings (``min_score=0``, a large ``max_boxes``, no background
rule, and ``nested_min_ratio=1`` to re-run the nested-duplicate rule here), then
:func:`rescore` gives, for any :class:`Setting`, the records the pipeline would have
exported: with ``nested_min_ratio`` set, the ``2 x max_boxes`` most objective boxes (the
regions the pipeline refines) reduced by :func:`autolabel.pipeline.select.unnest`; the
``max_boxes`` most objective boxes (the pipeline keeps them by objectness before
classifying), each scored ``objectness ** w * class_probability ** (1 - w)``
(:func:`autolabel.pipeline.scoring.detection_score`, ``w`` the setting's
``objectness_weight``), passed through the background rule (:func:`autolabel.pipeline.objectness.background_score`, the pipeline's
own function), kept at ``min_score`` and, with ``duplicate_iou``, rid of duplicates as the
pipeline does (:func:`autolabel.pipeline.label.keep`). :func:`sweep` measures a grid of settings.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from autolabel.formats.base import GroundTruthImage
from autolabel.pipeline.discover import CANDIDATES_PER_BOX
from autolabel.pipeline.label import without_duplicates
from autolabel.pipeline.objectness import BackgroundRule, background_score
from autolabel.pipeline.scoring import detection_score
from autolabel.types import ImageAnnotations

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Setting:
    """The thresholds that decide what is exported from what the models found."""

    min_score: float = 0.2
    max_boxes: int = 10
    rule: BackgroundRule = field(default_factory=BackgroundRule)
    nested_min_ratio: float | None = None
    """Re-run the nested-duplicate rule with this ratio (None: the records' boxes as they are)."""
    nested_containment: float = 0.9
    objectness_weight: float = 0.5
    """Weight of objectness in the score (:func:`autolabel.pipeline.scoring.detection_score`)."""
    duplicate_iou: float | None = None
    """Of two kept boxes overlapping at a box IoU above this, the lower-scored goes (None: off)."""

    def to_dict(self) -> dict[str, Any]:
        return {"min_score": self.min_score, "max_boxes": self.max_boxes, "objectness_weight": self.objectness_weight,
                "duplicate_iou": self.duplicate_iou,
                "background_sides": self.rule.sides, "background_area": self.rule.area,
                "background_penalty": self.rule.penalty, "max_scenery_share": self.rule.max_scenery_share,
                "scenery_power": self.rule.scenery_power, "small_area": self.rule.small_area,
                "small_penalty": self.rule.small_penalty, "nested_min_ratio": self.nested_min_ratio}


def rescore(records: Iterable[ImageAnnotations], setting: Setting, scenery: frozenset[str]) -> list[ImageAnnotations]:
    """The records ``setting`` would have exported (module doc); detections by descending score."""
    out = []
    for rec in records:
        by_obj = sorted(rec.detections, key=lambda d: -d.objectness)
        if setting.nested_min_ratio is not None:
            by_obj = _unnested(by_obj[: CANDIDATES_PER_BOX * setting.max_boxes], setting)
        by_obj = by_obj[: setting.max_boxes]
        kept = []
        for d in by_obj:
            base = detection_score(d.objectness, d.class_score if d.class_score is not None else d.score,
                                   setting.objectness_weight)
            s = background_score(base, d.box, rec.width, rec.height, d.topk, scenery, setting.rule)
            if s is not None and s >= setting.min_score:
                kept.append(d.with_(score=s))
        kept.sort(key=lambda d: -d.score)
        kept = without_duplicates(kept, [d.box for d in kept], [d.score for d in kept], setting.duplicate_iou)
        out.append(ImageAnnotations(rec.path, rec.width, rec.height, tuple(kept)))
    return out


def _unnested(dets: list[Any], setting: Setting) -> list[Any]:
    """``dets`` (by descending objectness) less nested duplicates, by the pipeline's own rule."""
    from autolabel.pipeline.select import unnest
    from autolabel.pipeline.work import Found

    cfg = SimpleNamespace(nested_containment=setting.nested_containment, nested_min_ratio=setting.nested_min_ratio)
    found = [Found(tuple(d.box), d.objectness, None, k) for k, d in enumerate(dets)]  # type: ignore[arg-type]
    return [dets[f.view] for f in unnest(cfg, found)]


def rescore_like(records: Iterable[ImageAnnotations], cfg: Any) -> list[ImageAnnotations]:
    """:func:`rescore` with a config's ``min_score``, ``max_boxes``, ``objectness_weight`` and
    background rule (the scenery classes of its classifier's label space). The classifier
    evidence factor (``evidence_side``) needs the whole photo's class maps, which records do
    not hold: it is left out (logged), and the scores are those of ``evidence_side 0``."""
    from autolabel.pipeline.objectness import scenery_synsets
    from autolabel.vocabulary.space import label_space_for_model

    if getattr(cfg, "evidence_side", 0):
        log.warning("re-scoring leaves out the classifier evidence factor (evidence_side %s): records hold no class "
                    "maps; scores and min_score %s are those of evidence_side 0", cfg.evidence_side, cfg.min_score)

    rule = BackgroundRule.from_config(cfg)
    scenery = scenery_synsets(label_space_for_model(cfg.classifier).synsets) if rule.uses_scenery else frozenset()
    return rescore(records, Setting(cfg.min_score, cfg.max_boxes, rule, cfg.nested_min_ratio, cfg.nested_containment,
                                    cfg.objectness_weight, cfg.duplicate_iou), scenery)


def grid(min_scores: Sequence[float], max_boxes: Sequence[int], sides: Sequence[int] = (2,), areas: Sequence[float] = (0.6,),
         penalties: Sequence[float] = (1.0,), scenery_shares: Sequence[float] = (1.0,),
         nested_ratios: Sequence[float | None] = (None,)) -> list[Setting]:
    """Every combination of the values (rules with penalty 1 differ only in the scenery share)."""
    out: dict[tuple[Any, ...], Setting] = {}
    for m, b, s, a, p, c, n in itertools.product(min_scores, max_boxes, sides, areas, penalties, scenery_shares, nested_ratios):
        rule = BackgroundRule(s, a, p, c) if p < 1.0 else BackgroundRule(penalty=1.0, max_scenery_share=c)
        out.setdefault((m, b, rule, n), Setting(m, b, rule, n))
    return list(out.values())


def sweep(pairs: Sequence[tuple[GroundTruthImage, ImageAnnotations]], settings: Sequence[Setting],
          scenery: frozenset[str]) -> list[tuple[Setting, dict[str, Any]]]:
    """Each setting with the headline metrics (all images) of its re-scored records: ``ap50``,
    ``recall50``, ``precision50``, ``corloc``, ``score_auc``, ``boxes_per_image``."""
    from autolabel.evaluate.metrics import corloc
    from autolabel.tools.devset.quality import coco_ap50, prepare, recall_precision, score_auc

    gts = [g for g, _ in pairs]
    out = []
    for st in settings:
        recs = rescore([r for _, r in pairs], st, scenery)
        images = prepare(list(zip(gts, recs)))
        ap, _ = coco_ap50(images)
        rec, prec, _, _ = recall_precision(images)
        n = max(1, len(recs))
        out.append((st, {"ap50": ap["all"], "recall50": rec, "precision50": prec, "corloc": corloc([i.eval for i in images])[0],
                         "score_auc": score_auc(images), "boxes_per_image": sum(len(r.detections) for r in recs) / n}))
    return out
