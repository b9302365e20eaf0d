"""YOLO (Ultralytics layout): the format's facts and its ground-truth reader.

Layout (FORMATS.md section 3)::

    data.yaml                    train/val: images/<split>; names: {0: name, ...}; no path: key
    images/<split>/<file>
    labels/<split>/<stem>.txt    one per image; an empty file means no boxes

A label line is ``class xc yc w h``: the box centre and size in fractions of the image size
(:func:`autolabel.geometry.xyxy_to_yolo`), 6 decimals, single spaces, exactly 5 columns for
training (a 6th, the score, is Ultralytics' prediction form only). The ``segment`` task
(:func:`yolo_segment_line`) has the same layout, with ``class x1 y1 x2 y2 ...`` polygon lines
(normalised, at least 3 points).

Reader: ``data.yaml`` gives ``names`` (a dict ``{0: name, ...}`` or a list) and the splits
(``train``, ``val``, ``test``: an image folder or a ``.txt`` list of images, relative to the
yaml's folder, or to ``path`` when given). The label file of ``images/<split>/a/b.jpg`` is
``labels/<split>/a/b.txt`` (the last ``images`` folder becomes ``labels``); each file is one
labelled image, an empty file an image with nothing in it. Without split entries the folder's
``labels/`` tree is read. A polygon line (``class x1 y1 x2 y2 x3 y3 ...``) counts as its bounding
box. The image's path is its path below the split's image folder (``a/b.jpg``); when the image
file is absent the extension is unknown and the path is ``a/b`` (it is then matched to a run
image by stem). The boxes stay normalised until the image's size is known
(:meth:`~autolabel.formats.base.GroundTruthImage.fit_to`). In an autolabel export,
``image_names.csv`` turns the flat names back into the run's paths.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Sequence

import yaml

from autolabel.formats.base import GroundTruth, GroundTruthError, GroundTruthImage, check_unique_paths, class_list
from autolabel.formats.names import map_through_names_table
from autolabel.formats.text import fmt_float
from autolabel.geometry import xyxy_to_yolo, yolo_to_xyxy
from autolabel.types import Box
from autolabel.yamlio import excerpt, load_yaml

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".JPG", ".JPEG", ".PNG")
SPLIT_KEYS = ("train", "val", "test")
DATA_YAML = "data.yaml"
"""The name CVAT's importer requires; Ultralytics and fiftyone take any."""
YAML_NAMES = (DATA_YAML, "dataset.yaml")
IMAGES_DIR = "images"
LABELS_DIR = "labels"
"""Ultralytics finds a label file by replacing the last ``images`` folder of the image path with this."""


def yolo_line(class_id: int, box: Box, width: int, height: int, score: float | None = None) -> str:
    """One label line (``\\n``-terminated): ``class xc yc w h`` (+ `` score`` if given), each
    value with 6 decimals and never in exponent notation (datumaro's probe rejects ``1e-05``)."""
    fields = [str(class_id)] + [fmt_float(v) for v in xyxy_to_yolo(box, width, height)]
    if score is not None:
        fields.append(fmt_float(score))
    return " ".join(fields) + "\n"


def yolo_segment_line(class_id: int, polygon: Sequence[Sequence[float]], width: int, height: int) -> str:
    """One segmentation label line (``\n``-terminated): ``class x1 y1 x2 y2 ...``, the polygon's
    ``(x, y)`` pixel vertices divided by the image size, clipped to [0, 1], 6 decimals
    (Ultralytics' ``segment`` task; at least 3 points)."""
    pts = [(min(max(x / width, 0.0), 1.0), min(max(y / height, 0.0), 1.0)) for x, y in polygon]
    if len(pts) < 3:
        raise ValueError(f"a YOLO segment needs at least 3 points, got {len(pts)}")
    return " ".join([str(class_id)] + [fmt_float(v) for xy in pts for v in xy]) + "\n"


