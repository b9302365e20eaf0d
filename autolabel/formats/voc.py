"""Pascal VOC: the format's facts and its ground-truth reader.

Layout (devkit, as datumaro, CVAT and fiftyone read it; FORMATS.md section 2)::

    Annotations/<stem>.xml        one <annotation> per image
    JPEGImages/<file>
    ImageSets/Main/<split>.txt    one <stem> per line: the item list
    labelmap.txt                  "<name>:::" per line (name:color:parts:actions)

Origin, the one rule both directions follow (:func:`first_pixel`): the VOC devkit numbers pixels
from 1 and ``xmax``/``ymax`` name the last pixel inside the box (``origin="one"``, the default),
so the box ``(x1, y1, x2, y2)`` with exclusive ``x2`` is ``(xmin - 1, ymin - 1, xmax, ymax)``.
Tools that store 0-based values (CVAT, fiftyone, datumaro's default) are ``origin="zero"``:
``(xmin, ymin, xmax, ymax)``. Writing (:func:`voc_bndbox`) makes integers that cover every
pixel the float box touches; reading (:func:`bndbox_to_box`) undoes the origin.

Reader: every XML under ``Annotations/`` (sub-folders included) is one labelled image. Its path
is the XML's sub-folder joined with ``<filename>`` (or the XML's stem when ``<filename>`` is
missing); in an autolabel export, ``image_names.csv`` turns the flat name back into the run's
path. Classes come from ``labelmap.txt`` when present, else from the objects.
``difficult`` objects are kept as ordinary boxes (LOST's CorLoc protocol keeps them too).

Masks (:func:`voc_segmentation`): ``SegmentationObject/<stem>.png`` (instance index in the XML's
object order, 1-based) and ``SegmentationClass/<stem>.png`` (class id + 1), palette PNGs with
the VOC colour map (:func:`voc_colormap`), 0 background, no 255 void border;
``ImageSets/Segmentation/<split>.txt`` lists the images that have them, whose XML says
``segmented`` 1. ``labelmap.txt`` then starts with ``background`` so that class PNG value
``k`` is line ``k`` (datumaro maps the colours by line). A PNG holds object indices and class
values 1 to :data:`PNG_MAX_INDEX` (254): an image beyond that is a :class:`FormatLimitError`
naming it (:func:`segmentation_objects`, before any mask is read).

The exporter writes the PNGs from the masks' runs (:func:`segmentation_runs`, :func:`voc_png_runs`):
the scanlines as runs of one value, compressed from the runs, never laid out pixel by pixel.
:func:`voc_segmentation` and :func:`paint_segmentation` give the same images as arrays.
"""

from __future__ import annotations

import functools
import logging
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

import numpy as np

from autolabel import masks
from autolabel.errors import ConfigError, ExportError, FormatLimitError
from autolabel.formats import indexpng
from autolabel.formats.base import (
    GroundTruth,
    GroundTruthError,
    GroundTruthImage,
    check_unique_paths,
    class_list,
    xml_root,
)
from autolabel.formats.names import map_through_names_table
from autolabel.formats.text import fmt_float
from autolabel.types import Box, Detection, ImageAnnotations
from autolabel.yamlio import excerpt, read_text

log = logging.getLogger(__name__)

ORIGINS = ("one", "zero")
"""Pixel origins of ``bndbox``: ``one`` (devkit, 1-based inclusive) or ``zero`` (read as is)."""
ANNOTATIONS_DIR = "Annotations"
IMAGES_DIR = "JPEGImages"
IMAGESETS_DIR = "ImageSets/Main"
SEGMENTATION_SETS_DIR = "ImageSets/Segmentation"
SEGMENTATION_OBJECT_DIR = "SegmentationObject"
SEGMENTATION_CLASS_DIR = "SegmentationClass"
LABELMAP = "labelmap.txt"
BACKGROUND = "background"
"""First line of ``labelmap.txt`` when the export has segmentation PNGs: class PNG value 0."""

