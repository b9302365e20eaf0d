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
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Callable

from autolabel.errors import FormatLimitError
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
    voc_annotation,
    voc_labelmap_line,
    voc_png,
    voc_segmentation,
)
from autolabel.types import ImageAnnotations

Z_RLE = 3
"""zlib's ``Z_RLE`` strategy (PIL's ``compress_type``) for the segmentation PNGs."""


def _save_segmentation(image: ImageAnnotations, class_ids: list[int], num_classes: int, objects_png: Path,
                       classes_png: Path) -> None:
    """Paint one image's SegmentationObject and SegmentationClass index images
    (:func:`~autolabel.formats.voc.voc_segmentation`) and write them as VOC palette PNGs. zlib's
    run-length strategy: an index image is long runs of one value, which it packs smaller than
    the default strategy (about 0.6x the bytes) in a third of the time."""
    seg = voc_segmentation(image, class_ids, num_classes)
    if seg is not None:
        for index, path in zip(seg, (objects_png, classes_png)):
            voc_png(index).save(path, compress_type=Z_RLE)


class _Background:
    """One worker thread that runs one job at a time while the export goes on (numpy's large
    fills and PNG encoding release the GIL: a photo's PNGs are made while the next image's
    polygons are traced, on a second core).
    At most one job waits: :meth:`submit` first waits for the previous one (raising its error),
    so memory stays one image's index images. :meth:`close` waits for the last one."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        self.wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="autolabel-voc-png")
        self._pending = self._pool.submit(fn, *args)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
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
        self._pngs = self.track(_Background())

    def _write_masks(self, image: ImageAnnotations, stem: str) -> None:
        if not self.opts["voc_masks"] or all(d.mask is None for d in image.detections):
            return
        if self._seg_list is None:
            for d in (SEGMENTATION_OBJECT_DIR, SEGMENTATION_CLASS_DIR, SEGMENTATION_SETS_DIR):
                (self.out_dir / d).mkdir(parents=True, exist_ok=True)
            self._seg_list = self.open_file(self.out_dir / SEGMENTATION_SETS_DIR / f"{self.split}.txt")
        # painted and compressed while the next images are written (an image the PNGs cannot
        # carry raises its FormatLimitError from the next write or from close)
        self._pngs.submit(_save_segmentation, image, [self.run.class_id(d.label) for d in image.detections],
                          len(self.run.classes), self.out_dir / SEGMENTATION_OBJECT_DIR / f"{stem}.png",
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
        self._pngs.close()
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
