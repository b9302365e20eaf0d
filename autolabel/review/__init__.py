"""Review a run and bring the corrections back as a revision, whatever tool the review happened in.

Modules: :mod:`~autolabel.review.corrections` (a reviewer's boxes against the base detections:
the rules, whatever the tool), :mod:`~autolabel.review.dataset` (the run's FiftyOne dataset:
samples, saved views, label schema, pull), :mod:`~autolabel.review.database` (FiftyOne's
MongoDB, checked in seconds), :mod:`~autolabel.review.app` (the FiftyOne App on 127.0.0.1)
and :mod:`~autolabel.review.labelstudio` (a Label Studio JSON export read back; reading the
file and its tasks in :mod:`~autolabel.review.lstasks`, shapes in
:mod:`~autolabel.review.lsshapes`).

Nothing here prints; FiftyOne is imported only by the functions that need it. The names below
are imported from their modules on first use, so importing this package (or its small
modules: database, state) costs nothing; the box maths behind the corrections loads torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "DEFAULT_PORT": "app", "app_url": "app", "check_port_free": "app", "close_app": "app",
    "launch_app": "app", "ssh_hint": "app",
    "CorrectionSummary": "corrections", "ReviewedBox": "corrections", "correct_image": "corrections",
    "correct_images": "corrections",
    "VIEWS": "dataset", "BuildResult": "dataset", "PullResult": "dataset", "build_dataset": "dataset",
    "pull": "dataset",
    "ImportResult": "labelstudio", "import_labelstudio": "labelstudio",
    "connect_fiftyone": "database",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