def box_polygon(box: Box) -> list[tuple[float, float]]:
    """The four corners of ``(x1, y1, x2, y2)``, clockwise on screen from the top-left."""
    x1, y1, x2, y2 = box
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def yolo_data_yaml(classes: Sequence[str], split: str) -> str:
    """``data.yaml`` text: ``train``/``val`` folders and ``names`` as ``{0: name, ...}`` in key
    order (datumaro takes the values in file order), written with ``yaml.safe_dump``. No
    ``path:`` key, so Ultralytics and fiftyone resolve the folders next to the file."""
    data = {
        "train": f"{IMAGES_DIR}/{split}",
        "val": f"{IMAGES_DIR}/{split}",
        "names": {i: c for i, c in enumerate(classes)},
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


# -- reading ground truth --------------------------------------------------------------------


def find_data_yaml(folder: Path) -> Path | None:
    """``data.yaml`` (or ``dataset.yaml``) in ``folder``, else None."""
    for name in YAML_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def _names(data: dict[str, Any], where: Path) -> list[str]:
    names = data.get("names")
    if isinstance(names, dict):
        try:
            items = sorted((int(k), str(v)) for k, v in names.items())
        except (TypeError, ValueError, OverflowError):
            raise GroundTruthError(f"{where}: 'names' keys must be class indices 0..n-1, got {excerpt(list(names))}") from None
        if [k for k, _ in items] != list(range(len(items))):
            raise GroundTruthError(f"{where}: 'names' keys must run 0..{len(items) - 1} without gaps, got {excerpt([k for k, _ in items])}")
        out = [v for _, v in items]
    elif isinstance(names, list):
        out = [str(v) for v in names]
    else:
        raise GroundTruthError(f"{where}: 'names' must be a dict {{0: name, ...}} or a list of class names, got {excerpt(names)}")
    for v in names.values() if isinstance(names, dict) else names:
        if v is None or isinstance(v, (list, dict, bool)):
            raise GroundTruthError(f"{where}: every class in 'names' must be a name, got {excerpt(v)}")
    nc = data.get("nc")
    if nc is not None and nc != len(out):
        raise GroundTruthError(f"{where}: nc is {excerpt(nc)} but 'names' has {len(out)} classes")
    return out


def _to_labels_dir(p: Path) -> Path:
    """Replace the last ``images`` component of ``p`` with ``labels`` (Ultralytics' rule)."""
    parts = list(p.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == IMAGES_DIR:
            parts[i] = LABELS_DIR
            return Path(*parts)
    raise GroundTruthError(f"{p}: a YOLO image path needs an 'images' folder to find its labels")


def _find_image(images_dir: Path, rel_stem: str) -> str | None:
    for ext in IMAGE_EXTS:
        if (images_dir / (rel_stem + ext)).is_file():
            return rel_stem + ext
    return None


def parse_label_file(txt: Path, names: list[str]) -> tuple[tuple[Box, ...], tuple[str, ...]]:
    """Normalised ``(x1, y1, x2, y2)`` boxes and class names of one YOLO label file."""
    boxes, labels = [], []
    try:
        text = txt.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GroundTruthError(f"{txt}: cannot read ({e})") from None
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            cls = int(fields[0])
            vals = [float(v) for v in fields[1:]]
        except ValueError:
            raise GroundTruthError(f"{txt}: line {n}: expected 'class xc yc w h' numbers, got {excerpt(line)}") from None
        if not all(math.isfinite(v) for v in vals):
            raise GroundTruthError(f"{txt}: line {n}: a value is not a finite number: {excerpt(line)}")
        if not 0 <= cls < len(names):
            raise GroundTruthError(f"{txt}: line {n}: class {cls} is not in data.yaml's names (0..{len(names) - 1})")
        if len(vals) in (4, 5):  # a 6th column is a confidence: ignored
            box = yolo_to_xyxy(vals[:4], 1.0, 1.0)  # normalised: fit_to scales it
        elif len(vals) >= 6 and len(vals) % 2 == 0:
            xs, ys = vals[0::2], vals[1::2]
            box = (min(xs), min(ys), max(xs), max(ys))
        else:
            raise GroundTruthError(f"{txt}: line {n}: expected 5 columns 'class xc yc w h', got {len(fields)}")
        boxes.append(box)
        labels.append(names[cls])
    return tuple(boxes), tuple(labels)


def _base_dir(data: dict[str, Any], yaml_dir: Path) -> Path:
    p = data.get("path")
    if not p:
        return yaml_dir
    p = Path(str(p))
    if not p.is_absolute():
        return yaml_dir / p
    return p if p.is_dir() else yaml_dir


def _label_sources(data: dict[str, Any], base: Path) -> list[tuple[Path, Path, list[Path] | None]]:
    """``(images_dir, labels_dir, listed image files or None)`` per split entry that exists."""
    out = []
    for key in SPLIT_KEYS:
        entries = data.get(key)
        if entries is None:
            continue
        for entry in entries if isinstance(entries, list) else [entries]:
            p = Path(str(entry))
            p = p if p.is_absolute() else base / p
            if p.is_dir():
                out.append((p, _to_labels_dir(p), None))
            elif not p.exists() and IMAGES_DIR in p.parts and _to_labels_dir(p).is_dir():
                out.append((p, _to_labels_dir(p), None))  # labels without their images (an export without them)
            elif p.is_file() and p.suffix == ".txt":
                listed = []
                try:
                    text = p.read_text(encoding="utf-8")
                except UnicodeDecodeError as e:
                    raise GroundTruthError(f"{p} (the {key} image list): not UTF-8 text (byte {e.start})") from None
                except OSError as e:
                    raise GroundTruthError(f"{p} (the {key} image list): cannot read it ({e.strerror or e})") from None
                for line in text.splitlines():
                    line = line.strip()
                    if line:
                        q = Path(line)
                        listed.append(q if q.is_absolute() else base / q)
                if listed:
                    common = Path(os.path.commonpath([str(q.parent) for q in listed]))
                    out.append((common, _to_labels_dir(common), listed))
    return out


def read_yolo(path: str | Path) -> GroundTruth:
    """Read a YOLO folder (``data.yaml`` + ``labels/``) or its ``data.yaml`` as ground truth."""
    path = Path(path)
    yaml_path = path if path.is_file() else find_data_yaml(path)
    if yaml_path is None:
        raise GroundTruthError(f"{path}: not a YOLO folder (no data.yaml inside)")
    try:
        text = yaml_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise GroundTruthError(f"{yaml_path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise GroundTruthError(f"{yaml_path}: cannot read it ({e.strerror or e})") from None
    data = load_yaml(text, str(yaml_path), error=GroundTruthError)
    if not isinstance(data, dict):
        raise GroundTruthError(f"{yaml_path}: expected a mapping with 'names' and the splits")
    names = _names(data, yaml_path)
    base = _base_dir(data, yaml_path.parent)
    sources = _label_sources(data, base)
    if not sources and (base / LABELS_DIR).is_dir():
        sources = [(base / IMAGES_DIR, base / LABELS_DIR, None)]
    seen: set[Path] = set()
    records: list[GroundTruthImage] = []
    for images_dir, labels_dir, listed in sources:
        if listed is None:
            txts = sorted(t for t in labels_dir.rglob("*.txt") if t.name != "classes.txt") if labels_dir.is_dir() else []
            items = []
            for t in txts:
                rel_stem = t.relative_to(labels_dir).with_suffix("").as_posix()
                items.append((t, _find_image(images_dir, rel_stem) or rel_stem))
        else:
            items = []
            for img in listed:
                t = _to_labels_dir(img).with_suffix(".txt")
                items.append((t, img.relative_to(images_dir).as_posix()))
        for t, rel in items:
            if t in seen:
                continue
            seen.add(t)
            if not t.is_file():  # a listed image without a label file is not labelled
                continue
            boxes, labels = parse_label_file(t, names)
            records.append(GroundTruthImage(rel, None, None, boxes, labels, normalized=True))
    if not records:
        raise GroundTruthError(f"{yaml_path.parent}: no YOLO label files found (looked in {', '.join(str(s[1]) for s in sources) or 'labels/'})")
    records, note = map_through_names_table(records, yaml_path.parent)
    records.sort(key=lambda r: r.path)
    check_unique_paths(records, yaml_path.parent)
    return GroundTruth("yolo", yaml_path.parent, class_list(names, records), tuple(records), (note,) if note else ())