BndBox = tuple[int, int, int, int]


def first_pixel(origin: str) -> int:
    """The index of the first pixel under ``origin``: 1 for ``one``, 0 for ``zero``.

    Raises:
        ConfigError: ``origin`` is not one of :data:`ORIGINS`.
    """
    if origin not in ORIGINS:
        raise ConfigError(f"VOC origin must be one of {ORIGINS}, got {origin!r}")
    return 1 if origin == "one" else 0


def voc_bndbox(box: Box, width: int, height: int, origin: str = "one") -> BndBox:
    """Float ``(x1, y1, x2, y2)`` (x2 exclusive) -> integer ``(xmin, ymin, xmax, ymax)``.

    ``origin="one"``: devkit, 1-based inclusive pixels (``xmin >= 1``, ``xmax <= W``).
    ``origin="zero"``: ``xmin = floor(x1)`` (>= 0), ``xmax`` unchanged (exclusive, <= W).
    The result covers every pixel the float box touches, so it is at most 1 px larger per side,
    and never less than one pixel.
    """
    x1, y1, x2, y2 = box
    off = first_pixel(origin)
    xmin = min(max(math.floor(x1), 0), width - 1) + off
    ymin = min(max(math.floor(y1), 0), height - 1) + off
    xmax = max(min(math.ceil(x2), width), xmin + 1 - off)
    ymax = max(min(math.ceil(y2), height), ymin + 1 - off)
    return xmin, ymin, xmax, ymax


def bndbox_to_box(bndbox: Sequence[float], origin: str = "one") -> Box:
    """``(xmin, ymin, xmax, ymax)`` as a VOC file holds them -> ``(x1, y1, x2, y2)``, x2 exclusive."""
    off = first_pixel(origin)
    xmin, ymin, xmax, ymax = (float(v) for v in bndbox)
    return (xmin - off, ymin - off, xmax, ymax)


def voc_truncated(bndbox: BndBox, width: int, height: int, origin: str = "one") -> int:
    """1 if the integer box covers a pixel of the image's border rows/columns, else 0."""
    xmin, ymin, xmax, ymax = bndbox
    first = first_pixel(origin)
    return int(xmin <= first or ymin <= first or xmax >= width or ymax >= height)


def voc_object(det: Detection, width: int, height: int, origin: str = "one") -> ET.Element:
    """The ``<object>`` element for one detection (text escaped by ElementTree); score and
    objectness go into ``<attributes>``, which datumaro and fiftyone read."""
    bb = voc_bndbox(det.box, width, height, origin)
    obj = ET.Element("object")
    for tag, text in (("name", det.label), ("pose", "Unspecified"),
                      ("truncated", str(voc_truncated(bb, width, height, origin))),
                      ("difficult", "0"), ("occluded", "0")):
        ET.SubElement(obj, tag).text = text
    bndbox = ET.SubElement(obj, "bndbox")
    for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), bb):
        ET.SubElement(bndbox, tag).text = str(v)
    attrs = ET.SubElement(obj, "attributes")
    for name, value in (("score", det.score), ("objectness", det.objectness)):
        a = ET.SubElement(attrs, "attribute")
        ET.SubElement(a, "name").text = name
        ET.SubElement(a, "value").text = fmt_float(value)
    return obj


