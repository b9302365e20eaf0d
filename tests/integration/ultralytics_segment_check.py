"""Run Ultralytics' own checks on a YOLO segmentation export; print what they found as JSON.

Runs inside the Ultralytics virtual environment, as ``python ultralytics_segment_check.py
DATA_YAML``:

* ``check_det_dataset(data.yaml, autodownload=False)``;
* ``verify_image_label`` on every image of the train folder (the label file Ultralytics derives
  itself): missing/found/empty/corrupt counts, message, the boxes it derives from the polygons
  and the polygons (segments) it keeps;
* ``YOLODataset(..., task="segment").labels``: the segments a training run would load, and
  each one rasterised by Ultralytics' ``polygon2mask`` (the pixels set, row-major indices).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(data_yaml: str) -> None:
    import numpy as np
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import IMG_FORMATS, check_det_dataset, img2label_paths, polygon2mask, verify_image_label

    data = check_det_dataset(data_yaml, autodownload=False)
    nc = int(data["nc"])
    out: dict = {"data": {"nc": nc, "names": {int(k): v for k, v in data["names"].items()}}, "verified": [], "dataset": []}
    folder = Path(data["train"])
    images = sorted(str(p) for p in folder.rglob("*") if p.suffix[1:].lower() in IMG_FORMATS)
    for im, lb in zip(images, img2label_paths(images)):
        im_file, rows, shape, segments, _kpts, nm, nf, ne, ncorrupt, msg = verify_image_label((im, lb, "", False, nc, 0, 0, False))
        out["verified"].append({
            "im_file": im, "missing": nm, "found": nf, "empty": ne, "corrupt": ncorrupt, "msg": msg,
            "shape": list(shape) if shape is not None else None,
            "rows": rows.tolist() if rows is not None else None,
            "segments": [s.tolist() for s in segments],
        })
    ds = YOLODataset(img_path=str(data["train"]), imgsz=640, augment=False, cache=False, data=data, task="segment",
                     batch_size=1)
    for lab in ds.labels:
        h, w = (int(v) for v in lab["shape"])
        pixels = []
        for seg in lab["segments"]:
            poly = (np.asarray(seg) * [w, h]).reshape(1, -1)
            m = polygon2mask((h, w), poly, color=1, downsample_ratio=1)
            pixels.append(np.flatnonzero(m.reshape(-1)).tolist())
        out["dataset"].append({"im_file": lab["im_file"], "shape": [h, w], "cls": [int(c) for c in lab["cls"].reshape(-1)],
                               "segments": [np.asarray(s).tolist() for s in lab["segments"]], "pixels": pixels})
    print("ULTRALYTICS-CHECK " + json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
