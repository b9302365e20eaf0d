"""A CVAT auto-annotation function: cvat-cli runs the pipeline on a task's images and uploads the
objects it finds.

cvat-cli loads this module as it is (``cvat_sdk.auto_annotation``'s detection-function
interface: a module-level :func:`create` taking the ``-p`` parameters, returning an object with
``spec`` and ``detect(context, image)``)::

    cvat-cli --server-host https://app.cvat.ai task auto-annotate TASK_ID \\
        --function-module autolabel.integrations.cvat \\
        -p preset=str:lite -p classes=str:cat,dog [--conv-mask-to-poly] [--conf-threshold 0.5]

Parameters (``-p name=type:value``): ``preset``, ``config`` (a config YAML), ``classes``
(comma-separated), ``vocabulary`` (a vocabulary YAML), ``shapes`` (``rectangle`` or ``mask``,
see below) and any pipeline setting by its config-file name (``-p device=str:cuda``,
``-p max_boxes=int:10``, ``-p masks=bool:false``); see :mod:`autolabel.integrations.settings`.

Labels: the spec declares one label per class of the run (the given classes in order, plus the
catch-all class of a vocabulary whose ``unmapped`` policy is ``other``; without classes, the
classifier's own class names), with ids ``0..n-1``. CVAT matches them to the task's labels by
name; pass ``--allow-unmatched-labels`` when the task has only some of them.

Shapes, in the task image's pixels (x right, y down, origin at the top-left corner):

* ``rectangle``: ``points = [x1, y1, x2, y2]``, the box's corners (x2, y2 exclusive, as CVAT's
  own boxes). The default when the config stores no masks (``masks: false``).
* ``mask``: CVAT's mask encoding (:func:`cvat_sdk.masks.encode_mask`: run lengths over the box,
  then the box's first and last pixel) of the object's instance mask. The default when the
  config stores masks. With cvat-cli's ``--conv-mask-to-poly``, each mask is sent as polygons
  instead, one per part of the mask (holes filled; :func:`autolabel.formats.polygons.mask_to_polygons`,
  ``-p polygon_tolerance=float:PX``), the parts of one object in one group.

Every shape carries the detection's ``score`` (CVAT's shape score); with ``--conf-threshold T``
only shapes scoring at least ``T`` are returned (the config's ``min_score`` applies in any case).
The function's labels are typed (``rectangle`` or ``mask``), so CVAT refuses, before any image
is processed, a task whose label of that name has another type: create the labels with type
``any`` (the default), or pick ``-p shapes=str:rectangle`` for a task of rectangle labels.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Any, Sequence

import numpy as np

from autolabel import masks
from autolabel.config import PipelineConfig
from autolabel.errors import ConfigError, ImageError
from autolabel.formats.polygons import DEFAULT_TOLERANCE, mask_to_polygons
from autolabel.integrations.settings import integration_config
from autolabel.types import Detection, ImageFailure

log = logging.getLogger(__name__)

SHAPES = ("rectangle", "mask")
"""What :class:`AutolabelFunction` returns per object (``mask`` becomes polygons with
``conv_mask_to_poly``)."""


def label_names(labeler: Any) -> list[str]:
    """The names a run of ``labeler`` can give, each once, in the run's class order: its fixed
    class list (plus, with the ``keep`` policy, the classifier's classes it keeps, named as the
    labeler names them), or the classifier's own class names."""
    classes = labeler.classes
    if classes is None:
        names: Sequence[str] = labeler.space.names
    else:
        names = list(classes)
        vocabulary = getattr(labeler, "vocabulary", None)
        if vocabulary is not None and vocabulary.unmapped == "keep":
            taken = set(classes)
            names += [f"{n} ({s})" if n in taken else n for n, s in zip(labeler.space.names, labeler.space.synsets)]
    return list(dict.fromkeys(names))


def _frame_stem(frame_name: str) -> str:
    """A record name for a task frame: its file name (the detections' id stem), or ``frame``."""
    name = PurePosixPath(str(frame_name).replace("\\", "/")).name
    return name if name not in ("", ".", "..") else "frame"


def _box_points(box: Sequence[float], width: int, height: int) -> list[float]:
    """Corners ``[x1, y1, x2, y2]`` clipped to the image (CVAT validates them against it)."""
    x1, y1, x2, y2 = box
    return [min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height)]


def mask_points(det: Detection, width: int, height: int) -> list[float]:
    """``det``'s instance mask in CVAT's encoding (run lengths over the box rounded outwards to
    whole pixels, then ``x1, y1, x2 - 1, y2 - 1``); a detection without a mask is its box,
    filled."""
    if det.mask is not None:
        bitmap = masks.decode(det.mask)
    else:
        bitmap = np.zeros((height, width), dtype=bool)
        x1, y1, x2, y2 = (int(v) for v in (np.floor(det.box[0]), np.floor(det.box[1]), np.ceil(det.box[2]), np.ceil(det.box[3])))
        bitmap[max(y1, 0):min(y2, height), max(x1, 0):min(x2, width)] = True
    from cvat_sdk.masks import encode_mask

    return [float(v) for v in encode_mask(bitmap, _box_points(det.box, width, height))]


