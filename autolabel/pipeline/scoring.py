"""The exported confidence of a detection: objectness and class probability in one number.

A box is worth keeping when something is there (discovery's *objectness*) **and** the classifier
recognises it (its *class probability*). Either alone ranks badly: objectness is high for every
low-degree seed, sky and foliage included; the class probability of a crop of foliage is low
but so is that of a real object of a rare class. The detection score is their weighted
geometric mean, with ``w`` the config's ``objectness_weight``::

    score = objectness ** w * class_probability ** (1 - w)      # w = 0.5: sqrt(o * p)

then scored down where the box looks like background (:mod:`autolabel.pipeline.objectness`:
scenery classes, backdrop geometry, a box too small for the feature grid), each a factor in
``[0, 1]``, and kept at ``min_score``.

Why this form:

* It ranks like the product ``objectness ** w * class_probability ** (1 - w)``, the joint
  "object and this class" of two-stage detectors (objectness times class probability) with
  the two factors weighted, so either factor near 0 sinks the box.
* It stays on the scale of one probability: two factors of 0.5 give 0.5, not 0.25, for any
  ``w``, so thresholds read as "how sure, overall" and the evaluate sweep's thresholds keep
  their meaning. Every factor lies in ``[0, 1]``, so the score does too.
* It needs no fitted model, only a weight: it carries over between presets, backbones and
  datasets; a fitted calibration would be tuned to whatever photos fitted it.

Why the lite preset weighs objectness more (``w = 0.7``): the ImageNet-1k classifier is most
sure of large boxes that take in a whole scene or an object with its surroundings (a dining
room named "dining table" at 0.6), and unsure of the object itself (0.25); on dev284's tune
half the top box missed while a candidate below it matched in 71 of 136 photos, and those top
boxes had the higher class probability (median 0.46 against 0.25) at about the same
objectness. Weighing the classifier less ranks by how well the region stands out of its
image (``docs/discovery-quality.md``, "Scores and background"). The other presets keep
``w = 0.5`` (their ImageNet-22k classifiers were not measured here).

With ``w = 0.5``, a box named at probability 0.05 with objectness 0.6 scores 0.17; a real
object named at 0.9 with the same objectness scores 0.73. The presets' ``min_score``
(:data:`autolabel.config.DEFAULT_MIN_SCORE`, 0.2) drops boxes the classifier does not
recognise; what it cannot do is tell a part of an object or a known-looking patch of
background from the object, when the classifier names them as confidently (README, "Scores").

Records: ``Detection.score`` is this combined score (what exporters write as confidence and
what ``--min-score``, review and ``evaluate`` threshold); ``Detection.class_score`` keeps the
classifier's own probability of the label and ``Detection.objectness`` the discovery score,
so the combination can be redone (``autolabel devset --records F --rescore``). Records
written before scores combined objectness have no ``class_score``; their ``score`` was the
class probability.
"""

from __future__ import annotations

import math

import numpy as np

FORMULA = "objectness ** w * class_probability ** (1 - w)"
"""The combination, as written into documentation and reports (``w``: ``objectness_weight``)."""


def detection_score(objectness: float, class_probability: float, weight: float = 0.5) -> float:
    """``objectness ** weight * class_probability ** (1 - weight)``, both clamped to ``[0, 1]``
    (``weight`` too); in ``[0, 1]``. ``weight`` 0.5 is ``sqrt(objectness * class_probability)``."""
    o = min(max(float(objectness), 0.0), 1.0)
    p = min(max(float(class_probability), 0.0), 1.0)
    w = min(max(float(weight), 0.0), 1.0)
    if w == 0.5:
        return math.sqrt(o * p)
    return (o ** w) * (p ** (1.0 - w))


def detection_scores(objectness: np.ndarray, class_probability: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """:func:`detection_score` elementwise over arrays of the same shape (float64)."""
    o = np.clip(np.asarray(objectness, dtype=np.float64), 0.0, 1.0)
    p = np.clip(np.asarray(class_probability, dtype=np.float64), 0.0, 1.0)
    w = min(max(float(weight), 0.0), 1.0)
    if w == 0.5:
        return np.sqrt(o * p)
    return np.power(o, w) * np.power(p, 1.0 - w)
