"""Apply a reviewer's corrections to a run's detections, whatever tool the review happened in.

A review tool (the FiftyOne App, Label Studio, ...) hands back, per image, the boxes as the
reviewer left them: each with our detection id (or none for a box the reviewer drew), a pixel
box, a label and tags. :func:`correct_image` compares them with the image's *base* detections
(the ones the review started from) and returns the corrected :class:`ImageAnnotations` plus
counts of what changed. Nothing here knows about FiftyOne or Label Studio.

Rules (one image):

* A base box that is missing from the review, or tagged ``reject``, is removed (``rejected``).
* A surviving base box whose label changed is ``relabeled``: new ``label``; ``label_id`` from
  the box's own top-k alternative of that name, else from the caller's ``label_ids`` map, else
  the label itself; ``score = 1.0`` (a person chose the label; the model's probability was for
  the old one); ``objectness`` and ``topk`` (the model's view) kept; ``source = "human"``.
* A surviving base box whose box moved by more than :data:`MOVE_TOLERANCE` px in any
  coordinate is ``moved``: new box (clipped to the image), ``source = "human"``, scores kept.
  A box that moved less keeps its exact original coordinates.
* A base box neither relabeled nor moved is ``kept`` unchanged.
* Masks (``Detection.mask``) follow their box: a kept or relabeled box keeps its mask; a moved or
  resized box keeps the part of its old mask inside the new box (the mask is *clipped*, never
  stretched or shifted: it still marks the same pixels of the image), and loses it when no
  pixel of the old mask lies in the new box (counted as ``masks_dropped``); a rejected box's mask
  goes with it; a drawn box has none. The reviewer's box stands, so a moved box may be larger
  than its mask's bounds. A tool that edits shapes may hand back a box's mask
  (:attr:`ReviewedBox.mask`): it replaces the old one (a changed mask counts as ``moved``).
* A box without a known id is ``added``: id ``<stem>-h<n>`` (``n`` one more than the highest
  ``h`` number already used in the image), ``score = objectness = 1.0``, ``source = "human"``.
  A box that arrives with an id unknown to the base (one assigned by an earlier pull) keeps it.
* Tag ``ok`` sets ``reviewed = True``; a base box's ``reviewed`` flag is never cleared.
* Boxes with no area inside the image, and drawn boxes without a label, are dropped and
  counted as ``invalid`` (a base box without a label keeps its old one).

Counts cover the images that were reviewed; ``kept + |relabeled or moved| + rejected`` equals
the number of base boxes (a box both relabeled and moved counts in both).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from autolabel.errors import RecordError
from autolabel.geometry import clip_box
from autolabel.masks import check_rle, clip_rle
from autolabel.types import Box, Detection, ImageAnnotations

log = logging.getLogger(__name__)

REJECT = "reject"
"""Tag that removes a box."""
OK = "ok"
"""Tag that marks a box as reviewed (``Detection.reviewed``)."""
MOVE_TOLERANCE = 0.5
"""A box counts as moved when a coordinate changed by more than this many pixels."""

COUNT_KEYS = ("kept", "relabeled", "moved", "rejected", "added", "reviewed", "invalid", "masks_dropped")
"""Keys of the per-box counts, in the order they are reported."""


@dataclass(frozen=True)
class ReviewedBox:
    """One box as the reviewer left it.

    Attributes:
        id: our detection id (``Detection.id``), or ``None`` for a box the reviewer drew.
        box: pixel ``(x1, y1, x2, y2)`` in the displayed image; clipped here, so it may stick out.
        label: the label now on the box (``None`` or ``""`` when the tool gave none).
        tags: the box's tags (``reject``, ``ok``, anything else is ignored).
        key: the review tool's own id for the box (handed back with assigned ids; optional).
        mask: the object's mask as the reviewer left it, COCO RLE over the displayed image (a
            tool that edits shapes, e.g. polygons); None when the tool has no mask for the box,
            and the base box's mask follows the rules above.
    """

    id: str | None
    box: Sequence[float]
    label: str | None
    tags: frozenset[str] = frozenset()
    key: str | None = None
    mask: Mapping[str, Any] | None = None


@dataclass
class ImageCorrection:
    """The result for one image.

    Attributes:
        image: the corrected annotations.
        counts: per-box counts, keys :data:`COUNT_KEYS`.
        assigned: ids given to boxes that had none (or a duplicate), as
            ``(index in the reviewed list, ReviewedBox.key, new id)``, so the tool can store them
            and hand the same ids back next time.
    """

    image: ImageAnnotations
    counts: dict[str, int]
    assigned: list[tuple[int, str | None, str]] = field(default_factory=list)


def empty_counts() -> dict[str, int]:
    """A counts dict with every key of :data:`COUNT_KEYS` at zero."""
    return {k: 0 for k in COUNT_KEYS}


def box_moved(old: Sequence[float], new: Sequence[float], tolerance: float = MOVE_TOLERANCE) -> bool:
    """True if any coordinate of ``new`` differs from ``old`` by more than ``tolerance`` px."""
    return any(abs(float(a) - float(b)) > tolerance for a, b in zip(old, new))


def resolve_label_id(label: str, det: Detection | None, label_ids: Mapping[str, str]) -> str:
    """The ``label_id`` for ``label``: from ``det``'s top-k, else ``label_ids``, else the label."""
    if det is not None:
        if det.label == label:
            return det.label_id
        for alt in det.topk:
            if alt.label == label:
                return alt.label_id
    return label_ids.get(label, label)


