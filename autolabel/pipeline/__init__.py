"""The pipeline: the stages in data order, one module each, and the API that runs them.

``decode`` -> ``features`` -> ``discover`` -> ``refine`` -> ``select`` -> ``crops`` ->
``classify`` / ``label`` -> ``records``; :mod:`.scheduler` runs them on threads and CUDA
streams, :mod:`.annotator` composes them, :mod:`.api` is "images in, records out".

The public names below are loaded on first use, so importing a stage module (the refinement
workers import :mod:`autolabel.pipeline.refine`) does not load torch or the models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autolabel.pipeline.annotator import Annotator, Result
    from autolabel.pipeline.api import annotate_image, annotate_images
    from autolabel.pipeline.loading import Models, load_models

_PUBLIC = {
    "Annotator": "autolabel.pipeline.annotator",
    "Result": "autolabel.pipeline.annotator",
    "annotate_image": "autolabel.pipeline.api",
    "annotate_images": "autolabel.pipeline.api",
    "Models": "autolabel.pipeline.loading",
    "load_models": "autolabel.pipeline.loading",
}

__all__ = ["Annotator", "Models", "Result", "annotate_image", "annotate_images", "load_models"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
