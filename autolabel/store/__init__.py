"""The run directory: the contract between annotating, exporting, reviewing and evaluating.

* :mod:`~autolabel.store.run_store`: :class:`RunStore` (layout, manifest, lock, reading,
  revisions) and :func:`open_run`;
* :mod:`~autolabel.store.jsonl`: crash-safe JSON Lines (appends, torn-line repair, reading);
* :mod:`~autolabel.store.atomic`: whole files written through a temporary sibling and a rename;
* :mod:`~autolabel.store.parts`: part files that a distributed engine's workers write and the
  run's owner merges.
"""

from autolabel.store.atomic import atomic_write, write_json_atomic
from autolabel.store.jsonl import JsonlAppender, repair_jsonl
from autolabel.store.run_store import (
    FAILURES,
    LATEST,
    MANIFEST,
    ORIGINAL,
    PARTS,
    PREDICTIONS,
    REVISIONS,
    SCHEMA,
    RunStore,
    open_run,
)

__all__ = [
    "FAILURES", "LATEST", "MANIFEST", "ORIGINAL", "PARTS", "PREDICTIONS", "REVISIONS", "SCHEMA",
    "JsonlAppender", "RunStore", "atomic_write", "open_run", "repair_jsonl", "write_json_atomic",
]
