"""Pipeline stage: one image's objects to classify, chosen from what refinement found.

Tiles merged (:func:`~autolabel.discovery.tiles.merge_tiles`, then one box per object seen by
two tiles, :func:`~autolabel.discovery.tiles.dedupe_tiles`), refined masks in separate pieces
split into one object per piece (``split_pieces``, :func:`pieces`), boxes clipped to the image, too
small or too faint ones dropped, nested duplicates of one object dropped (:func:`unnest`), the
``max_boxes`` best kept, by objectness. Runs on the host; boxes in displayed-image pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import ndimage

from autolabel.discovery.refine import PixelMask, union_masks
from autolabel.discovery.regions import EIGHT
from autolabel.discovery.tiles import dedupe_tiles, edge_margin, merge_tiles
from autolabel.geometry import box_containment, clip_box, suppress_nested
from autolabel.pipeline.work import Found, Item


def select(cfg: Any, it: Item, found: list[Found]) -> list[Found]:
    """The objects of ``it`` worth classifying, by descending objectness (see the module)."""
    assert it.decoded is not None
    W, H = it.decoded.width, it.decoded.height
    if len(it.views) > 1 and found:
        tol = max(v.resized.patch * max(v.resized.scale_x, v.resized.scale_y) for v in it.views) / 2.0
        merged = merge_tiles([f.box for f in found], [f.objectness for f in found], [f.view for f in found],
                             [v.tile for v in it.views], W, H, edge_tol=tol)
        tiles = [v.tile for v in it.views]
        margins = [edge_margin(box, tiles[found[m[0]].view], W, H) if len(m) == 1 else float("inf") for box, _, m in merged]
        keep = dedupe_tiles([box for box, _, _ in merged], margins, [frozenset(found[k].view for k in m) for _, _, m in merged],
                            cfg.nms_iou, cfg.nested_containment)
        found = [Found(box, obj, union_masks([found[k].mask for k in members]), found[members[0]].view)
                 for box, obj, members in (merged[k] for k in keep)]
    share = getattr(cfg, "split_pieces", None)
    if share is not None:
        found = [p for f in found for p in pieces(f, float(share))]
    out = []
    for f in sorted(found, key=lambda f: -f.objectness):
        px = clip_box(f.box, W, H)
        if min(px[2] - px[0], px[3] - px[1]) < cfg.min_box_size or f.objectness < cfg.min_objectness:
            continue
        out.append(Found(px, f.objectness, f.mask, f.view, f.encoded, f.encoded_for))
    return unnest(cfg, out)[: cfg.max_boxes]


def pieces(f: Found, share: float) -> list[Found]:
    """``f`` as one object per separate piece of its refined mask: the 8-connected components
    holding at least ``share`` of its pixels, when there are two or more of them (objects of one
    kind that a patch region joined but whose pixels do not touch: balloons on the sky);
    otherwise ``[f]``. Pieces keep ``f``'s objectness and view; smaller specks are dropped with
    the split. A mask refinement fell back from (the patch mask) is never split."""
    m = f.mask
    if not m.refined or not m.mask.any():
        return [f]
    labels, n = ndimage.label(m.mask, structure=EIGHT)
    if n < 2:
        return [f]
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    big = [k + 1 for k in np.flatnonzero(sizes >= share * sizes.sum())]
    if len(big) < 2:
        return [f]
    out = []
    (ox, oy), (sx, sy) = m.origin, m.scale
    for k in big:
        rows, cols = np.nonzero(labels == k)
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        piece = PixelMask(labels[r0:r1, c0:c1] == k, (ox + c0 * sx, oy + r0 * sy), m.scale, refined=True)
        out.append(Found(tuple(float(v) for v in piece.box), f.objectness, piece, f.view))
    return out


def unnest(cfg: Any, found: list[Found]) -> list[Found]:
    """Nested duplicates of one object reduced to one: of two boxes where one lies at least
    ``nested_containment`` inside the other (which IoU misses when one is much bigger), the
    one discovery scores lower goes (:func:`~autolabel.geometry.suppress_nested`). Ranked
    by objectness, before classification: the class probability of two crops of one object
    differs by chance (a looser crop can read as surer), the discovery score does not.

    With ``nested_min_ratio`` above 0, only boxes of a similar size are duplicates: the
    smaller must cover at least that share of the larger's area. A person inside a box around
    the whole street scene is another object, not a duplicate: on dev284 the bare rule kept
    one box in three of what refinement gave, since discovery often finds the whole photo
    (or its backdrop) and every object lies inside it."""
    if len(found) < 2:
        return found
    boxes = torch.tensor([f.box for f in found], dtype=torch.float32)
    scores = torch.tensor([f.objectness for f in found], dtype=torch.float64)
    ratio = float(getattr(cfg, "nested_min_ratio", 0.0))
    if ratio <= 0.0:
        keep = suppress_nested(boxes, scores, cfg.nested_containment)
        return [found[k] for k in keep.tolist()]
    order = torch.sort(-scores, stable=True).indices.tolist()
    inside = box_containment(boxes, boxes)  # inside[i, j]: share of i inside j
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    kept: list[int] = []
    for i in order:
        dup = False
        for j in kept:
            small, big = (float(area[i]), float(area[j])) if area[i] <= area[j] else (float(area[j]), float(area[i]))
            similar = big > 0 and small / big >= ratio
            if similar and max(float(inside[i, j]), float(inside[j, i])) >= cfg.nested_containment:
                dup = True
                break
        if not dup:
            kept.append(i)
    return [found[k] for k in kept]
