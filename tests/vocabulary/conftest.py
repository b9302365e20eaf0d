"""Fixtures of the vocabulary tests: the real ImageNet label spaces timm names."""

import pytest

from autolabel.vocabulary import LabelSpace, get_label_space


@pytest.fixture(scope="module")
def in1k() -> LabelSpace:
    return get_label_space("imagenet-1k", 1000)


@pytest.fixture(scope="module")
def in22k() -> LabelSpace:
    return get_label_space("imagenet-22k", 21841)
