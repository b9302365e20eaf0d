"""YOLO in the Ultralytics layout, as Ultralytics, fiftyone (``YOLOv5Dataset``), datumaro
(``yolo_ultralytics``) and CVAT ("Ultralytics YOLO Detection 1.0") read it.

Layout::

    yolo/data.yaml                        train/val: images/<split>; names: {0: ..., 1: ...}
    yolo/images/<split>/<name><ext>       (with --copy-images / --link-images)
    yolo/labels/<split>/<name>.txt        one per image, empty when it has no boxes
    yolo/image_names.csv                  <name><ext>, source path (names are flat)

Names are flat (:func:`autolabel.formats.names.flat_stem`): datumaro keys items by basename and
Ultralytics finds a label file by replacing the *last* ``/images/`` of the image path, so
nested folders cannot be kept; the naming rules (collisions, names over 255 bytes, escaping)
are :class:`autolabel.formats.names.FlatNamer`'s. Without ``--copy-images`` / ``--link-images``
``images/<split>`` is left empty and :meth:`YoloExporter.notes` says so. A line is ``class xc yc w h`` normalised to [0, 1], 6 decimals;
with ``yolo_scores`` a 6th column holds the score (Ultralytics' prediction form, for
evaluation tools only: trainers and datumaro reject it). ``data.yaml`` has no ``path:`` key,
so Ultralytics and fiftyone resolve folders next to the file. Lines and ``data.yaml`` come from
:mod:`autolabel.formats.yolo`.
"""

from __future__ import annotations

from pathlib import Path

from autolabel.export import Exporter, Option
from autolabel.formats.names import FlatNamer, NamesTable, flat_suffix
from autolabel.formats.yolo import DATA_YAML, LABELS_DIR, yolo_data_yaml, yolo_line
from autolabel.types import ImageAnnotations


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
        self._labels = self.out_dir / LABELS_DIR / self.split
        self._labels.mkdir(parents=True)
        self._namer = FlatNamer()
        self._names = self.track(NamesTable(self.out_dir / NamesTable.FILENAME))

    def write(self, image: ImageAnnotations) -> None:
        stem = self._namer(image.path)
        filename = stem + flat_suffix(image.path)
        scores = self.opts["yolo_scores"]
        lines = [
            yolo_line(self.run.class_id(d.label), d.box, image.width, image.height, d.score if scores else None)
            for d in image.detections
        ]
        (self._labels / f"{stem}.txt").write_text("".join(lines), encoding="utf-8")
        self._names.add(filename, image.path)
        self.place_image(image, self.out_dir / "images" / self.split / filename)

    def close(self) -> list[Path]:
        data = self.out_dir / DATA_YAML
        data.write_text(yolo_data_yaml(self.run.classes, self.split), encoding="utf-8")
        written = [data, self._labels, self._names.close()]
        if self.images != "none":
            written.append(self.out_dir / "images" / self.split)
        return written

    def notes(self) -> list[str]:
        """Without images: data.yaml names an images/<split> folder this export left empty."""
        if self.images != "none":
            return []
        return [f"data.yaml's train/val point at images/{self.split}, which this export leaves empty: copy each "
                f"image there under its name in image_names.csv, or export again with --copy-images or "
                "--link-images; Ultralytics finds no images until then"]
