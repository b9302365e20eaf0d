"""Pascal VOC (devkit layout), as the datumaro, CVAT and fiftyone importers read it.

Layout::

    voc/Annotations/<name>.xml
    voc/JPEGImages/<name><ext>               (with --copy-images / --link-images)
    voc/ImageSets/Main/<split>.txt           one <name> per line: the item list
    voc/labelmap.txt                         "<class>:::" per line, every class of the run
    voc/image_names.csv                      <name><ext>, source path (VOC names are flat)
    voc/SegmentationObject/<name>.png        with masks: instance index (XML object order, 1-based)
    voc/SegmentationClass/<name>.png         with masks: class id + 1 (VOC colour map, 0 background)
    voc/ImageSets/Segmentation/<split>.txt   with masks: the images that have them

The segmentation PNGs are left out with ``voc_masks=false`` (``-O voc_masks=false``): boxes only.
They are made from the masks' runs on two worker threads while the next images are written
(:func:`autolabel.formats.voc.segmentation_runs`, compressed from the runs: a 40 MP photo's
index images are never laid out); a PNG that cannot be written ends the export with an
:class:`~autolabel.errors.ExportError` naming it.
A PNG holds at most 254 objects an image and 254 classes (8-bit values; 0 background, 255
void): an image beyond that fails the VOC export alone (:class:`~autolabel.errors.FormatLimitError`),
naming the image; the other formats of the same export are still written.

``<name>`` is the image's path made flat (:func:`autolabel.formats.names.flat_stem`: folders
joined with ``__``, whitespace replaced by ``_``, control characters and bytes that are not
UTF-8 percent-escaped), with a short hash appended when two images would get the same name or
the name would pass 255 bytes (then cut, extension kept). ``image_names.csv`` maps each name back
to the run's exact path.

Boxes are integers. Default ``voc_origin="one"`` follows the devkit (first pixel is 1):
``xmin = floor(x1) + 1``, ``xmax = min(ceil(x2), W)``. ``voc_origin="zero"`` writes
``xmin = floor(x1)`` (what CVAT and fiftyone assume on import); ``xmax`` is the same in both.
The rules (origin, ``truncated``, score attributes) live in :mod:`autolabel.formats.voc`,
beside the ground-truth reader that undoes them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Callable

from autolabel.errors import ExportError, FormatLimitError
from autolabel.export import Exporter, Option
from autolabel.formats.names import FlatNamer, NamesTable, flat_suffix
from autolabel.formats.voc import (
    ANNOTATIONS_DIR,
    BACKGROUND,
    IMAGESETS_DIR,
    LABELMAP,
    PNG_MAX_INDEX,
    SEGMENTATION_CLASS_DIR,
    SEGMENTATION_OBJECT_DIR,
    SEGMENTATION_SETS_DIR,
    segmentation_objects,
    segmentation_runs,
    voc_annotation,
    voc_labelmap_line,
    voc_png_runs,
)
from autolabel.types import ImageAnnotations

PNG_WORKERS = 2
"""Threads that make the segmentation PNGs while the export goes on (numpy releases the GIL in
its larger steps); also the most images in flight, each holding its masks' runs."""


def _save_segmentation(image: ImageAnnotations, class_ids: list[int], objects: list[int], objects_png: Path,
                       classes_png: Path) -> None:
    """Make one image's SegmentationObject and SegmentationClass PNGs from its masks' runs
    (:func:`~autolabel.formats.voc.segmentation_runs`, compressed from the runs: the images are
    never laid out pixel by pixel) and write them.

    Raises:
        ExportError: naming the PNG that could not be made or written (its cause chained);
            no part of that PNG is left on disk.
    """
    try:
        runs = segmentation_runs(image, class_ids, objects)
    except Exception as e:
        raise ExportError(f"{objects_png}: cannot make the segmentation of {image.path}: {type(e).__name__}: {e}") from e
    for part, path in zip(runs, (objects_png, classes_png)):
        made = False
        try:
            data = voc_png_runs(part, image.width, image.height)
            with open(path, "wb") as f:
                made = True
                f.write(data)
        except Exception as e:
            if made:  # a file cut short is no PNG: remove it
                Path(path).unlink(missing_ok=True)
            raise ExportError(f"{path}: cannot write the segmentation PNG: {type(e).__name__}: {e}") from e


