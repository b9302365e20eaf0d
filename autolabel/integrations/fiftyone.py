"""A FiftyOne model: the pipeline for ``apply_model`` on any FiftyOne image collection.

::

    import fiftyone as fo
    from autolabel.integrations.fiftyone import load_model

    dataset = fo.Dataset.from_dir("photos/", dataset_type=fo.types.ImageDirectory)
    dataset.apply_model(load_model(preset="lite", classes=["cat", "dog"]), label_field="autolabel")

Each sample gets ``fo.Detections``, one ``fo.Detection`` per object, exactly the objects
``autolabel annotate`` finds in the same file (the model reads each sample's file itself, as
``annotate`` does, instead of the array FiftyOne decodes for it):

* ``label``: the class; ``confidence``: the score ``sqrt(objectness x class probability)``;
* ``bounding_box``: ``[x, y, w, h]`` relative to the displayed (EXIF-turned) image, in [0, 1];
* ``mask``: the instance mask cut to the box (a bool ``(rows, cols)`` array covering the box
  rounded outwards to whole pixels), as FiftyOne expects it; absent when the config stores no masks;
* attributes ``objectness`` (discovery score in [0, 1]), ``topk`` / ``topk_scores`` (the
  classifier's alternatives, best first), ``label_id`` (WordNet synset or user class),
  ``autolabel_id`` (``<file stem>-<n>``), ``source`` (``auto``) and ``max_iou`` (the box's highest
  IoU with another box of the image), as ``autolabel review`` writes them
  (:func:`autolabel.review.fields.detection_fields`).

``apply_model``'s ``confidence_thresh`` and ``classes`` filter the detections as for any model;
``batch_size`` sets how many images go through the pipeline together. Settings are those of
:func:`autolabel.integrations.settings.integration_config` (preset, config file, classes,
vocabulary, any config field such as ``device`` or ``min_score``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import fiftyone.core.labels as fol
import fiftyone.core.models as fom

from autolabel.config import PipelineConfig
from autolabel.errors import ImageError
from autolabel.integrations.settings import integration_config
from autolabel.review.fields import detection_fields, overlaps
from autolabel.types import ImageAnnotations, ImageFailure

log = logging.getLogger(__name__)


@dataclass
class AutolabelModelConfig:
    """What ``apply_model`` may look up on ``model.config``.

    Attributes:
        pipeline: the pipeline settings the model runs with.
    """

    pipeline: PipelineConfig


def to_detections(record: ImageAnnotations) -> fol.Detections:
    """One record's objects as ``fo.Detections`` (see the module docstring for the fields)."""
    best, _ = overlaps(record.detections)
    return fol.Detections(detections=[
        fol.Detection(**detection_fields(d, record.width, record.height, m)) for d, m in zip(record.detections, best)
    ])


class AutolabelModel(fom.Model, fom.SamplesMixin):
    """The pipeline as a FiftyOne image model (build it with :func:`load_model`).

    Used as a context manager by ``apply_model``: the pipeline's refinement workers, if any, stop
    when the block ends; the models stay loaded for the next use.

    Args:
        config: the pipeline settings.
        models: models built for ``config`` (built here otherwise).
    """

    def __init__(self, config: PipelineConfig, models: Any = None) -> None:
        from autolabel.pipeline import load_models

        fom.SamplesMixin.__init__(self)
        self.config = AutolabelModelConfig(config)
        self.models = models if models is not None else load_models(config)
        self._annotator: Any = None
        self._preprocess = False

    # -- what FiftyOne asks of a model ---------------------------------------------------------
    @property
    def media_type(self) -> str:
        return "image"

    @property
    def ragged_batches(self) -> bool:
        return False  # images of any size may be batched: the pipeline groups them itself

    @property
    def transforms(self) -> None:
        return None

    @property
    def preprocess(self) -> bool:
        return self._preprocess

    @preprocess.setter
    def preprocess(self, value: bool) -> None:
        self._preprocess = bool(value)

    def __enter__(self) -> AutolabelModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the pipeline's refinement workers, if any (started again on the next call)."""
        if self._annotator is not None:
            self._annotator.close()
            self._annotator = None

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, arg: Any, sample: Any = None) -> fol.Detections:
        """The objects of one image.

        Args:
            arg: the image as FiftyOne decoded it, a ``(H, W, 3)`` uint8 RGB array; used only
                when no ``sample`` is given.
            sample: the ``fo.Sample``: its ``filepath`` is read (as ``autolabel annotate`` reads files).

        Raises:
            ImageError: the image cannot be read or annotated.
        """
        return self.predict_all([arg], samples=None if sample is None else [sample])[0]

    def predict_all(self, args: Sequence[Any], samples: Iterable[Any] | None = None) -> list[fol.Detections]:
        """:meth:`predict` for a batch, run through the pipeline together; one result per input, in order."""
        from autolabel.pipeline import Annotator

        if samples is not None:
            entries = [(Path(s.filepath).name, Path(s.filepath)) for s in samples]
        else:
            entries = [(f"image-{i}", arg) for i, arg in enumerate(args)]
        if self._annotator is None:
            self._annotator = Annotator(self.config.pipeline, self.models)
        out = []
        for (name, _), result in zip(entries, self._annotator.process_images(entries)):
            if isinstance(result, ImageFailure):
                raise ImageError(name, result.reason)
            out.append(to_detections(result))
        log.debug("annotated %d image(s)", len(out))
        return out


def load_model(preset: str | None = None, config: str | Path | PipelineConfig | None = None,
               classes: str | Sequence[str] | None = None, vocabulary: str | Path | None = None,
               **settings: Any) -> AutolabelModel:
    """The pipeline as a FiftyOne model for ``apply_model``.

    Args:
        preset: ``lite``, ``default`` ...; ``default`` when no ``config`` is given.
        config: a config YAML file, or a ready :class:`~autolabel.config.PipelineConfig`.
        classes: only these classes (a list or ``"cat,dog"``).
        vocabulary: a vocabulary YAML file.
        settings: config fields (``device="cuda"``, ``min_score=0.3``, ``masks=False`` ...).

    Raises:
        ConfigError: an unknown or invalid setting. ModelError, WeightsError: the models cannot
            be built.
    """
    cfg = integration_config(preset=preset, config=config, classes=classes, vocabulary=vocabulary, **settings)
    return AutolabelModel(cfg)