def _human_id_re(stem: str) -> re.Pattern[str]:
    return re.compile(re.escape(stem) + r"-h(\d+)$")


def _valid_box(box: Sequence[float], width: int, height: int) -> Box | None:
    try:
        b = clip_box(box, width, height)
    except (TypeError, ValueError):
        return None
    if len(tuple(box)) != 4 or not (b[2] > b[0] and b[3] > b[1]):
        return None
    return b


def _reviewed_mask(rb: ReviewedBox, base: ImageAnnotations) -> dict[str, Any] | None:
    """The mask a review tool handed back for ``rb``, if it is an RLE of the image (else None, logged)."""
    if rb.mask is None:
        return None
    try:
        rle = check_rle(rb.mask, f"{base.path}: mask of box {rb.id or rb.key}")
    except RecordError as e:
        log.warning("%s; ignored", e)
        return None
    if rle["size"] != [base.height, base.width]:
        log.warning("%s: the mask of box %s is %s (h, w), the image %dx%d (w x h); ignored",
                    base.path, rb.id or rb.key, rle["size"], base.width, base.height)
        return None
    return rle


def moved_mask(mask: Mapping[str, Any] | None, box: Box) -> dict[str, Any] | None:
    """The mask of a box moved or resized to ``box``: the old mask clipped to the new box, or
    None when none of it lies inside (or there was none)."""
    if mask is None:
        return None
    clipped = clip_rle(mask, box)
    return None if clipped is None else clipped[0]


def correct_image(
    base: ImageAnnotations,
    reviewed: Sequence[ReviewedBox],
    label_ids: Mapping[str, str] | None = None,
) -> ImageCorrection:
    """Apply one image's review to its base detections (see the module docstring for the rules).

    Args:
        base: the detections the review started from.
        reviewed: every box now on the image in the review tool, in the tool's order.
        label_ids: readable label -> ``label_id`` for labels a box's own top-k does not know.

    Returns:
        An :class:`ImageCorrection`: surviving base boxes in their original order, then the
        added boxes in review order.
    """
    label_ids = {} if label_ids is None else label_ids
    counts = empty_counts()
    by_id = {d.id: d for d in base.detections}
    matched: dict[str, tuple[int, ReviewedBox]] = {}
    new: list[tuple[int, ReviewedBox]] = []
    for i, rb in enumerate(reviewed):
        if rb.id is not None and rb.id in by_id and rb.id not in matched:
            matched[rb.id] = (i, rb)
        else:
            new.append((i, rb))

    out: list[Detection] = []
    for det in base.detections:
        hit = matched.get(det.id)
        if hit is None or REJECT in hit[1].tags:
            counts["rejected"] += 1
            continue
        rb = hit[1]
        box = _valid_box(rb.box, base.width, base.height)
        if box is None:
            log.warning("%s: box %s has no area inside the image; dropped", base.path, det.id)
            counts["invalid"] += 1
            counts["rejected"] += 1
            continue
        changes: dict[str, object] = {}
        label = rb.label or det.label
        if label != det.label:
            # A person chose the label: score 1, and the classifier's probability (of the old
            # label) no longer applies.
            changes.update(label=label, label_id=resolve_label_id(label, det, label_ids), score=1.0, class_score=None,
                           source="human")
            counts["relabeled"] += 1
        new_mask = _reviewed_mask(rb, base)
        if box_moved(det.box, box):
            changes.update(box=box, source="human")
            counts["moved"] += 1
            if new_mask is None and det.mask is not None:
                changes["mask"] = moved_mask(det.mask, box)
                counts["masks_dropped"] += changes["mask"] is None
        if new_mask is not None and new_mask != det.mask:
            changes.update(mask=new_mask, source="human")
            if "box" not in changes:
                counts["moved"] += 1
        if not changes:
            counts["kept"] += 1
        if OK in rb.tags and not det.reviewed:
            changes["reviewed"] = True
        out.append(det.with_(**changes) if changes else det)

    used = {d.id for d in base.detections}
    pattern = _human_id_re(base.stem)
    known = used | {rb.id for _, rb in new if rb.id}
    next_n = 1 + max((int(m.group(1)) for m in map(pattern.match, known) if m), default=0)
    assigned: list[tuple[int, str | None, str]] = []
    for i, rb in new:
        if REJECT in rb.tags:
            continue
        box = _valid_box(rb.box, base.width, base.height)
        if box is None or not rb.label:
            log.warning("%s: drawn box %s %s; dropped", base.path, rb.key or i, "has no label" if box is not None else "has no area inside the image")
            counts["invalid"] += 1
            continue
        det_id = rb.id
        if det_id is None or det_id in used:
            det_id = f"{base.stem}-h{next_n}"
            next_n += 1
            assigned.append((i, rb.key, det_id))
        used.add(det_id)
        out.append(
            Detection(
                id=det_id,
                box=box,
                label=rb.label,
                score=1.0,
                objectness=1.0,
                label_id=resolve_label_id(rb.label, None, label_ids),
                source="human",
                reviewed=OK in rb.tags,
                mask=_reviewed_mask(rb, base),
            )
        )
        counts["added"] += 1
    counts["reviewed"] = sum(1 for d in out if d.reviewed)
    image = ImageAnnotations(path=base.path, width=base.width, height=base.height, detections=tuple(out))
    return ImageCorrection(image=image, counts=counts, assigned=assigned)


