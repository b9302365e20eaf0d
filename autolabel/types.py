"""Records passed between stages and stored in a run directory.

Every record is a frozen dataclass that validates itself on construction and converts to and
from a plain ``dict`` (the JSON form stored in ``predictions.jsonl``).

Coordinates: boxes are pixel ``(x1, y1, x2, y2)`` floats in the *displayed* image (EXIF
orientation applied), origin at the top-left corner of the top-left pixel, ``x2``/``y2``
exclusive (a box touching the right border has ``x2 == width``), clipped to the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from autolabel import masks
from autolabel.errors import RecordError

Box = tuple[float, float, float, float]
"""Pixel box ``(x1, y1, x2, y2)``; ``x2``/``y2`` exclusive."""

SOURCES = ("auto", "human")


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise RecordError(msg)


def _prob(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{name} must be a number in [0, 1], got {value!r}") from None
    _require(math.isfinite(v) and 0.0 <= v <= 1.0, f"{name} must be in [0, 1], got {v!r}")
    return v



def _rle(det_id: str, mask: Any) -> dict[str, Any]:
    """A detection's RLE mask, validated by :func:`autolabel.masks.check_rle` (its counts decoded
    and summed, so a hand-edited mask fails here, naming the detection, and never reaches an
    exporter or pycocotools)."""
    return masks.check_rle(mask, f"detection {det_id}: mask")


@dataclass(frozen=True)
class Alternative:
    """One entry of a detection's top-k: a class the classifier also considered."""

    label: str
    label_id: str
    score: float

    def __post_init__(self) -> None:
        _require(isinstance(self.label, str), f"topk label must be a string, got {self.label!r}")
        object.__setattr__(self, "label_id", str(self.label_id))
        object.__setattr__(self, "score", _prob("topk score", self.score))

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "label_id": self.label_id, "score": self.score}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alternative:
        try:
            return cls(label=d["label"], label_id=d["label_id"], score=d["score"])
        except KeyError as e:
            raise RecordError(f"topk entry lacks {e.args[0]!r}: {dict(d)!r}") from None


