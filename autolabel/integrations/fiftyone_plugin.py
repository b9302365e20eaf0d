"""A FiftyOne plugin: an operator that runs the pipeline on the App's current view.

FiftyOne finds plugins in its plugins folder (``FIFTYONE_PLUGINS_DIR``, ``fo.config.plugins_dir``)
by their ``fiftyone.yml``. :func:`install_plugin` writes a small plugin there whose code is this
module, so the operator always matches the installed autolabel::

    python -c "from autolabel.integrations.fiftyone_plugin import install_plugin; install_plugin()"

In the App: the operator browser (backtick key) > *autolabel: annotate the current view* asks
for a preset, classes, the label field and a confidence threshold. It then runs
:func:`autolabel.integrations.fiftyone.load_model` on the target view (the current view, the
selected samples or the whole dataset) and reloads the App. Models stay loaded between runs
with the same preset and classes. From Python::

    import fiftyone.operators as foo
    foo.execute_operator(OPERATOR_URI, ctx={"view": view, "params": {"preset": "lite", "classes": "cat,dog"}})
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types

from autolabel.config import list_presets
from autolabel.errors import ConfigError

log = logging.getLogger(__name__)

PLUGIN_NAME = "@autolabel/autolabel"
"""The plugin's name in FiftyOne."""
OPERATOR_NAME = "annotate_view"
OPERATOR_URI = f"{PLUGIN_NAME}/{OPERATOR_NAME}"
"""What ``foo.execute_operator`` and the App call the operator."""
DEFAULT_FIELD = "autolabel"

_MODELS: dict[tuple[str, str], Any] = {}
"""Models built by earlier runs, by (preset, classes): building them takes seconds."""


def _model(preset: str, classes: str) -> Any:
    from autolabel.integrations.fiftyone import load_model

    key = (preset, classes)
    if key not in _MODELS:
        _MODELS.clear()  # keep one set of models in memory
        _MODELS[key] = load_model(preset=preset, classes=classes or None)
    return _MODELS[key]


class AnnotateView(foo.Operator):
    """Runs the pipeline on the target view; params ``preset``, ``classes`` (comma-separated),
    ``label_field``, ``confidence_thresh`` (in [0, 1]) and ``batch_size``."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(name=OPERATOR_NAME, label="autolabel: annotate the current view",
                                  description="Find and name objects with autolabel (no training)",
                                  dynamic=False, allow_immediate_execution=True, allow_delegated_execution=True)

    def resolve_input(self, ctx: Any) -> types.Property:
        inputs = types.Object()
        ctx.target_view()  # offers the target choice (current view, selected samples, dataset)
        inputs.enum("preset", list_presets(), default="lite", label="Preset",
                    description="lite runs offline; the others download their weights once")
        inputs.str("classes", default="", label="Classes", description="comma-separated; empty: the classifier's own names")
        inputs.str("label_field", default=DEFAULT_FIELD, label="Label field")
        inputs.float("confidence_thresh", default=0.0, min=0.0, max=1.0, label="Confidence threshold")
        inputs.int("batch_size", default=8, min=1, label="Images per batch")
        return types.Property(inputs, view=types.View(label="autolabel: annotate the current view"))

    def execute(self, ctx: Any) -> dict[str, Any]:
        params = ctx.params
        view = ctx.target_view()
        field = params.get("label_field") or DEFAULT_FIELD
        model = _model(params.get("preset") or "lite", params.get("classes") or "")
        threshold = params.get("confidence_thresh") or None
        view.apply_model(model, label_field=field, confidence_thresh=threshold, batch_size=params.get("batch_size") or 8)
        samples = len(view)
        detections = view.count(f"{field}.detections") if samples else 0
        log.info("autolabel: %d detection(s) on %d sample(s) in field %s", detections, samples, field)
        if ctx.executor is not None:
            ctx.trigger("reload_dataset")
        return {"samples": samples, "detections": detections, "label_field": field}

    def resolve_output(self, ctx: Any) -> types.Property:
        outputs = types.Object()
        outputs.int("samples", label="Samples annotated")
        outputs.int("detections", label="Detections")
        outputs.str("label_field", label="Field")
        return types.Property(outputs)


def register(p: Any) -> None:
    """FiftyOne's plugin entry point."""
    p.register(AnnotateView)


def install_plugin(plugins_dir: str | Path | None = None) -> Path:
    """Write the plugin (``fiftyone.yml`` and an ``__init__.py`` that imports this module) into
    ``<plugins_dir>/autolabel/`` and return that folder.

    Args:
        plugins_dir: FiftyOne's plugins folder; default ``fo.config.plugins_dir``.

    Raises:
        ConfigError: no plugins folder is given or configured.
    """
    import fiftyone as fo
    import yaml

    base = plugins_dir if plugins_dir is not None else fo.config.plugins_dir
    if not base:
        raise ConfigError("FiftyOne has no plugins folder: set FIFTYONE_PLUGINS_DIR or pass plugins_dir")
    folder = Path(base) / "autolabel"
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"name": PLUGIN_NAME, "description": "Pre-annotations with autolabel: object discovery and ImageNet names",
            "fiftyone": {"version": ">=1.0"}, "operators": [OPERATOR_NAME]}
    (folder / "fiftyone.yml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    (folder / "__init__.py").write_text('"""autolabel\'s FiftyOne plugin (written by install_plugin)."""\n\n'
                                        "from autolabel.integrations.fiftyone_plugin import register  # noqa: F401\n",
                                        encoding="utf-8")
    log.info("wrote FiftyOne plugin %s in %s", PLUGIN_NAME, folder)
    return folder
