"""A run made without models, for the evaluate tests."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from autolabel.store import RunStore
from autolabel.types import Detection, ImageAnnotations
from tests.runs import write_run

# (path, width, height, [((x1, y1, x2, y2), label, score, objectness), ...])
RunSample = Sequence[tuple[str, int, int, Sequence[tuple[tuple[float, float, float, float], str, float, float]]]]


RUN: RunSample = [
    ("a.jpg", 100, 80, [((10, 10, 50, 50), "dog", 0.9, 0.8), ((60, 10, 90, 40), "cat", 0.3, 0.2)]),
    ("sub/b.jpg", 100, 80, [((0, 0, 40, 40), "cat", 0.7, 0.9)]),
    ("c.jpg", 100, 80, []),
]
"""Three images: a dog and a low-score cat, a cat, and an empty image (the evaluate tests' run)."""


def annotations(sample: RunSample) -> list[ImageAnnotations]:
    out = []
    for path, w, h, dets in sample:
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        out.append(ImageAnnotations(path, w, h, tuple(
            Detection(f"{stem}-{i}", box, label, score, obj) for i, (box, label, score, obj) in enumerate(dets))))
    return out


def make_run(run_dir: Path, sample: RunSample, classes: Sequence[str] | None = None) -> RunStore:
    """Write ``sample`` as a run at ``run_dir`` (through the shared :func:`tests.runs.write_run`)."""
    return write_run(run_dir, annotations(sample), classes=classes)
