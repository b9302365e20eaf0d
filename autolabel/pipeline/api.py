"""Images in, records out: the pipeline without a CLI, a run directory or any printing.

What the engines' workers, the benchmark and the integrations (a Label Studio ML backend, a
CVAT auto-annotation function, a FiftyOne model) call::

    from autolabel.config import load_config
    from autolabel.pipeline import annotate_image, annotate_images, load_models

    cfg = load_config(preset="lite")
    models = load_models(cfg)                        # once; reused by every call
    for result in annotate_images(["a.jpg", pil_image, array], cfg, models=models):
        ...                                          # ImageAnnotations, or ImageFailure
    record = annotate_image(pil_image, cfg, models=models)   # ImageError if it cannot be read

Boxes are displayed-image pixels ``(x1, y1, x2, y2)``, x2 exclusive; masks COCO RLE over the
displayed image (see :class:`~autolabel.types.Detection`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from autolabel.config import PipelineConfig
from autolabel.errors import ImageError
from autolabel.pipeline.annotator import Annotator, Result
from autolabel.pipeline.loading import Models
from autolabel.types import ImageAnnotations, ImageFailure


def _entry(image: Any, index: int, name: str | None) -> tuple[str, Any]:
    """An input as ``(name, in-memory image or None for a file)``."""
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return (name if name is not None else path.name), path.absolute()
    return (name if name is not None else f"image-{index}"), image


def annotate_images(images: Iterable[Any], config: PipelineConfig, *, models: Models | None = None,
                    names: Iterable[str] | None = None) -> Iterator[Result]:
    """Annotate ``images``, one result per image, in order, streamed (images are read as they
    are needed, a chunk of ``image_batch`` at a time).

    Args:
        images: file paths (absolute, or relative to the working folder), encoded file bytes,
            ``PIL.Image`` s (as shown: no EXIF orientation applied) or ``(H, W[, 3|4])`` uint8
            arrays (RGB), in any mix.
        config: the pipeline settings.
        models: models built once with :func:`~autolabel.pipeline.load_models` for ``config``
            (built here otherwise, for this call only).
        names: what each record is called (``path`` of the record, and its detections' id
            stem): a relative POSIX path; default: a file's name, ``image-<i>`` for the
            ``i``-th input when it is in memory.

    Yields:
        :class:`~autolabel.types.ImageAnnotations`, or :class:`~autolabel.types.ImageFailure`
        with a plain reason for an image that cannot be read.
    """
    name_list = iter(names) if names is not None else None
    entries = (_entry(image, i, next(name_list) if name_list is not None else None) for i, image in enumerate(images))
    with Annotator(config, models) as annotator:
        yield from annotator.process_images(entries)


def annotate_image(image: Any, config: PipelineConfig, *, models: Models | None = None, name: str = "image") -> ImageAnnotations:
    """One image's record (see :func:`annotate_images` for what ``image`` may be).

    Raises:
        ImageError: the image cannot be read (empty, not an image, too large or too small).
    """
    if isinstance(image, (str, os.PathLike)) and name == "image":
        name = Path(image).name
    result = next(annotate_images([image], config, models=models, names=[name]))
    if isinstance(result, ImageFailure):
        raise ImageError(result.path, result.reason)
    return result
