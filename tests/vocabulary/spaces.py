"""Label spaces and helpers shared by the vocabulary tests: real synsets, a toy space, labelers."""

from __future__ import annotations

from pathlib import Path

import torch

from autolabel.vocabulary import (
    LabelSpace,
    VocabularyLabeler,
    build_labeler,
    vocabulary_from_dict,
)

REPO = Path(__file__).resolve().parent.parent.parent
SAMPLE = REPO / "sample_data"

TABBY, TIGER_CAT, EGYPTIAN_CAT = "n02123045", "n02123159", "n02124075"
BEAGLE, MISSILE, ESPRESSO = "n02088364", "n03773504", "n07920052"
CAT, BIG_CAT, DOG, ROCKET = "n02121620", "n02127808", "n02084071", "n04099429"
CUP_CONTAINER, CUP_IMAGENET = "n03147509", "n07930864"


def small_space() -> LabelSpace:
    """Six real ImageNet synsets as a toy label space (columns of the hand-made vectors)."""
    synsets = (TABBY, TIGER_CAT, EGYPTIAN_CAT, BEAGLE, MISSILE, ESPRESSO)
    names = ("tabby", "tiger cat", "Egyptian cat", "beagle", "missile", "espresso")
    return LabelSpace("test", synsets, names, names)


def probs(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def labeler(classes: dict, topk: int = 1, **kw) -> VocabularyLabeler:
    lab = build_labeler(small_space(), vocabulary_from_dict({"classes": classes, **kw}), topk=topk)
    assert isinstance(lab, VocabularyLabeler)
    return lab
