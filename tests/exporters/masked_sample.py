"""A small stored run whose detections carry instance masks (built without models).

Cases the mask writers get wrong: an object in two parts, a ring (a hole), an L touching two
image borders, a 2x2 object, a box without a mask beside masked ones, an image with nothing,
class names with ``&``, ``,`` and ``'``, nested paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from autolabel import masks
from autolabel.store import RunStore
from autolabel.types import Detection, ImageAnnotations

CLASSES = ["person", "traffic light", "salt & pepper, shaker", "jack-o'-lantern", "zebra"]


def _shapes() -> dict[str, tuple[int, int, list[tuple[str, str, np.ndarray | tuple[float, float, float, float]]]]]:
    """path -> (W, H, [(id, label, mask or box)])."""
    h, w = 60, 80
    yy, xx = np.mgrid[:h, :w]
    rect = np.zeros((h, w), bool)
    rect[8:20, 4:30] = True
    parts = np.zeros((h, w), bool)
    parts[30:40, 5:15] = True
    parts[45:58, 20:38] = True
    ring = ((xx - 58) ** 2 + (yy - 22) ** 2 < 14 ** 2) & ~((xx - 58) ** 2 + (yy - 22) ** 2 < 6 ** 2)
    h2, w2 = 30, 40
    ell = np.zeros((h2, w2), bool)
    ell[0:30, 0:6] = True
    ell[24:30, 0:40] = True
    tiny = np.zeros((h2, w2), bool)
    tiny[10:12, 20:22] = True
    return {
        "a.jpg": (w, h, [("a-0", "person", rect), ("a-1", "traffic light", parts),
                         ("a-2", "salt & pepper, shaker", ring), ("a-3", "zebra", (40.0, 44.0, 70.5, 55.25))]),
        "sub dir/b.png": (w2, h2, [("b-0", "jack-o'-lantern", ell), ("b-1", "person", tiny)]),
        "empty.png": (20, 10, []),
    }


SHAPES = _shapes()


def mask_of(path: str, det_id: str) -> np.ndarray | None:
    """The bool mask the sample gave detection ``det_id`` of ``path`` (None for a plain box)."""
    for i, _, m in SHAPES[path][2]:
        if i == det_id:
            return m if isinstance(m, np.ndarray) else None
    raise KeyError(det_id)


def image_record(rel: str) -> ImageAnnotations:
    w, h, dets = SHAPES[rel]
    out = []
    for k, (i, lab, m) in enumerate(dets):
        if isinstance(m, np.ndarray):
            box, rle = masks.bbox(m), masks.encode(m)
        else:
            box, rle = m, None
        out.append(Detection(id=i, box=box, label=lab, score=0.9 - 0.1 * k, objectness=0.5, label_id=lab, mask=rle))
    return ImageAnnotations(rel, w, h, tuple(out))


def build_masked_run(root: Path) -> Path:
    """Images under ``root/images``, the run under ``root/run``; returns the run dir."""
    images = root / "images"
    for n, (rel, (w, h, _)) in enumerate(sorted(SHAPES.items())):
        p = images / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), (40 * n, 90, 150)).save(p)
    store = RunStore(root / "run")
    store.write_manifest({
        "autolabel_version": "0.1.0",
        "created": "2024-01-01T00:00:00Z",
        "image_root": str(images.resolve()),
        "config": {"preset": "test"},
        "models": {"extractor": {"name": "x", "weights": "test"}, "classifier": {"name": "y", "weights": "test"}},
        "classes": CLASSES,
        "label_space": "test",
    })
    with store.prediction_writer() as w:
        for rel in sorted(SHAPES):
            w.append(image_record(rel).to_dict())
    return store.run_dir


def masked_detections() -> list[tuple[str, str, str, np.ndarray]]:
    """``(path, id, label, mask)`` of every detection with a mask."""
    return [(p, i, lab, m) for p, (_, _, dets) in sorted(SHAPES.items()) for i, lab, m in dets if isinstance(m, np.ndarray)]


def filled(m: np.ndarray) -> np.ndarray:
    """The mask with its holes filled (what a polygon can hold)."""
    from scipy import ndimage

    return ndimage.binary_fill_holes(m)