def voc_annotation(image: ImageAnnotations, filename: str, origin: str = "one", segmented: bool = True) -> ET.Element:
    """The ``<annotation>`` root for one image; ``filename`` is the exported image file name.
    ``<segmented>`` is 1 when some detection has a mask, unless ``segmented`` is False (an export
    that writes no segmentation PNGs)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = IMAGES_DIR
    ET.SubElement(root, "filename").text = filename
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(image.width)
    ET.SubElement(size, "height").text = str(image.height)
    ET.SubElement(size, "depth").text = "3"
    has_masks = segmented and any(d.mask is not None for d in image.detections)
    ET.SubElement(root, "segmented").text = "1" if has_masks else "0"
    for det in image.detections:
        root.append(voc_object(det, image.width, image.height, origin))
    return root


def voc_colormap(n: int = 256) -> list[tuple[int, int, int]]:
    """The Pascal VOC colour map: index ``i`` -> ``(r, g, b)``, the bits of ``i`` spread over
    the high bits of the three channels (0 black, 1 ``(128, 0, 0)``, 2 ``(0, 128, 0)``, ...,
    255 ``(224, 224, 192)``, VOC's "void")."""
    out = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    return out


@functools.cache
def _colormap() -> tuple[tuple[int, int, int], ...]:
    return tuple(voc_colormap())


PNG_MAX_INDEX = 254
"""Largest object index or class value a VOC segmentation PNG holds: values are 8-bit, 0 is the
background and 255 VOC's "void" border."""


def segmentation_objects(image: ImageAnnotations, class_ids: Sequence[int], num_classes: int | None = None) -> list[int]:
    """The detections of ``image`` that the segmentation PNGs paint (those with a mask), as
    indices into ``image.detections``; ``[]`` when none has a mask. Cheap: it reads no mask.

    Raises:
        FormatLimitError: naming the image: a masked detection at object index above
            :data:`PNG_MAX_INDEX` (the image has too many objects), or of a class whose value
            would be above it (the run has too many classes; ``num_classes``, if given, is
            named in the message).
    """
    dets = [k for k, d in enumerate(image.detections) if d.mask is not None]
    if not dets:
        return []
    hint = "write VOC without segmentation PNGs (-O voc_masks=false) or the masks in another format"
    last = dets[-1] + 1
    if last > PNG_MAX_INDEX:
        raise FormatLimitError(f"{image.path}: {len(image.detections)} objects, object {last} has a mask; a VOC "
                               f"SegmentationObject PNG holds objects 1 to {PNG_MAX_INDEX}: {hint}")
    k = max(dets, key=lambda k: class_ids[k])
    if class_ids[k] + 1 > PNG_MAX_INDEX:
        d = image.detections[k]
        of = f" of the run's {num_classes}" if num_classes is not None else ""
        raise FormatLimitError(f"{image.path}: object {d.id} is class {d.label!r}, number {class_ids[k] + 1}{of}; a VOC "
                               f"SegmentationClass PNG holds classes 1 to {PNG_MAX_INDEX}: {hint}")
    return dets


def paint_segmentation(image: ImageAnnotations, class_ids: Sequence[int], objects: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Paint the ``SegmentationObject`` and ``SegmentationClass`` index images of ``image``, both
    in one pass over the masks' row runs (:func:`autolabel.masks.row_runs`).

    Args:
        objects: the detections to paint (:func:`segmentation_objects`), indices into
            ``image.detections``, each with a mask.

    Returns:
        ``(objects, classes)``, :func:`~autolabel.formats.indexpng.scanlines` buffers
        ``uint8 (H, W + 1)``: column 0 the PNG filter byte (0), columns ``1..W`` the image
        (what :func:`voc_segmentation` returns). Where masks overlap, the smaller object is on
        top (masks are painted largest first, then in object order). Work: the image's
        zeroing plus the masks' row runs; no per-mask array of the image's size.
    """
    obj = indexpng.scanlines(image.height, image.width)
    cls = indexpng.scanlines(image.height, image.width)
    flat_obj, flat_cls = obj.reshape(-1), cls.reshape(-1)
    for k, starts, ends in _painting_order(image, objects):
        index, value = k + 1, class_ids[k] + 1
        for a, b in zip(starts.tolist(), ends.tolist()):
            flat_obj[a:b] = index
            flat_cls[a:b] = value
    return obj, cls


def _painting_order(image: ImageAnnotations, objects: Sequence[int]) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """``(k, starts, ends)`` per detection ``k`` of ``objects``, in painting order (largest mask
    first, then object order): its row runs as ``[start, end)`` offsets into the scanlines read
    row by row (each row a filter byte, then ``width`` indices)."""
    stride = image.width + 1
    spans = []
    for k in objects:
        row, x0, x1 = masks.row_runs(image.detections[k].mask)  # type: ignore[arg-type]
        start = row * stride + x0 + 1
        spans.append((-int((x1 - x0).sum()), k, start, start + (x1 - x0)))
    spans.sort(key=lambda p: p[:2])
    return [(k, a, b) for _, k, a, b in spans]


def _merged(values: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs without empty ones, neighbours of one value joined."""
    keep = lengths > 0
    values, lengths = values[keep], lengths[keep]
    first = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    return values[first], np.add.reduceat(lengths, first)


def segmentation_runs(image: ImageAnnotations, class_ids: Sequence[int],
                      objects: Sequence[int]) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The scanlines of the ``SegmentationObject`` and ``SegmentationClass`` PNGs of ``image`` as
    runs, without painting them: the same bytes as :func:`paint_segmentation`'s buffers read
    row by row (each row a filter byte 0, then the row's indices).

    Args:
        objects: the detections to paint (:func:`segmentation_objects`), indices into
            ``image.detections``, each with a mask.

    Returns:
        ``((values, lengths), (values, lengths))`` for the object and the class image: ``uint8``
        values, ``int64`` lengths (>= 1) that add up to ``H * (W + 1)``, neighbours of one value
        joined. Where masks overlap, the smaller object is on top (painted largest first, then in
        object order). Work follows the masks' row runs times the number of objects, never the
        image's pixels.
    """
    total = image.height * (image.width + 1)
    spans = _painting_order(image, objects)
    # elementary pieces between every start and end; each gets the last object painted over it
    cuts = np.concatenate([[0, total], *(a for _, a, _ in spans), *(b for _, _, b in spans)])
    cuts.sort()
    cuts = cuts[np.concatenate(([True], cuts[1:] != cuts[:-1]))]
    top = np.zeros(cuts.size - 1, np.uint8)
    for k, a, b in spans:  # a run of one object neither overlaps nor touches another of it
        edge = np.zeros(cuts.size, np.int8)
        edge[np.searchsorted(cuts, a)] = 1
        edge[np.searchsorted(cuts, b)] = -1
        top[np.cumsum(edge[:-1]) > 0] = k + 1
    lengths = np.diff(cuts)
    lut = np.zeros(256, np.uint8)
    for k in objects:
        lut[k + 1] = class_ids[k] + 1
    return _merged(top, lengths), _merged(lut[top], lengths)


def voc_segmentation(image: ImageAnnotations, class_ids: Sequence[int],
                     num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``SegmentationObject`` and ``SegmentationClass`` index images of one image, or None when
    no detection has a mask.

    Returns ``(objects, classes)``, ``uint8 (H, W)`` (views of :func:`paint_segmentation`'s
    buffers): ``objects`` holds the 1-based index of the detection in the XML's object order,
    ``classes`` its 0-based class id + 1 (``class_ids[k]`` for detection ``k``); 0 is
    background. Where masks overlap, the smaller object is on top (masks are painted largest
    first). A detection without a mask paints nothing (its index is simply absent). No 255
    "void" border is drawn.

    Raises:
        FormatLimitError: see :func:`segmentation_objects`.
    """
    dets = segmentation_objects(image, class_ids, num_classes)
    if not dets:
        return None
    obj, cls = paint_segmentation(image, class_ids, dets)
    return obj[:, 1:], cls[:, 1:]


def voc_png_bytes(lines: np.ndarray) -> bytes:
    """The VOC palette PNG (VOC colour map) of a :func:`paint_segmentation` buffer."""
    return indexpng.palette_png_bytes(lines, _colormap())


def voc_png_runs(runs: tuple[np.ndarray, np.ndarray], width: int, height: int) -> bytes:
    """The VOC palette PNG (VOC colour map) of :func:`segmentation_runs`' runs."""
    return indexpng.palette_png_runs(runs[0], runs[1], width, height, _colormap())


def voc_labelmap_line(name: str) -> str:
    """A ``labelmap.txt`` line (``name:color:parts:actions`` with the last three empty)."""
    if ":" in name or "\n" in name or name.startswith("#"):
        raise ExportError(f"VOC cannot declare class {name!r}: labelmap.txt splits on ':' and skips '#' lines; "
                          "leave it out with --classes or use another format")
    return f"{name}:::\n"


# -- reading ground truth --------------------------------------------------------------------


def _text(el: ET.Element | None, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _number(el: ET.Element, tag: str, where: str) -> float:
    v = _text(el, tag)
    try:
        n = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GroundTruthError(f"{where}: <{tag}> must be a number, got {excerpt(v)}") from None
    if not math.isfinite(n):
        raise GroundTruthError(f"{where}: <{tag}> must be a finite number, got {excerpt(v)}")
    return n


def _size(root: ET.Element, where: str) -> tuple[int | None, int | None]:
    size = root.find("size")
    if size is None:
        return None, None
    out = []
    for tag in ("width", "height"):
        v = _text(size, tag)
        try:
            n = int(float(v)) if v is not None else None
        except (ValueError, OverflowError):  # OverflowError: inf
            raise GroundTruthError(f"{where}: <size><{tag}> must be an integer, got {excerpt(v)}") from None
        out.append(n if n and n > 0 else None)
    if None in out:
        return None, None
    return out[0], out[1]


def read_labelmap(path: Path) -> list[str]:
    """Class names from a datumaro/CVAT ``labelmap.txt`` (first ``:``-separated field per line;
    ``#`` comments and ``background`` skipped)."""
    text = read_text(path, str(path), error=GroundTruthError)
    names = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = line.split(":", 1)[0].strip()
        if name and name != "background":
            names.append(name)
    return names


def read_voc_xml(xml_path: Path, rel_dir: str = "", origin: str = "one") -> GroundTruthImage:
    """One VOC annotation file as a :class:`GroundTruthImage` (see the module doc for origins)."""
    first_pixel(origin)  # an unknown origin fails before any file is read
    root = xml_root(xml_path, "annotation", "VOC")
    filename = _text(root, "filename") or xml_path.stem
    path = f"{rel_dir}/{filename}" if rel_dir else filename
    width, height = _size(root, str(xml_path))
    boxes, labels = [], []
    for i, obj in enumerate(root.findall("object")):
        where = f"{xml_path}: object {i}"
        name = _text(obj, "name")
        if not name:
            raise GroundTruthError(f"{where} has no <name>")
        bnd = obj.find("bndbox")
        if bnd is None:
            raise GroundTruthError(f"{where} ({name}) has no <bndbox>")
        boxes.append(bndbox_to_box(tuple(_number(bnd, t, where) for t in ("xmin", "ymin", "xmax", "ymax")), origin))
        labels.append(name)
    return GroundTruthImage(path, width, height, tuple(boxes), tuple(labels))


def read_voc(path: str | Path, origin: str = "one") -> GroundTruth:
    """Read a VOC folder (``Annotations/`` inside it) as ground truth."""
    path = Path(path)
    ann_dir = path / ANNOTATIONS_DIR
    if not ann_dir.is_dir():
        raise GroundTruthError(f"{path}: not a Pascal VOC folder (no Annotations/ inside)")
    records = []
    for xml_path in sorted(ann_dir.rglob("*.xml")):
        rel_dir = xml_path.parent.relative_to(ann_dir).as_posix()
        records.append(read_voc_xml(xml_path, "" if rel_dir == "." else rel_dir, origin))
    if not records:
        raise GroundTruthError(f"{ann_dir}: no .xml annotation files")
    records, note = map_through_names_table(records, path)
    records.sort(key=lambda r: r.path)
    check_unique_paths(records, path)
    labelmap = path / LABELMAP
    declared = read_labelmap(labelmap) if labelmap.is_file() else []
    return GroundTruth("voc", path, class_list(declared, records), tuple(records), (note,) if note else ())
