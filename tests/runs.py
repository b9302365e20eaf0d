"""The one way tests write a run directory without models.

:func:`write_run` writes a manifest, predictions (in the order given), failures and optional
revisions through the real :class:`~autolabel.store.RunStore`, so every test run is a run the
product itself could have written. The ``make_run`` fixture in ``tests/conftest.py`` wraps it
with a fresh folder; the domain helpers (``tests.evaluate.fixtures``, ``tests.review.support``,
``tests.exporters.sample``, ``tests.integration.runs``) only build records and call it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from autolabel.store import RunStore
from autolabel.types import ImageAnnotations

MODELS = {"extractor": {"name": "vit_small_patch16_224.dino", "weights": "test"},
          "classifier": {"name": "convnext_tiny.fb_in22k", "weights": "test"}}
"""The manifest's model section of a test run (nothing is loaded from it)."""


def write_run(
    run_dir: Path,
    records: Iterable[ImageAnnotations | Mapping[str, Any]],
    *,
    image_root: Path | None = None,
    classes: Sequence[str] | None = None,
    failures: Iterable[Mapping[str, Any]] = (),
    revisions: Iterable[tuple[str, Sequence[ImageAnnotations], Mapping[str, Any]]] = (),
    config: Mapping[str, Any] | None = None,
    models: Mapping[str, Any] | None = None,
    label_space: str | None = None,
) -> RunStore:
    """Write a run at ``run_dir`` and return its store.

    Args:
        run_dir: the run directory (created; must not hold a run yet).
        records: predictions, as records or their dict form, appended in this order.
        image_root: the manifest's image root (default: ``run_dir``'s sibling ``images``).
        classes: the run's class list (None: the run has no fixed list).
        failures: ``{"path", "reason"}`` lines for ``failures.jsonl``.
        revisions: ``(source, images, summary)`` per corrected revision, written in order.
        config, models, label_space: manifest fields (test defaults otherwise).
    """
    store = RunStore(run_dir)
    manifest: dict[str, Any] = {
        "autolabel_version": "0.1.0",
        "created": "2024-01-01T00:00:00Z",
        "image_root": str(image_root if image_root is not None else run_dir.parent / "images"),
        "config": dict(config) if config is not None else {},
        "models": dict(models) if models is not None else MODELS,
        "classes": list(classes) if classes is not None else None,
    }
    if label_space is not None:
        manifest["label_space"] = label_space
    store.write_manifest(manifest)
    with store.prediction_writer() as w:
        for r in records:
            w.append(r.to_dict() if isinstance(r, ImageAnnotations) else dict(r))
    failures = list(failures)
    if failures:
        with store.failure_writer() as w:
            for f in failures:
                w.append(dict(f))
    for source, images, summary in revisions:
        store.write_revision(source, list(images), dict(summary))
    return store
