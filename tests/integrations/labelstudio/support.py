"""Shared pieces of the Label Studio backend tests: configs, a fake pipeline, a test backend."""

from __future__ import annotations

import threading
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from autolabel import masks
from autolabel.config import PipelineConfig
from autolabel.integrations.labelstudio import Backend, BackendSettings
from autolabel.types import Detection, ImageAnnotations, ImageFailure

RECT_CONFIG = """<View>
  <Image name="img" value="$image"/>
  <RectangleLabels name="box" toName="img">
    <Label value="cat"/><Label value="cup"/>
  </RectangleLabels>
</View>"""

POLY_CONFIG = RECT_CONFIG.replace("RectangleLabels", "PolygonLabels").replace('"box"', '"poly"')
BRUSH_CONFIG = RECT_CONFIG.replace("RectangleLabels", "BrushLabels").replace('"box"', '"brush"')


def space_1k() -> Any:
    from autolabel.vocabulary import get_label_space

    return get_label_space("imagenet-1k", 1000)


def mask_rle(width: int, height: int, box: tuple[int, int, int, int]) -> dict[str, Any]:
    m = np.zeros((height, width), dtype=np.uint8)
    x1, y1, x2, y2 = box
    m[y1:y2, x1:x2] = 1
    return masks.encode(m)


class FakePipeline:
    """Stands in for the pipeline: each readable image (non-empty bytes) gets one ``cat`` box
    over its left half (with a mask) and one ``dog`` box (a label no test config has).

    ``gate``: when set, every call waits for it first (to hold the model busy).
    """

    def __init__(self, width: int = 200, height: int = 100) -> None:
        self.width, self.height = width, height
        self.calls: list[list[str]] = []
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def __call__(self, images: Iterable[Any], names: Sequence[str], labeler: Any) -> Iterator[Any]:
        self.calls.append(list(names))
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        for name, data in zip(names, images):
            if not data:
                yield ImageFailure(name, "empty file")
                continue
            w, h = self.width, self.height
            cat = Detection(f"{name}-0", (0.0, 0.0, w / 2, h / 2), "cat", 0.9, 0.8, mask=mask_rle(w, h, (0, 0, w // 2, h // 2)))
            dog = Detection(f"{name}-1", (10.0, 10.0, 20.0, 20.0), "dog", 0.5, 0.5)
            yield ImageAnnotations(name, w, h, (cat, dog))


def fake_backend(settings: BackendSettings | None = None, config: PipelineConfig | None = None,
                 pipeline: FakePipeline | None = None) -> tuple[Backend, FakePipeline]:
    pipeline = pipeline or FakePipeline()
    cfg = config or PipelineConfig(extractor="test_vit", classifier="test_convnext")
    return Backend(cfg, settings or BackendSettings(), annotate=pipeline, space=space_1k()), pipeline
