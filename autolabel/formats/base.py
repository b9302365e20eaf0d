"""Ground-truth records shared by every reader.

Boxes follow the run's convention (see :mod:`autolabel.types`): pixel ``(x1, y1, x2, y2)``
floats, origin at the top-left corner of the top-left pixel, ``x2``/``y2`` exclusive. The one
exception is a YOLO label file whose image is not at hand: its boxes stay normalised
(``normalized=True``, values in [0, 1]) until :meth:`GroundTruthImage.fit_to` gives them the
run image's size.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from autolabel import masks
from autolabel.errors import AutolabelError
from autolabel.geometry import clip_box
from autolabel.types import Box


class GroundTruthError(AutolabelError):
    """A ground-truth file or folder cannot be read (missing, malformed, unknown format)."""


@dataclass(frozen=True)
class GroundTruthImage:
    """The ground-truth boxes of one labelled image.

    Attributes:
        path: POSIX path of the image as the ground truth names it (``cam1/0001.jpg``); may lack
            an extension where the format only knows the stem (a YOLO label without its image).
        width, height: the image size the boxes refer to, in pixels; ``None`` if the file does
            not say (the run's size is used then).
        boxes: ``(x1, y1, x2, y2)`` per box: pixels, or fractions of the size if ``normalized``.
        labels: the class name of each box (same length as ``boxes``).
        ignore: per box, True for regions that are neither to be found nor to be punished
            (COCO ``iscrowd=1``); COCOeval and the edit counts skip them.
        normalized: boxes are fractions of width/height (YOLO) rather than pixels.
        masks: per box, its instance mask as COCO compressed RLE over the image (``width`` x
            ``height``), or None; empty when the format carries no masks.
    """

    path: str
    width: int | None
    height: int | None
    boxes: tuple[Box, ...] = ()
    labels: tuple[str, ...] = ()
    ignore: tuple[bool, ...] = field(default=())
    normalized: bool = False
    masks: tuple[Mapping[str, Any] | None, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise GroundTruthError(f"ground-truth image path must be a non-empty string, got {self.path!r}")
        boxes = tuple(tuple(float(v) for v in b) for b in self.boxes)
        if any(len(b) != 4 for b in boxes):
            raise GroundTruthError(f"{self.path}: every box must be (x1, y1, x2, y2), got {self.boxes!r}")
        if any(not all(math.isfinite(v) for v in b) for b in boxes):
            raise GroundTruthError(f"{self.path}: a box has a non-finite coordinate: {self.boxes!r}")
        labels = tuple(str(v) for v in self.labels)
        if len(labels) != len(boxes):
            raise GroundTruthError(f"{self.path}: {len(boxes)} boxes but {len(labels)} labels")
        ignore = tuple(bool(v) for v in self.ignore) if self.ignore else (False,) * len(boxes)
        if len(ignore) != len(boxes):
            raise GroundTruthError(f"{self.path}: {len(boxes)} boxes but {len(ignore)} ignore flags")
        for name in ("width", "height"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
                raise GroundTruthError(f"{self.path}: {name} must be a positive int or None, got {v!r}")
        gt_masks = tuple(self.masks) if self.masks else ()
        if gt_masks and len(gt_masks) != len(boxes):
            raise GroundTruthError(f"{self.path}: {len(boxes)} boxes but {len(gt_masks)} masks")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "ignore", ignore)
        object.__setattr__(self, "masks", gt_masks)

    @property
    def has_masks(self) -> bool:
        """True if some box has a mask."""
        return any(m is not None for m in self.masks)

    def fit_to(self, width: int, height: int) -> "GroundTruthImage":
        """The boxes in pixels of a ``width`` x ``height`` image, clipped; empty boxes dropped.

        Normalised boxes are multiplied by the size; pixel boxes of a different declared size
        are scaled proportionally (the sample was labelled on a resized copy).
        """
        if self.normalized:
            sx, sy = float(width), float(height)
        elif self.width is not None and self.height is not None:
            sx, sy = width / self.width, height / self.height
        else:
            sx = sy = 1.0
        boxes: list[Box] = []
        labels: list[str] = []
        ignore: list[bool] = []
        fitted: list[Mapping[str, Any] | None] = []
        gt_masks = self.masks or (None,) * len(self.boxes)
        for b, lab, ig, m in zip(self.boxes, self.labels, self.ignore, gt_masks):
            x1, y1, x2, y2 = clip_box((b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy), width, height)
            if x2 > x1 and y2 > y1:
                boxes.append((x1, y1, x2, y2))
                labels.append(lab)
                ignore.append(ig)
                fitted.append(None if m is None else _resize_mask(m, width, height))
        return GroundTruthImage(self.path, width, height, tuple(boxes), tuple(labels), tuple(ignore), False,
                                tuple(fitted) if self.masks else ())


def _resize_mask(rle: Mapping[str, Any], width: int, height: int) -> Mapping[str, Any]:
    """``rle`` as it is when it is ``height`` x ``width``, else resized (nearest pixel)."""
    if list(rle["size"]) == [height, width]:
        return rle
    from PIL import Image

    m = masks.decode(rle)
    img = Image.fromarray(m.astype(np.uint8) * 255).resize((width, height), Image.Resampling.NEAREST)
    return masks.encode(np.asarray(img) > 127)


@dataclass(frozen=True)
class GroundTruth:
    """A labelled sample read from one file or folder.

    Attributes:
        format: ``coco``, ``voc``, ``yolo`` or ``cvat``.
        source: the file or folder it was read from.
        classes: the declared class names (in the file's order), then any other label used.
        images: one record per labelled image, sorted by path; an image with no boxes is a
            labelled image that shows nothing to find.
        notes: things a person should know (skipped shapes, rotated boxes...).
    """

    format: str
    source: Path
    classes: tuple[str, ...]
    images: tuple[GroundTruthImage, ...]
    notes: tuple[str, ...] = ()


def class_list(declared: Sequence[str], images: Iterable[GroundTruthImage]) -> tuple[str, ...]:
    """``declared`` (order kept, duplicates dropped) followed by other used labels, sorted."""
    out = list(dict.fromkeys(declared))
    seen = set(out)
    extra = sorted({lab for img in images for lab in img.labels if lab not in seen})
    return tuple(out + extra)


def check_unique_paths(images: Sequence[GroundTruthImage], source: Path) -> None:
    """:class:`GroundTruthError` if two records name the same image."""
    seen: set[str] = set()
    for img in images:
        if img.path in seen:
            raise GroundTruthError(f"{source}: image {img.path!r} appears more than once")
        seen.add(img.path)


def xml_root(path: Path, tag: str, what: str) -> ET.Element:
    """The root element of the XML file ``path``, which must be ``<tag>``.

    Raises:
        GroundTruthError: naming ``path`` if it cannot be read or parsed (``what``: the format,
            for the message), or if its root is another element.
    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise GroundTruthError(f"{path}: cannot parse {what} XML ({e})") from None
    if root.tag != tag:
        raise GroundTruthError(f"{path}: expected an <{tag}> root ({what}), got <{root.tag}>")
    return root
