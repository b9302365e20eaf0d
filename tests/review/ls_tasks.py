"""A masked run exported to Label Studio and 'annotated' by accepting every prediction as it is:
the starting point of the Label Studio import tests, which then edit the annotations."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from autolabel.export import export
from autolabel.store import RunStore
from tests.exporters.masked_sample import build_masked_run


def accepted_export(tmp_path: Path, **options: Any) -> tuple[RunStore, list[dict]]:
    """The run and its tasks, exported with the Label Studio exporter's ``options`` (masks as
    polygons unless told otherwise); each task's one annotation holds the prediction's regions
    unchanged."""
    options.setdefault("shapes", "polygon")
    run = build_masked_run(tmp_path)
    export(run, "labelstudio", tmp_path / "out", **options)
    tasks = json.loads((tmp_path / "out/labelstudio/tasks.json").read_text(encoding="utf-8"))
    for n, t in enumerate(tasks, 1):
        t["id"] = n
        t["annotations"] = [{"id": n, "was_cancelled": False, "updated_at": "2024-05-01T10:00:00Z",
                             "result": copy.deepcopy(t["predictions"][0]["result"])}]
    return RunStore(run), tasks


def write_tasks(tmp_path: Path, tasks: list[dict]) -> Path:
    """``tasks`` as ``<tmp_path>/export.json`` (what Label Studio's JSON export gives)."""
    p = tmp_path / "export.json"
    p.write_text(json.dumps(tasks), encoding="utf-8")
    return p


def task_result(tasks: list[dict], path: str) -> list[dict]:
    """The annotation result (regions) of the task showing run image ``path``."""
    return next(t for t in tasks if t["data"]["path"] == path)["annotations"][0]["result"]
