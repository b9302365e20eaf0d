"""A Label Studio ML backend: Label Studio asks, the pipeline answers with pre-annotations.

Label Studio's ML backend protocol (what Label Studio 1.23's ``ml/api_connector.py`` sends):

- ``GET /health`` -> ``{"status": "UP", ...}`` (Label Studio waits 1 s for it);
- ``POST /setup`` ``{"project": "<id>.<created ts>", "schema": label config XML, "hostname",
  "access_token", "extra_params"}`` -> ``{"model_version": str}`` (3 s);
- ``POST /predict`` ``{"tasks": [task, ...], "project", "label_config", "params"}`` ->
  ``{"results": [prediction per task, in order]}``, a prediction being ``{"result": [region,
  ...], "score": float, "model_version": str}`` (100 s, env ``ML_TIMEOUT_PREDICT``);
- ``POST /webhook`` (training events) -> 200; this backend does not train.

The project's labeling config drives the output (:mod:`.labeling`): the first ``<Image>`` and
its ``RectangleLabels`` / ``PolygonLabels`` / ``BrushLabels`` controls; their label values are
the classes, mapped onto the classifier's classes through WordNet (:mod:`.labels`).

Modules: :mod:`.labeling` (config XML), :mod:`.labels` (label values -> a vocabulary),
:mod:`.brush` (Label Studio's brush RLE), :mod:`.regions` (records -> predictions),
:mod:`.fetch` (task images), :mod:`.backend` (the model, capacity, setup and predict),
:mod:`.app` (the Starlette application and the uvicorn server).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autolabel.integrations.labelstudio.app import create_app, serve
    from autolabel.integrations.labelstudio.backend import Backend, BackendSettings, OverCapacityError
    from autolabel.integrations.labelstudio.labeling import LabelConfigError, LabelingConfig, parse_labeling_config

_PUBLIC = {
    "create_app": "autolabel.integrations.labelstudio.app",
    "serve": "autolabel.integrations.labelstudio.app",
    "Backend": "autolabel.integrations.labelstudio.backend",
    "BackendSettings": "autolabel.integrations.labelstudio.backend",
    "OverCapacityError": "autolabel.integrations.labelstudio.backend",
    "LabelConfigError": "autolabel.integrations.labelstudio.labeling",
    "LabelingConfig": "autolabel.integrations.labelstudio.labeling",
    "parse_labeling_config": "autolabel.integrations.labelstudio.labeling",
}

__all__ = [
    "Backend",
    "BackendSettings",
    "LabelConfigError",
    "LabelingConfig",
    "OverCapacityError",
    "create_app",
    "parse_labeling_config",
    "serve",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
