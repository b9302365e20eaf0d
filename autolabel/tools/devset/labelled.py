"""Any COCO-labelled folder as a dev set: its images, a fixed tune / report split, and the
pipeline's records on it (exactly what ``annotate`` would export with the same settings).

The split rule (:func:`split_of`) depends only on an image's ``file_name`` as the COCO file
writes it, so everyone's halves agree, on any machine, whatever order the file lists images in:
an image is in the **tune** half when the first 8 hex digits of the SHA-256 of its UTF-8
``file_name`` read as an even number, in the **report** half otherwise. Choose settings on the
tune half; report numbers on the report half.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from autolabel.errors import ConfigError, InputError
from autolabel.formats.base import GroundTruthImage
from autolabel.types import ImageAnnotations, ImageFailure

log = logging.getLogger(__name__)

SPLITS = ("tune", "report", "all")
"""What ``--split`` takes: the tune half, the report half, or every image."""


def split_of(file_name: str) -> str:
    """``"tune"`` or ``"report"``: the half ``file_name`` (as the COCO file writes it) is in."""
    digest = hashlib.sha256(file_name.encode("utf-8")).hexdigest()
    return "tune" if int(digest[:8], 16) % 2 == 0 else "report"


def group_of(path: str) -> str:
    """The top-level folder of a relative image path (``"."`` for an image at the top)."""
    parts = path.split("/")
    return parts[0] if len(parts) > 1 else "."


@dataclass(frozen=True)
class LabelledSet:
    """Labelled images: ground truth (pixel boxes, crowd flags, masks) and where the files are.

    Attributes:
        annotations: the COCO JSON file read.
        images_dir: the folder the COCO ``file_name`` s are relative to.
        images: one :class:`~autolabel.formats.base.GroundTruthImage` per image, in file order.
        split: which half this is (``tune``, ``report`` or ``all``).
    """

    annotations: Path
    images_dir: Path
    images: tuple[GroundTruthImage, ...]
    split: str = "all"

    @property
    def num_boxes(self) -> int:
        """Ground-truth boxes to find (crowd regions left out)."""
        return sum(sum(1 for ig in g.ignore if not ig) for g in self.images)

    def half(self, split: str) -> LabelledSet:
        """The images of one half (:func:`split_of`), or all of them for ``"all"``."""
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if split == "all":
            return replace(self, split=self.split)
        return replace(self, images=tuple(g for g in self.images if split_of(g.path) == split), split=split)

    def only(self, names: Iterable[str]) -> LabelledSet:
        """The images whose path, file name or stem is in ``names``; ConfigError naming any absent."""
        want = set(names)

        def keys(g: GroundTruthImage) -> set[str]:
            return {g.path, Path(g.path).name, Path(g.path).stem}

        keep = tuple(g for g in self.images if keys(g) & want)
        missing = want - set().union(*(keys(g) for g in keep)) if keep else want
        if missing:
            raise ConfigError(f"{self.annotations} has no image {', '.join(sorted(missing))}")
        return replace(self, images=keep)


def load_labelled(annotations: str | os.PathLike[str], images_dir: str | os.PathLike[str], split: str = "all") -> LabelledSet:
    """Read COCO ground truth (with masks where it has segmentations) and check its images exist.

    Raises:
        GroundTruthError: the COCO file is malformed.
        InputError: ``images_dir`` is not a folder, or an image of the file is not in it.
    """
    from autolabel.formats.coco import read_coco

    root = Path(images_dir)
    if not root.is_dir():
        raise InputError(f"--images {root}: not a folder")
    gt = read_coco(annotations, with_masks=True)
    absent = [g.path for g in gt.images if not (root / g.path).is_file()]
    if absent:
        more = f" and {len(absent) - 3} more" if len(absent) > 3 else ""
        raise InputError(f"{len(absent)} images of {annotations} are not in {root}: {', '.join(absent[:3])}{more}")
    return LabelledSet(Path(annotations), root, tuple(gt.images)).half(split)


@dataclass
class Annotated:
    """The pipeline's output on a labelled set: records in the set's order, failures, timing."""

    records: list[ImageAnnotations]
    failures: list[ImageFailure]
    seconds: float
    """Wall clock of the whole pass, models built beforehand."""

    @property
    def seconds_per_image(self) -> float:
        n = len(self.records) + len(self.failures)
        return self.seconds / n if n else 0.0


def annotate_set(cfg: Any, images: LabelledSet, *, models: Any = None,
                 progress: Callable[[str], None] | None = None) -> Annotated:
    """Run the whole pipeline (:func:`autolabel.pipeline.annotate_images`) with ``cfg`` on the
    set's images, named by their relative paths: the records ``annotate`` would write."""
    from autolabel.pipeline import annotate_images, load_models

    if models is None:
        models = load_models(cfg)
    paths = [g.path for g in images.images]
    records: list[ImageAnnotations] = []
    failures: list[ImageFailure] = []
    t0 = time.perf_counter()
    for result in annotate_images([images.images_dir / p for p in paths], cfg, models=models, names=paths):
        if progress:
            progress(result.path)
        if isinstance(result, ImageFailure):
            log.warning("%s: %s", result.path, result.reason)
            failures.append(result)
        else:
            records.append(result)
    return Annotated(records, failures, time.perf_counter() - t0)


def pair_records(images: LabelledSet, records: Sequence[ImageAnnotations]) -> list[tuple[GroundTruthImage, ImageAnnotations]]:
    """Each labelled image with its record (by path), its boxes fitted to the record's pixels
    (the displayed image); images without a record are left out (logged)."""
    by_path = {r.path: r for r in records}
    pairs = []
    for g in images.images:
        rec = by_path.get(g.path)
        if rec is None:
            log.info("%s: no record (not annotated)", g.path)
            continue
        pairs.append((g.fit_to(rec.width, rec.height), rec))
    return pairs


def save_records(path: str | os.PathLike[str], records: Iterable[ImageAnnotations]) -> None:
    """Write records as JSON lines (one image a line)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".part")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.to_dict(), separators=(",", ":")) + "\n")
    os.replace(tmp, p)


def load_records(path: str | os.PathLike[str]) -> list[ImageAnnotations]:
    """Records written by :func:`save_records` (or a run's ``predictions.jsonl``)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"cannot read records {p}: {e.strerror or e}") from None
    try:
        return [ImageAnnotations.from_dict(json.loads(line)) for line in lines if line.strip()]
    except ValueError as e:
        raise InputError(f"{p}: not records of annotate ({e})") from None


def as_dev_images(images: LabelledSet) -> list[tuple[Any, Path]]:
    """The set's images as ``(DevImage, file)`` pairs for :func:`~autolabel.tools.devset.discovery.evaluate_discovery`
    (discovery alone), crowd regions left out; the source records only the file's path."""
    from autolabel.tools.devset.packaged import DevImage, Source

    out = []
    for k, g in enumerate(images.images):
        if g.width is None or g.height is None:
            raise InputError(f"{images.annotations}: {g.path} has no width and height")
        keep = [b for b, ig in zip(g.boxes, g.ignore) if not ig]
        import numpy as np

        boxes = np.asarray(keep, dtype=np.float64).reshape(-1, 4)
        labels = tuple(lab for lab, ig in zip(g.labels, g.ignore) if not ig)
        out.append((DevImage(k + 1, g.path, g.width, g.height, Source("", "", g.path, "", ""), boxes, labels),
                    images.images_dir / g.path))
    return out
