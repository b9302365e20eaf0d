"""YOLO in the Ultralytics layout, as Ultralytics, fiftyone (``YOLOv5Dataset``), datumaro
(``yolo_ultralytics``) and CVAT ("Ultralytics YOLO Detection 1.0") read it.

Layout::

    yolo/data.yaml                        train/val: images/<split>; names: {0: ..., 1: ...}
    yolo/images/<split>/<name><ext>       (with --copy-images / --link-images)
    yolo/labels/<split>/<name>.txt        one per image, empty when it has no boxes
    yolo/image_names.csv                  <name><ext>, source path (names are flat)

Names are flat (:func:`exporters._common.flat_stem`): datumaro keys items by basename and
Ultralytics finds a label file by replacing the *last* ``/images/`` of the image path, so
nested folders cannot be kept. A line is ``class xc yc w h`` normalised to [0, 1], 6 decimals;
with ``yolo_scores`` a 6th column holds the score (Ultralytics' prediction form, for
evaluation tools only: trainers and datumaro reject it). ``data.yaml`` has no ``path:`` key,
so Ultralytics and fiftyone resolve folders next to the file.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Sequence

import yaml

from autolabel.export import Exporter, Option
from autolabel.types import ImageAnnotations

from exporters._common import FlatNamer, NamesTable, fmt_float


def yolo_xywhn(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    """``(x1, y1, x2, y2)`` px -> ``(xc, yc, w, h)`` normalised by the image size, each in [0, 1]."""
    x1, y1, x2, y2 = box
    return ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)


def yolo_line(class_id: int, box: tuple[float, float, float, float], width: int, height: int,
              score: float | None = None) -> str:
    """One label line (``\\n``-terminated): ``class xc yc w h`` (+ `` score`` if given)."""
    fields = [str(class_id)] + [fmt_float(v) for v in yolo_xywhn(box, width, height)]
    if score is not None:
        fields.append(fmt_float(score))
    return " ".join(fields) + "\n"


def yolo_data_yaml(classes: Sequence[str], split: str) -> str:
    """``data.yaml`` text: ``train``/``val`` folders and ``names`` as ``{0: name, ...}`` in key
    order (datumaro takes the values in file order), written with ``yaml.safe_dump``."""
    data = {
        "train": f"images/{split}",
        "val": f"images/{split}",
        "names": {i: c for i, c in enumerate(classes)},
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


class YoloExporter(Exporter):
    """Ultralytics YOLO detection dataset."""

    name = "yolo"
    description = "YOLO, Ultralytics layout (data.yaml, images/<split>, labels/<split>/*.txt)"
    default_split = "train"
    options = {
        "yolo_scores": Option(False, "add the score as a 6th column (prediction form; not loadable for training)",
                              flag="--yolo-scores"),
    }

    def open(self) -> None:
        super().open()
        self._labels = self.out_dir / "labels" / self.split
        self._labels.mkdir(parents=True)
        self._namer = FlatNamer()
        self._names = self.track(NamesTable(self.out_dir / NamesTable.FILENAME))

    def write(self, image: ImageAnnotations) -> None:
        stem = self._namer(image.path)
        filename = stem + PurePosixPath(image.path).suffix
        scores = self.opts["yolo_scores"]
        lines = [
            yolo_line(self.run.class_id(d.label), d.box, image.width, image.height, d.score if scores else None)
            for d in image.detections
        ]
        (self._labels / f"{stem}.txt").write_text("".join(lines), encoding="utf-8")
        self._names.add(filename, image.path)
        self.place_image(image, self.out_dir / "images" / self.split / filename)

    def close(self) -> list[Path]:
        data = self.out_dir / "data.yaml"
        data.write_text(yolo_data_yaml(self.run.classes, self.split), encoding="utf-8")
        written = [data, self._labels, self._names.close()]
        if self.images != "none":
            written.append(self.out_dir / "images" / self.split)
        return written
