"""The models a pipeline runs, built once per run: extractor, classifier, labeler."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from autolabel.config import PipelineConfig
from autolabel.devices import resolve_device, resolve_precision
from autolabel.errors import ModelError
from autolabel.models import BuiltModel, build_model, label_space_of
from autolabel.pipeline.classify import Classifier
from autolabel.pipeline.features import FeatureExtractor, extractor_kwargs, make_extractor
from autolabel.vocabulary import Labeler, build_labeler


@dataclass
class Models:
    """Everything built once per run."""

    extractor: BuiltModel
    classifier: BuiltModel
    features: FeatureExtractor
    classify: Classifier
    labeler: Labeler
    precision: str
    """``fp32`` or ``bf16``: what the weights were converted to."""

    @property
    def device(self) -> torch.device:
        return self.extractor.device


def load_models(cfg: PipelineConfig) -> Models:
    """Build the extractor, the classifier (shared if they are the same model) and the labeler.

    Raises:
        ModelError, WeightsError, ConfigError (vocabulary).
    """
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    ex_kwargs = extractor_kwargs(cfg.extractor)
    extractor = build_model(cfg.extractor, cfg.extractor_weights, "extractor", device, **ex_kwargs)
    if (cfg.classifier, cfg.classifier_weights) == (cfg.extractor, cfg.extractor_weights) and not ex_kwargs:
        classifier = extractor
    else:
        classifier = build_model(cfg.classifier, cfg.classifier_weights, "classifier", device)
    if precision == "bf16":
        # Convert the weights once: on CPUs this is ~2-4x faster than autocast, which casts
        # every weight on every call (measured with autolabel bench).
        extractor.module.to(torch.bfloat16)
        classifier.module.to(torch.bfloat16)
    clf = Classifier(classifier)
    space = label_space_of(cfg.classifier)  # the run's classes come from the config alone
    if clf.num_classes != len(space):
        raise ModelError(f"classifier {cfg.classifier!r} has {clf.num_classes} outputs, its timm config {len(space)}")
    labeler = build_labeler(space, cfg.vocabulary, cfg.topk)
    return Models(extractor, classifier, make_extractor(extractor, cfg.feature_layers, cfg.feature_scales), clf, labeler, precision)