@dataclass(frozen=True)
class Detection:
    """One box with its label.

    Attributes:
        id: stable identifier, ``<image stem>-<n>`` for automatic boxes; survives export,
            review and re-import so corrections can be diffed.
        box: pixel ``(x1, y1, x2, y2)`` floats, ``x2 > x1``, ``y2 > y1``.
        label: readable class name (a user class when a vocabulary is used).
        score: confidence in [0, 1]: for automatic boxes ``sqrt(objectness * class_score)``
            (see :mod:`autolabel.pipeline.scoring`); what exporters, review and evaluate threshold.
        objectness: discovery score in [0, 1] (1.0 for boxes a person drew).
        label_id: WordNet synset (``n02123045``), a user class, or a model class index.
        topk: alternatives, best first (may be empty).
        source: ``"auto"`` (the pipeline) or ``"human"`` (drawn or edited in review).
        reviewed: a person looked at this box and kept it.
        class_score: the classifier's probability of ``label`` in [0, 1]; None in records
            written before scores combined objectness (their ``score`` was this probability).
        mask: the object's instance mask, COCO compressed RLE ``{"size": [H, W], "counts": str}``
            over the whole displayed image (see :mod:`autolabel.masks`); None when the run has
            no masks. The box is the mask's bounds when a mask is present.
    """

    id: str
    box: Box
    label: str
    score: float
    objectness: float
    label_id: str = ""
    topk: tuple[Alternative, ...] = ()
    source: str = "auto"
    reviewed: bool = False
    class_score: float | None = None
    mask: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _require(isinstance(self.id, str) and self.id != "", f"detection id must be a non-empty string, got {self.id!r}")
        try:
            box = tuple(float(v) for v in self.box)
        except (TypeError, ValueError):
            raise RecordError(f"detection {self.id}: box must be 4 numbers, got {self.box!r}") from None
        _require(len(box) == 4, f"detection {self.id}: box must be (x1, y1, x2, y2), got {self.box!r}")
        _require(all(math.isfinite(v) for v in box), f"detection {self.id}: box has a non-finite value {box!r}")
        _require(box[2] > box[0] and box[3] > box[1], f"detection {self.id}: box needs x2 > x1 and y2 > y1, got {box!r}")
        object.__setattr__(self, "box", box)
        _require(isinstance(self.label, str) and self.label != "", f"detection {self.id}: label must be a non-empty string, got {self.label!r}")
        object.__setattr__(self, "label_id", str(self.label_id))
        object.__setattr__(self, "score", _prob(f"detection {self.id}: score", self.score))
        object.__setattr__(self, "objectness", _prob(f"detection {self.id}: objectness", self.objectness))
        object.__setattr__(self, "topk", tuple(a if isinstance(a, Alternative) else Alternative.from_dict(a) for a in self.topk))
        _require(self.source in SOURCES, f"detection {self.id}: source must be one of {SOURCES}, got {self.source!r}")
        object.__setattr__(self, "reviewed", bool(self.reviewed))
        if self.class_score is not None:
            object.__setattr__(self, "class_score", _prob(f"detection {self.id}: class_score", self.class_score))
        if self.mask is not None:
            object.__setattr__(self, "mask", _rle(self.id, self.mask))

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return self.width * self.height

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "box": list(self.box),
            "label": self.label,
            "label_id": self.label_id,
            "score": self.score,
            "objectness": self.objectness,
            "topk": [a.to_dict() for a in self.topk],
            "source": self.source,
        }
        if self.reviewed:
            d["reviewed"] = True
        if self.class_score is not None:
            d["class_score"] = self.class_score
        if self.mask is not None:
            d["mask"] = {"size": list(self.mask["size"]), "counts": self.mask["counts"]}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Detection:
        try:
            return cls(
                id=d["id"],
                box=tuple(d["box"]),
                label=d["label"],
                score=d["score"],
                objectness=d.get("objectness", 1.0),
                label_id=d.get("label_id", ""),
                topk=tuple(Alternative.from_dict(a) for a in d.get("topk", ())),
                source=d.get("source", "auto"),
                reviewed=d.get("reviewed", False),
                class_score=d.get("class_score"),
                mask=d.get("mask"),
            )
        except KeyError as e:
            raise RecordError(f"detection lacks {e.args[0]!r}: {dict(d)!r}") from None

    def with_(self, **changes: Any) -> Detection:
        """A copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class ImageAnnotations:
    """All detections of one image.

    Attributes:
        path: POSIX path relative to the run's image root (``cam1/0001.jpg``).
        width, height: displayed size in pixels (after EXIF transpose).
        detections: boxes, each inside ``[0, width] x [0, height]``.
    """

    path: str
    width: int
    height: int
    detections: tuple[Detection, ...] = ()

    def __post_init__(self) -> None:
        _require(isinstance(self.path, str) and self.path != "", f"image path must be a non-empty string, got {self.path!r}")
        _require(not self.path.startswith("/") and ".." not in self.path.split("/"), f"image path must be relative to the image root, got {self.path!r}")
        for name in ("width", "height"):
            v = getattr(self, name)
            _require(isinstance(v, int) and not isinstance(v, bool) and v > 0, f"{self.path}: {name} must be a positive int, got {v!r}")
        dets = tuple(d if isinstance(d, Detection) else Detection.from_dict(d) for d in self.detections)
        eps = 1e-3
        for d in dets:
            x1, y1, x2, y2 = d.box
            _require(
                x1 >= -eps and y1 >= -eps and x2 <= self.width + eps and y2 <= self.height + eps,
                f"{self.path}: detection {d.id} box {d.box} leaves the {self.width}x{self.height} image",
            )
            _require(
                d.mask is None or list(d.mask["size"]) == [self.height, self.width],
                f"{self.path}: detection {d.id} mask is {d.mask and d.mask['size']} (h, w), the image is "
                f"{[self.height, self.width]}",
            )
        ids = [d.id for d in dets]
        _require(len(set(ids)) == len(ids), f"{self.path}: detection ids are not unique: {ids}")
        object.__setattr__(self, "detections", dets)

    @property
    def stem(self) -> str:
        return Path(self.path).stem

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "width": self.width,
            "height": self.height,
            "detections": [d.to_dict() for d in self.detections],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageAnnotations:
        try:
            return cls(
                path=d["path"],
                width=d["width"],
                height=d["height"],
                detections=tuple(Detection.from_dict(x) for x in d.get("detections", ())),
            )
        except KeyError as e:
            raise RecordError(f"image record lacks {e.args[0]!r}") from None


@dataclass(frozen=True)
class ImageFailure:
    """An image that could not be processed: relative ``path`` and a plain ``reason``."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageFailure:
        try:
            return cls(path=d["path"], reason=d["reason"])
        except KeyError as e:
            raise RecordError(f"failure record lacks {e.args[0]!r}") from None


@dataclass(frozen=True)
class RunInfo:
    """What an exporter (or any reader) needs to know about a run, besides its images.

    Attributes:
        name: the run directory's name.
        run_dir: the run directory.
        image_root: folder that image paths are relative to (a file's parent for single-file runs).
        classes: the ordered class list used by every exporter; index = ``class_id``.
        model_version: short id of the models and settings (e.g. for Label Studio).
        config: the resolved pipeline config as stored in the manifest.
        revision: ``None`` for the original predictions, else the revision's name.
    """

    name: str
    run_dir: Path
    image_root: Path
    classes: tuple[str, ...]
    model_version: str = "autolabel"
    config: Mapping[str, Any] = field(default_factory=dict)
    revision: str | None = None

    def __post_init__(self) -> None:
        classes = tuple(self.classes)
        _require(all(isinstance(c, str) and c for c in classes), f"classes must be non-empty strings, got {classes!r}")
        _require(len(set(classes)) == len(classes), f"classes must be unique, got {classes!r}")
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "run_dir", Path(self.run_dir))
        object.__setattr__(self, "image_root", Path(self.image_root))

    def class_id(self, label: str) -> int:
        """0-based index of ``label`` in :attr:`classes`; :class:`RecordError` if absent."""
        try:
            return self._index[label]
        except KeyError:
            raise RecordError(f"label {label!r} is not in the run's class list") from None

    @property
    def _index(self) -> dict[str, int]:
        idx = self.__dict__.get("_class_index")
        if idx is None:
            idx = {c: i for i, c in enumerate(self.classes)}
            object.__setattr__(self, "_class_index", idx)
        return idx
