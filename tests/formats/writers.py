"""Small, independent writers of ground-truth files for the tests (json / ElementTree / yaml).

A sample is a list of ``(path, width, height, [((x1, y1, x2, y2), label), ...])`` with pixel
boxes (``x2`` exclusive) and a class list; each writer lays it out as the format's tools do.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

import yaml

Sample = Sequence[tuple[str, int, int, Sequence[tuple[tuple[float, float, float, float], str]]]]


def write_images(folder: Path, sample: Sample) -> None:
    """Tiny PNG files of the sample's sizes at ``folder/<path>`` (some readers insist on them)."""
    from PIL import Image

    for p, w, h, _ in sample:
        img = folder / p
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), (90, 120, 150)).save(img, format="PNG")


def write_coco(path: Path, sample: Sample, classes: Sequence[str], crowd: Sequence[tuple[str, tuple[float, ...], str]] = (),
               images: bool = False) -> Path:
    """``path`` = the JSON file. ``crowd``: extra (image path, box, label) regions with iscrowd=1.
    ``images``: also write the images to ``<path>/../../images/default/``."""
    cat = {c: i + 1 for i, c in enumerate(classes)}
    images, anns = [], []
    for i, (p, w, h, boxes) in enumerate(sample, 1):
        images.append({"id": i, "file_name": p, "width": w, "height": h})
        extra = [(b, lab, 1) for q, b, lab in crowd if q == p]
        for (x1, y1, x2, y2), lab, is_crowd in [(b, lab, 0) for b, lab in boxes] + extra:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": cat[lab], "bbox": [x1, y1, x2 - x1, y2 - y1],
                         "area": (x2 - x1) * (y2 - y1), "iscrowd": is_crowd, "segmentation": []})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": i, "name": c, "supercategory": ""} for c, i in cat.items()]}))
    if images:
        write_images(path.parent.parent / "images" / "default", sample)
    return path


def write_voc(folder: Path, sample: Sample, classes: Sequence[str], origin: str = "one", flat: bool = True) -> Path:
    """Devkit layout. ``origin='one'``: xmin = x1 + 1 (integer boxes); ``'zero'``: xmin = x1.

    ``flat``: every XML directly in Annotations/ with ``filename`` = the file name; otherwise the
    image's sub-folders are kept under Annotations/.
    """
    shift = 1 if origin == "one" else 0
    (folder / "Annotations").mkdir(parents=True, exist_ok=True)
    (folder / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    stems = []
    for p, w, h, boxes in sample:
        sub, _, name = p.rpartition("/")
        root = ET.Element("annotation")
        ET.SubElement(root, "folder").text = "voc"
        ET.SubElement(root, "filename").text = name
        size = ET.SubElement(root, "size")
        for tag, v in (("width", w), ("height", h), ("depth", 3)):
            ET.SubElement(size, tag).text = str(v)
        ET.SubElement(root, "segmented").text = "0"
        for (x1, y1, x2, y2), lab in boxes:
            obj = ET.SubElement(root, "object")
            ET.SubElement(obj, "name").text = lab
            ET.SubElement(obj, "pose").text = "Unspecified"
            for tag in ("truncated", "difficult", "occluded"):
                ET.SubElement(obj, tag).text = "0"
            bb = ET.SubElement(obj, "bndbox")
            for tag, v in (("xmin", x1 + shift), ("ymin", y1 + shift), ("xmax", x2), ("ymax", y2)):
                ET.SubElement(bb, tag).text = str(int(v)) if float(v).is_integer() else str(v)
        stem = name.rsplit(".", 1)[0]
        target = folder / "Annotations" / (stem + ".xml" if flat or not sub else f"{sub}/{stem}.xml")
        target.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)
        stems.append(stem if flat or not sub else f"{sub}/{stem}")
    (folder / "ImageSets" / "Main" / "default.txt").write_text("".join(s + "\n" for s in stems))
    (folder / "labelmap.txt").write_text("# label:color_rgb:parts:actions\n" + "".join(f"{c}:::\n" for c in classes))
    return folder


def write_yolo(folder: Path, sample: Sample, classes: Sequence[str], images: bool = False, split: str = "train") -> Path:
    """Ultralytics layout: data.yaml, labels/<split>/<rel stem>.txt and, with ``images``, tiny
    PNG files of the right size under images/<split>/."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.yaml").write_text(yaml.safe_dump({"train": f"images/{split}", "val": f"images/{split}",
                                                      "names": {i: c for i, c in enumerate(classes)}}, sort_keys=False))
    (folder / "images" / split).mkdir(parents=True, exist_ok=True)
    for p, w, h, boxes in sample:
        stem = p.rsplit(".", 1)[0]
        txt = folder / "labels" / split / (stem + ".txt")
        txt.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for (x1, y1, x2, y2), lab in boxes:
            lines.append(f"{classes.index(lab)} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n")
        txt.write_text("".join(lines))
    if images:
        write_images(folder / "images" / split, sample)
    return folder


def write_cvat(path: Path, sample: Sample, classes: Sequence[str], images: bool = False) -> Path:
    """One annotations.xml (CVAT for images 1.1) at ``path``; ``images``: also ``images/<name>`` beside it."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(task, "name").text = "sample"
    ET.SubElement(task, "size").text = str(len(sample))
    labels = ET.SubElement(task, "labels")
    for c in classes:
        lab = ET.SubElement(labels, "label")
        ET.SubElement(lab, "name").text = c
        ET.SubElement(lab, "type").text = "rectangle"
        ET.SubElement(lab, "attributes")
    for i, (p, w, h, boxes) in enumerate(sorted(sample)):
        im = ET.SubElement(root, "image", id=str(i), name=p, width=str(w), height=str(h))
        for (x1, y1, x2, y2), lab in boxes:
            ET.SubElement(im, "box", label=lab, source="manual", occluded="0", xtl=f"{x1:.2f}", ytl=f"{y1:.2f}",
                          xbr=f"{x2:.2f}", ybr=f"{y2:.2f}", z_order="0")
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    if images:
        write_images(path.parent / "images", sample)
    return path


def write_all(tmp: Path, sample: Sample, classes: Sequence[str]) -> dict[str, Path]:
    """The same sample in the four formats: ``{format: path to pass as --gt}``."""
    return {
        "coco": write_coco(tmp / "coco" / "annotations" / "instances_default.json", sample, classes),
        "voc": write_voc(tmp / "voc", sample, classes),
        "yolo": write_yolo(tmp / "yolo", sample, classes),
        "cvat": write_cvat(tmp / "cvat" / "annotations.xml", sample, classes),
    }
