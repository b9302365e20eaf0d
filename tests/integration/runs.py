"""Hand-made run directories for the integration tests (no models involved).

:func:`make_run` copies the repository's sample photos into an image folder under names that
exercise what real folders hold (sub-folders, a space, a ``+``, two files with one basename),
reads each image's displayed size with PIL (EXIF applied), and writes a run through
:class:`~autolabel.store.RunStore` with boxes given as fractions of the image, so they land on
the same content whatever the photo's size.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from autolabel.config import PipelineConfig
from autolabel.store import RunStore
from autolabel.types import Alternative, Detection, ImageAnnotations
from tests.runs import write_run

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DATA = REPO / "sample_data"

CLASSES = ("person", "traffic light", "salt & pepper, shaker", "tabby cat", "coffee mug", "unused class")
"""The run's declared classes: an ``&``, a comma and a space in names, one class no box uses."""

# relative path in the run -> (sample photo, [(label, score, (fx1, fy1, fx2, fy2)), ...])
LAYOUT: dict[str, tuple[str, list[tuple[str, float, tuple[float, float, float, float]]]]] = {
    "astronaut.jpg": (
        "astronaut.jpg",
        [
            ("person", 0.93, (0.25, 0.05, 0.80, 1.0)),
            ("traffic light", 0.21, (0.0, 0.0, 0.12, 0.3333)),
        ],
    ),
    "cam1/chelsea.jpg": (
        "chelsea.jpg",
        [
            ("tabby cat", 0.88, (0.0, 0.1, 0.7, 0.99)),
            ("salt & pepper, shaker", 0.35, (0.71, 0.5, 1.0, 1.0)),
            ("coffee mug", 0.12, (0.5, 0.02, 0.6, 0.2)),
        ],
    ),
    # the same basename in another folder, holding another photo: boxes must not swap
    "cam 2/chelsea.jpg": (
        "rocket.jpg",
        [("traffic light", 0.64, (0.40, 0.05, 0.6, 0.9))],
    ),
    "cam 2/coffee+1.jpg": (
        "coffee.jpg",
        [
            ("coffee mug", 0.97, (0.1, 0.05, 0.9, 0.85)),
            ("salt & pepper, shaker", 0.45, (0.0, 0.6, 0.1234, 1.0)),
        ],
    ),
    # an image with no boxes at all
    "empty/rocket.jpg": ("rocket.jpg", []),
}


@dataclass(frozen=True)
class HandMadeRun:
    """A run built by :func:`make_run`."""

    run_dir: Path
    image_root: Path
    images: tuple[ImageAnnotations, ...]
    model_version: str

    @property
    def store(self) -> RunStore:
        return RunStore(self.run_dir)

    def by_path(self) -> dict[str, ImageAnnotations]:
        return {img.path: img for img in self.images}


def displayed_size(path: Path) -> tuple[int, int]:
    """(width, height) of ``path`` after its EXIF orientation is applied."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return im.size


def make_run(run_dir: Path, image_root: Path, layout: dict | None = None) -> HandMadeRun:
    """Copy the sample photos into ``image_root`` and write a run for them at ``run_dir``.

    Args:
        run_dir: the run directory to create (must not hold a run yet).
        image_root: folder the images are copied into (relative paths as in ``layout``).
        layout: ``{relative path: (sample file, [(label, score, fractional box)])}``;
            default :data:`LAYOUT`.

    Returns:
        the run, with the records exactly as written (boxes in pixels, x2/y2 exclusive).
    """
    layout = LAYOUT if layout is None else layout
    image_root.mkdir(parents=True, exist_ok=True)
    records = []
    for rel, (sample, boxes) in sorted(layout.items()):
        dst = image_root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE_DATA / sample, dst)
        w, h = displayed_size(dst)
        stem = Path(rel).stem
        dets = []
        for n, (label, score, (fx1, fy1, fx2, fy2)) in enumerate(boxes):
            dets.append(
                Detection(
                    id=f"{stem}-{n}",
                    box=(fx1 * w, fy1 * h, fx2 * w, fy2 * h),
                    label=label,
                    score=score,
                    objectness=min(1.0, score + 0.05),
                    label_id=f"test:{CLASSES.index(label)}",
                    topk=(Alternative(label=label, label_id=f"test:{CLASSES.index(label)}", score=score),),
                )
            )
        records.append(ImageAnnotations(path=rel, width=w, height=h, detections=tuple(dets)))
    store = write_run(
        run_dir, records, image_root=image_root.resolve(), classes=CLASSES, config=PipelineConfig().to_dict(),
        models={"extractor": {"name": "vit_small_patch16_224.dino", "weights": "hand-made"},
                "classifier": {"name": "convnext_base.fb_in22k", "weights": "hand-made"}},
        label_space="hand-made")
    return HandMadeRun(
        run_dir=run_dir,
        image_root=image_root.resolve(),
        images=tuple(records),
        model_version=store.info().model_version,
    )
