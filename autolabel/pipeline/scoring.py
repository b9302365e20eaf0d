"""The exported confidence of a detection: objectness and class probability in one number.

A box is worth keeping when something is there (discovery's *objectness*) **and** the classifier
recognises it (its *class probability*). Either alone ranks badly: objectness is high for every
low-degree seed, sky and foliage included; the class probability of a crop of foliage is low
but so is that of a real object of a rare class. The detection score is their geometric mean::

    score = sqrt(objectness * class_probability)

Why this form:

* It ranks exactly like the product ``objectness * class_probability`` (the square root is
  monotonic), the joint "object and this class" of two-stage detectors (objectness times
  class probability), so either factor near 0 sinks the box.
* Unlike the bare product it stays on the scale of one probability: two factors of 0.5 give
  0.5, not 0.25, so thresholds read as before (a box at 0.9 objectness and 0.9 probability
  scores 0.9) and the evaluate sweep's thresholds keep their meaning.
* It needs no fitted parameters, so it carries over between presets, backbones and datasets;
  a fitted calibration would be tuned to whatever photos fitted it.

A box named at probability 0.05 with objectness 0.6 scores 0.17; a real object named at 0.9
with the same objectness scores 0.73. The presets' ``min_score``
(:data:`autolabel.config.DEFAULT_MIN_SCORE`, 0.2) drops boxes the classifier does not
recognise; what it cannot do is tell a part of an object or a known-looking patch of
background from the object, when the classifier names them as confidently (README, "Scores").

Records: ``Detection.score`` is this combined score (what exporters write as confidence and
what ``--min-score``, review and ``evaluate`` threshold); ``Detection.class_score`` keeps the
classifier's own probability of the label and ``Detection.objectness`` the discovery score,
so the combination can be redone. Records written before this change have no
``class_score``; their ``score`` was the class probability.
"""

from __future__ import annotations

import math

import numpy as np

FORMULA = "sqrt(objectness * class_probability)"
"""The combination, as written into documentation and reports."""


def detection_score(objectness: float, class_probability: float) -> float:
    """``sqrt(objectness * class_probability)``, both clamped to ``[0, 1]``; in ``[0, 1]``."""
    o = min(max(float(objectness), 0.0), 1.0)
    p = min(max(float(class_probability), 0.0), 1.0)
    return math.sqrt(o * p)


def detection_scores(objectness: np.ndarray, class_probability: np.ndarray) -> np.ndarray:
    """:func:`detection_score` elementwise over arrays of the same shape (float64)."""
    o = np.clip(np.asarray(objectness, dtype=np.float64), 0.0, 1.0)
    p = np.clip(np.asarray(class_probability, dtype=np.float64), 0.0, 1.0)
    return np.sqrt(o * p)
