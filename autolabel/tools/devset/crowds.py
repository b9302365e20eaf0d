"""Crowded photos: the subset of a labelled set with many objects, and how often one exported
box covers a cluster of several objects instead of one.

* :func:`crowded`: the images with at least ``min_objects`` objects to find (crowd regions,
  COCO ``iscrowd``, left out of the count).
* :func:`cluster_boxes`: a **cluster box** is a box whose IoU with the union box of two or more
  objects beats its IoU with its best single object, and is at least :data:`CLUSTER_IOU` (a box
  that fits a group, not a loose box on the backdrop). The objects of the group are found
  greedily: start from the object the box overlaps most, add the object that raises the
  union's IoU with the box most, stop when none raises it; objects lying at least half inside
  that union box (the middle of a row) belong to the group too. A group of more than
  :data:`MAX_CLUSTER` objects is a box on the whole scene (or most of it), another failure, and
  not counted as a cluster box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from autolabel.evaluate.matching import box_iou
from autolabel.geometry import box_containment
from autolabel.tools.devset.labelled import LabelledSet

CLUSTER_IOU = 0.5
"""A cluster box fits its group's union box at least this well (IoU)."""
MAX_CLUSTER = 6
"""The most objects a cluster box covers; a box over more is a scene box."""


def crowded(images: LabelledSet, min_objects: int) -> LabelledSet:
    """The images of ``images`` with at least ``min_objects`` objects that are not crowd regions."""
    keep = tuple(g for g in images.images if sum(1 for ig in g.ignore if not ig) >= min_objects)
    return replace(images, images=keep)


def cluster_members(box: Sequence[float], objects: np.ndarray, min_iou: float = CLUSTER_IOU,
                    max_members: int = MAX_CLUSTER) -> list[int]:
    """The objects (indices into ``objects``, ``(n, 4)`` pixel boxes) that ``box`` covers as one
    cluster (module doc), or ``[]`` when it is no cluster box."""
    if len(objects) < 2:
        return []
    b = np.asarray(box, dtype=np.float64).reshape(1, 4)
    objs = np.asarray(objects, dtype=np.float64).reshape(-1, 4)
    single = box_iou(b, objs)[0]
    members = [int(np.argmax(single))]
    best = float(single[members[0]])
    while True:
        lo = objs[members].min(axis=0)
        hi = objs[members].max(axis=0)
        rest = [k for k in range(len(objs)) if k not in members]
        if not rest:
            break
        unions = np.stack([np.minimum(lo[0], objs[rest, 0]), np.minimum(lo[1], objs[rest, 1]),
                           np.maximum(hi[2], objs[rest, 2]), np.maximum(hi[3], objs[rest, 3])], axis=1)
        ious = box_iou(b, unions)[0]
        k = int(np.argmax(ious))
        if ious[k] <= best:
            break
        best = float(ious[k])
        members.append(rest[k])
    if len(members) >= 2 and best > float(single.max()) and best >= min_iou:
        u = np.concatenate([objs[members, :2].min(axis=0), objs[members, 2:].max(axis=0)])
        inside = np.flatnonzero(box_containment(torch.from_numpy(objs), torch.from_numpy(u[None])).numpy()[:, 0] >= 0.5)
        group = sorted(set(members) | {int(k) for k in inside})
        return group if len(group) <= max_members else []
    return []


@dataclass(frozen=True)
class ClusterCount:
    """Cluster boxes over a set of records."""

    boxes: int
    """Exported boxes that are cluster boxes."""
    objects: int
    """Objects covered by a cluster box (an object under two cluster boxes counts once)."""
    images: int
    """Images with at least one cluster box."""

    def to_dict(self) -> dict[str, Any]:
        return {"cluster_boxes": self.boxes, "objects_in_cluster_boxes": self.objects, "images_with_cluster_boxes": self.images}


def cluster_boxes(pairs: Sequence[tuple[Any, Any]]) -> ClusterCount:
    """Cluster boxes (module doc) among the exported boxes of ``(ground truth, record)`` pairs
    (:func:`autolabel.tools.devset.labelled.pair_records`: ground truth in the record's pixels);
    crowd regions are not objects here."""
    n_boxes = n_objects = n_images = 0
    for g, rec in pairs:
        objs = np.asarray([b for b, ig in zip(g.boxes, g.ignore) if not ig], dtype=np.float64).reshape(-1, 4)
        covered: set[int] = set()
        found = 0
        for d in rec.detections:
            m = cluster_members(d.box, objs)
            if m:
                found += 1
                covered.update(m)
        n_boxes += found
        n_objects += len(covered)
        n_images += int(found > 0)
    return ClusterCount(n_boxes, n_objects, n_images)
