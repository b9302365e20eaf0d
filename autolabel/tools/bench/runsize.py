"""How much disk a run's predictions take, and how much of it is instance masks.

``predictions.jsonl`` holds one compact JSON line per image; a detection's mask is a COCO
compressed RLE string (:mod:`autolabel.masks`), a few bytes per run of pixels along the object's
outline, so its size grows with the outline's length, not the object's area.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autolabel.store.jsonl import dumps_line, iter_jsonl


@dataclass(frozen=True)
class RunSize:
    """Bytes of a predictions file and of the masks in it.

    Attributes:
        images: records (lines) read.
        detections: detections in them.
        masks: detections with a mask.
        bytes: size of the file in bytes.
        mask_bytes: bytes of the ``"mask":{...}`` members of the lines (what ``--no-masks`` saves).
    """

    images: int
    detections: int
    masks: int
    bytes: int
    mask_bytes: int

    @property
    def bytes_per_image(self) -> float:
        return self.bytes / self.images if self.images else 0.0

    @property
    def mb_per_1000_images(self) -> float:
        """Bytes per image x 1000, in MB (10^6 bytes): the run's size per 1,000 images."""
        return self.bytes_per_image * 1000 / 1e6

    @property
    def mask_share(self) -> float:
        """Share of the file's bytes that are masks."""
        return self.mask_bytes / self.bytes if self.bytes else 0.0

    @property
    def bytes_per_mask(self) -> float:
        return self.mask_bytes / self.masks if self.masks else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes_per_image": self.bytes_per_image, "mb_per_1000_images": self.mb_per_1000_images,
                "mask_share": self.mask_share, "bytes_per_mask": self.bytes_per_mask}


def measure_run_size(predictions: str | Path) -> RunSize:
    """Measure a ``predictions.jsonl`` (or a revision file): its bytes and its masks' bytes.

    A mask's bytes are those of ``,"mask":`` plus its value as the run store writes it (compact
    JSON), so ``bytes - mask_bytes`` is the size the same file would have without masks.
    """
    path = Path(predictions)
    images = detections = n_masks = mask_bytes = 0
    for _, _, rec in iter_jsonl(path, strict=False):
        images += 1
        for det in rec.get("detections", ()):
            detections += 1
            mask = det.get("mask")
            if mask is not None:
                n_masks += 1
                mask_bytes += len(b',"mask":') + len(dumps_line(mask).encode())
    return RunSize(images=images, detections=detections, masks=n_masks, bytes=path.stat().st_size, mask_bytes=mask_bytes)
