"""Per-run review state: ``<run>/review.json`` remembers the FiftyOne dataset's name."""

from __future__ import annotations

import json
from typing import Any

from autolabel.errors import RunError
from autolabel.store import RunStore

STATE_FILE = "review.json"
"""Per-run review state (the dataset's name), in the run directory."""


def default_dataset_name(run_name: str) -> str:
    """The dataset name used for a run when none is given: ``autolabel-<run name>``."""
    return f"autolabel-{run_name}"


def read_state(store: RunStore) -> dict[str, Any]:
    """``<run>/review.json`` as a dict (empty if absent)."""
    p = store.run_dir / STATE_FILE
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise RunError(f"{p}: cannot read the review state ({e}); delete it to start over") from None
    return data if isinstance(data, dict) else {}


def resolve_dataset_name(store: RunStore, dataset: str | None = None) -> str:
    """``dataset`` if given, else the one recorded in ``review.json``, else the default."""
    if dataset:
        return dataset
    return str(read_state(store).get("dataset") or default_dataset_name(store.run_dir.name))