def polygon_points(det: Detection, tolerance: float = DEFAULT_TOLERANCE) -> list[list[float]]:
    """``det``'s mask as flat ``[x1, y1, x2, y2, ...]`` pixel polygons, one per part, largest
    first (its box's four corners when it has no mask)."""
    if det.mask is None:
        x1, y1, x2, y2 = det.box
        return [[x1, y1, x2, y1, x2, y2, x1, y2]]
    return [[float(v) for v in poly.ravel()] for poly in mask_to_polygons(det.mask, tolerance)]


class AutolabelFunction:
    """The pipeline as a ``cvat_sdk.auto_annotation`` detection function.

    Args:
        config: the pipeline settings.
        shapes: ``rectangle`` or ``mask`` (default: ``mask`` when ``config.masks``).
        polygon_tolerance: polygon simplification in pixels (``conv_mask_to_poly``).
        models: models built for ``config`` (built here otherwise).

    Attributes:
        spec: the ``DetectionFunctionSpec``: one label per class (ids ``0..n-1``, typed by ``shapes``).
    """

    def __init__(self, config: PipelineConfig, *, shapes: str | None = None,
                 polygon_tolerance: float = DEFAULT_TOLERANCE, models: Any = None) -> None:
        import cvat_sdk.auto_annotation as cvataa

        from autolabel.pipeline import Annotator, load_models

        shapes = shapes or ("mask" if config.masks else "rectangle")
        if shapes not in SHAPES:
            raise ConfigError(f"shapes must be one of {', '.join(SHAPES)}, got {shapes!r}")
        if shapes == "mask" and not config.masks:
            log.warning("shapes=mask with masks off in the config: every mask is the object's box, filled")
        if not (isinstance(polygon_tolerance, (int, float)) and polygon_tolerance >= 0):
            raise ConfigError(f"polygon_tolerance must be a number of pixels >= 0, got {polygon_tolerance!r}")
        self.config = config
        self.shapes = shapes
        self.polygon_tolerance = float(polygon_tolerance)
        self.models = models if models is not None else load_models(config)
        self._annotator = Annotator(config, self.models)
        names = label_names(self.models.labeler)
        self._ids = {name: i for i, name in enumerate(names)}
        self._groups = 0
        self.spec = cvataa.DetectionFunctionSpec(
            labels=[cvataa.label_spec(name, i, type=shapes) for i, name in enumerate(names)])
        log.info("CVAT function: %d label(s), %s shapes", len(names), shapes)

    def close(self) -> None:
        """Stop the pipeline's refinement workers, if any."""
        self._annotator.close()

    def detect(self, context: Any, image: Any) -> list[Any]:
        """The objects in one task image, as ``LabeledShapeRequest`` s.

        Args:
            context: a ``DetectionFunctionContext`` (``frame_name``, ``conf_threshold`` in
                [0, 1] or None, ``conv_mask_to_poly``).
            image: the frame as a ``PIL.Image`` (its pixels as CVAT shows them).

        Returns:
            Shapes with ``label_id`` = the spec's label id, ``frame`` 0, ``score`` in [0, 1],
            ``points`` in image pixels (see the module docstring); only those scoring at least
            ``context.conf_threshold``.

        Raises:
            ImageError: the image cannot be annotated (too large, too small).
        """
        import cvat_sdk.auto_annotation as cvataa

        name = _frame_stem(context.frame_name)
        result = next(self._annotator.process_images([(name, image)]))
        if isinstance(result, ImageFailure):
            raise ImageError(str(context.frame_name), result.reason)
        threshold = context.conf_threshold
        out: list[Any] = []
        for det in result.detections:
            if threshold is not None and det.score < threshold:
                continue
            label_id = self._ids.get(det.label)
            if label_id is None:  # pragma: no cover - label_names lists every label a labeler gives
                log.warning("%s: label %r is not in the function's spec; object %s left out", context.frame_name, det.label, det.id)
                continue
            if self.shapes == "rectangle":
                out.append(cvataa.rectangle(label_id, _box_points(det.box, result.width, result.height), score=det.score))
            elif context.conv_mask_to_poly:
                parts = polygon_points(det, self.polygon_tolerance)
                group = {}
                if len(parts) > 1:
                    self._groups += 1
                    group = {"group": self._groups}
                out.extend(cvataa.polygon(label_id, points, score=det.score, **group) for points in parts)
            else:
                out.append(cvataa.mask(label_id, mask_points(det, result.width, result.height), score=det.score))
        log.debug("%s: %d object(s), %d shape(s)", context.frame_name, len(result.detections), len(out))
        return out


def create(preset: str | None = None, config: str | None = None, classes: str | None = None,
           vocabulary: str | None = None, shapes: str | None = None,
           polygon_tolerance: float = DEFAULT_TOLERANCE, **settings: Any) -> AutolabelFunction:
    """The function cvat-cli builds from ``-p`` parameters (see the module docstring).

    Raises:
        ConfigError: an unknown or invalid parameter. ModelError, WeightsError: the models
            cannot be built.
    """
    cfg = integration_config(preset=preset, config=config, classes=classes, vocabulary=vocabulary, **settings)
    return AutolabelFunction(cfg, shapes=shapes, polygon_tolerance=polygon_tolerance)
