"""Shared samples for the ground-truth reader tests."""

from __future__ import annotations

import pytest

CLASSES = ["dog", "traffic light", "salt & pepper, shaker", "unused"]

# integer boxes and sizes whose fractions have few digits, so VOC integers and YOLO's 6 decimals carry them exactly
FLAT = [
    ("a.jpg", 64, 48, [((4, 6, 20, 30), "dog"), ((30, 0, 64, 48), "salt & pepper, shaker")]),
    ("b.png", 50, 40, [((0, 0, 10, 10), "traffic light")]),
    ("c.jpg", 32, 32, []),
]
NESTED = [
    ("cam1/0001.jpg", 64, 40, [((4, 6, 20, 30), "dog")]),
    ("cam2/0001.jpg", 64, 40, [((10, 10, 30, 40), "traffic light")]),
]


@pytest.fixture
def flat_sample():
    return FLAT, CLASSES


def boxes_of(gt):
    """``{path: sorted [(label, box rounded to 1e-6)]}`` of a GroundTruth (pixel boxes)."""
    return {img.path: sorted((lab, tuple(round(v, 6) for v in b)) for b, lab in zip(img.boxes, img.labels)) for img in gt.images}


def expected_boxes(sample):
    return {p: sorted((lab, tuple(float(v) for v in b)) for b, lab in boxes) for p, _, _, boxes in sample}


def datumaro_boxes(path, fmt):
    """``{item id: sorted [(label, xyxy)]}`` as datumaro reads the dataset (an independent reader)."""
    import datumaro as dm

    ds = dm.Dataset.import_from(str(path), fmt)
    cats = ds.categories()[dm.AnnotationType.label]
    out = {}
    for item in ds:
        out[item.id] = sorted(
            (cats[a.label].name, tuple(round(v, 6) for v in (a.x, a.y, a.x + a.w, a.y + a.h)))
            for a in item.annotations if a.type == dm.AnnotationType.bbox
        )
    return out