@dataclass(frozen=True)
class CorrectionSummary:
    """What a review changed in a run: per-box counts over the reviewed images, and image counts.

    ``kept + |relabeled or moved| + rejected == boxes_before`` (a box both relabeled and moved
    counts in both); ``boxes_before``/``boxes_after`` cover the reviewed images only.
    """

    kept: int = 0
    relabeled: int = 0
    moved: int = 0
    rejected: int = 0
    added: int = 0
    reviewed: int = 0
    invalid: int = 0
    masks_dropped: int = 0
    images_reviewed: int = 0
    images_unreviewed: int = 0
    boxes_before: int = 0
    boxes_after: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counts as stored in a revision's summary: :data:`COUNT_KEYS`, then the image counts."""
        return {k: getattr(self, k) for k in (*COUNT_KEYS, "images_reviewed", "images_unreviewed", "boxes_before", "boxes_after")}


@dataclass
class RunCorrection:
    """The result for a whole run.

    Attributes:
        images: every image, corrected where reviewed, else as given; sorted by path.
        summary: the counts (see :class:`CorrectionSummary`).
        assigned: per image path, the ids given to drawn boxes (see :class:`ImageCorrection`).
    """

    images: list[ImageAnnotations]
    summary: CorrectionSummary
    assigned: dict[str, list[tuple[int, str | None, str]]]


def correct_images(
    images: Iterable[ImageAnnotations],
    reviews: Mapping[str, Sequence[ReviewedBox]],
    label_ids: Mapping[str, str] | None = None,
) -> RunCorrection:
    """Apply ``reviews`` (image path -> reviewed boxes) to ``images`` (the base of each image).

    Images without a review pass through unchanged; reviews of paths that are not among
    ``images`` are ignored with a warning.
    """
    total = empty_counts()
    out: list[ImageAnnotations] = []
    assigned: dict[str, list[tuple[int, str | None, str]]] = {}
    seen: set[str] = set()
    reviewed_n = before = after = 0
    for img in images:
        seen.add(img.path)
        boxes = reviews.get(img.path)
        if boxes is None:
            out.append(img)
            continue
        result = correct_image(img, boxes, label_ids)
        add_counts(total, result.counts)
        reviewed_n += 1
        before += len(img.detections)
        after += len(result.image.detections)
        out.append(result.image)
        if result.assigned:
            assigned[img.path] = result.assigned
    unknown = sorted(set(reviews) - seen)
    if unknown:
        log.warning("%d reviewed image(s) are not in the run and were ignored, e.g. %s", len(unknown), unknown[0])
    summary = CorrectionSummary(
        **total,
        images_reviewed=reviewed_n,
        images_unreviewed=len(out) - reviewed_n,
        boxes_before=before,
        boxes_after=after,
    )
    out.sort(key=lambda i: i.path)
    return RunCorrection(images=out, summary=summary, assigned=assigned)


def label_id_map(images: Iterable[ImageAnnotations]) -> dict[str, str]:
    """``label -> label_id`` from every detection and top-k alternative in ``images``.

    The first pairing seen wins, so pass images in a fixed order for a deterministic map.
    """
    out: dict[str, str] = {}
    for img in images:
        for d in img.detections:
            if d.label_id:
                out.setdefault(d.label, d.label_id)
            for a in d.topk:
                if a.label_id:
                    out.setdefault(a.label, a.label_id)
    return out


def add_counts(total: dict[str, int], counts: Mapping[str, int]) -> None:
    """Add ``counts`` into ``total`` in place."""
    for k, v in counts.items():
        total[k] = total.get(k, 0) + v