class PngPool:
    """A few worker threads that run jobs while the export goes on, in order of submission,
    at most ``workers`` at a time (memory: that many images' records and masks' runs).

    :meth:`submit` first raises the error of any finished job (oldest first) and, when
    ``workers`` jobs are in flight, waits for the oldest; :meth:`finish` waits for all and
    raises the first error; :meth:`close` (what :meth:`~autolabel.export.Exporter.abort`
    calls) drops the jobs not started, waits for the running ones and raises nothing, so no
    file is written after it returns.
    """

    def __init__(self, workers: int = PNG_WORKERS) -> None:
        self.workers = max(1, int(workers))
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        while self._pending and (self._pending[0].done() or len(self._pending) >= self.workers):
            self._pending.popleft().result()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="autolabel-voc-png")
        self._pending.append(self._pool.submit(fn, *args))

    def finish(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self.close()

    def close(self) -> None:
        for f in self._pending:
            f.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class VocExporter(Exporter):
    """Pascal VOC XML per image, devkit layout."""

    name = "voc"
    description = "Pascal VOC XML per image (devkit layout, labelmap.txt, 1-based integer boxes)"
    default_split = "default"
    options = {
        "voc_origin": Option("one", "pixel origin of bndbox: 'one' (devkit) or 'zero' (CVAT/fiftyone read it as is)",
                             choices=("one", "zero"), flag="--voc-origin"),
        "voc_masks": Option(True, f"write SegmentationObject/SegmentationClass PNGs for objects with masks (false: "
                                  f"boxes only); a PNG holds at most {PNG_MAX_INDEX} objects per image and "
                                  f"{PNG_MAX_INDEX} classes, and an image beyond that fails the VOC export"),
    }

    def open(self) -> None:
        super().open()
        self._labelmap = "".join(voc_labelmap_line(c) for c in self.run.classes)
        (self.out_dir / ANNOTATIONS_DIR).mkdir()
        (self.out_dir / IMAGESETS_DIR).mkdir(parents=True)
        self._namer = FlatNamer()
        self._list: IO[str] = self.open_file(self.out_dir / IMAGESETS_DIR / f"{self.split}.txt")
        self._names = self.track(NamesTable(self.out_dir / NamesTable.FILENAME))
        self._seg_list: IO[str] | None = None  # opened with the first mask
        self._pngs = self.track(PngPool())

    def _write_masks(self, image: ImageAnnotations, stem: str) -> None:
        if not self.opts["voc_masks"] or all(d.mask is None for d in image.detections):
            return
        class_ids = [self.run.class_id(d.label) for d in image.detections]
        objects = segmentation_objects(image, class_ids, len(self.run.classes))  # FormatLimitError here, named
        if self._seg_list is None:
            for d in (SEGMENTATION_OBJECT_DIR, SEGMENTATION_CLASS_DIR, SEGMENTATION_SETS_DIR):
                (self.out_dir / d).mkdir(parents=True, exist_ok=True)
            self._seg_list = self.open_file(self.out_dir / SEGMENTATION_SETS_DIR / f"{self.split}.txt")
        # painted and compressed on the pool while the next images are written
        self._pngs.submit(_save_segmentation, image, class_ids, objects,
                          self.out_dir / SEGMENTATION_OBJECT_DIR / f"{stem}.png",
                          self.out_dir / SEGMENTATION_CLASS_DIR / f"{stem}.png")
        self._seg_list.write(stem + "\n")

    def write(self, image: ImageAnnotations) -> None:
        stem = self._namer(image.path)
        filename = stem + flat_suffix(image.path)
        root = voc_annotation(image, filename, self.opts["voc_origin"], self.opts["voc_masks"])
        ET.indent(root)
        xml = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
        (self.out_dir / ANNOTATIONS_DIR / f"{stem}.xml").write_text(xml, encoding="utf-8")
        self._list.write(stem + "\n")
        self._write_masks(image, stem)
        self._names.add(filename, image.path)
        self.place_image(image, self.out_dir / "JPEGImages" / filename)

    def close(self) -> list[Path]:
        self._pngs.finish()
        self._list.close()
        labelmap = self.out_dir / LABELMAP
        segmented = self._seg_list is not None
        if segmented and BACKGROUND in self.run.classes:
            raise FormatLimitError(f"VOC segmentation needs class index 0 for {BACKGROUND!r}, which is a class of this "
                                   "run; rename it with a vocabulary, write VOC without segmentation PNGs "
                                   "(-O voc_masks=false), or export masks with another format")
        labelmap.write_text((voc_labelmap_line(BACKGROUND) if segmented else "") + self._labelmap, encoding="utf-8")
        written = [self.out_dir / ANNOTATIONS_DIR, Path(self._list.name), labelmap, self._names.close()]
        if self._seg_list is not None:
            self._seg_list.close()
            written += [Path(self._seg_list.name), self.out_dir / SEGMENTATION_OBJECT_DIR,
                        self.out_dir / SEGMENTATION_CLASS_DIR]
        if self.images != "none":
            written.append(self.out_dir / "JPEGImages")
        return written
