"""Run Ultralytics' own dataset checks on a YOLO export; print what they found as JSON.

Runs inside the Ultralytics virtual environment (not the test's interpreter), as
``python ultralytics_check.py DATA_YAML``; the test compares the JSON with the run.

* ``check_det_dataset(data.yaml, autodownload=False)``: the YAML's keys, class names, folders;
* ``verify_image_label`` on every image of the train and val folders with the label file that
  Ultralytics itself derives (``img2label_paths``): missing/found/empty/corrupt counts, message,
  image shape, label rows;
* ``YOLODataset(...).labels``: what a training run would load (class ids, normalised xywh).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(data_yaml: str) -> None:
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import IMG_FORMATS, check_det_dataset, img2label_paths, verify_image_label

    data = check_det_dataset(data_yaml, autodownload=False)
    nc = int(data["nc"])
    out: dict = {
        "data": {"nc": nc, "names": {int(k): v for k, v in data["names"].items()}, "train": str(data["train"]), "val": str(data["val"])},
        "verified": [],
        "dataset": [],
    }
    for split in ("train", "val"):
        folder = Path(data[split])
        images = sorted(str(p) for p in folder.rglob("*") if p.suffix[1:].lower() in IMG_FORMATS)
        labels = img2label_paths(images)
        for im, lb in zip(images, labels):
            res = verify_image_label((im, lb, "", False, nc, 0, 0, False))
            im_file, rows, shape, _segments, _kpts, nm, nf, ne, ncorrupt, msg = res
            out["verified"].append(
                {
                    "split": split,
                    "im_file": im,
                    "lb_file": lb,
                    "missing": nm,
                    "found": nf,
                    "empty": ne,
                    "corrupt": ncorrupt,
                    "msg": msg,
                    "shape": list(shape) if shape is not None else None,
                    "rows": rows.tolist() if rows is not None else None,
                }
            )
    ds = YOLODataset(img_path=str(data["train"]), imgsz=640, augment=False, cache=False, data=data, task="detect", batch_size=1)
    for lab in ds.labels:
        out["dataset"].append(
            {
                "im_file": lab["im_file"],
                "shape": [int(v) for v in lab["shape"]],
                "cls": [int(c) for c in lab["cls"].reshape(-1).tolist()],
                "bboxes": lab["bboxes"].tolist(),
                "normalized": bool(lab.get("normalized", True)),
                "bbox_format": lab.get("bbox_format", "xywh"),
            }
        )
    print("ULTRALYTICS-CHECK " + json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
