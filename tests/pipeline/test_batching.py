"""Padded batches: the model sees few shapes, padding rows never change the real rows."""

from __future__ import annotations

import pytest
import torch

from autolabel.pipeline.batching import ShapeLog, bucket, buckets_for, pad_rows, split_batches


def test_buckets_end_at_the_batch_size() -> None:
    assert buckets_for(32) == (8, 16, 32)
    assert buckets_for(64) == (8, 16, 32, 64)
    assert buckets_for(20) == (8, 16, 20)
    assert buckets_for(5) == (5,)
    with pytest.raises(ValueError):
        buckets_for(0)


@pytest.mark.parametrize("n, expected", [(1, 8), (8, 8), (9, 16), (17, 32), (32, 32)])
def test_bucket_is_the_smallest_that_holds_n(n: int, expected: int) -> None:
    assert bucket(n, (8, 16, 32)) == expected


def test_pad_rows_appends_zero_rows_only() -> None:
    x = torch.arange(6.0).view(3, 2)
    p = pad_rows(x, 8)
    assert p.shape == (8, 2) and torch.equal(p[:3], x) and not p[3:].any()
    assert pad_rows(x, 2) is x


def test_split_batches_covers_every_row_once() -> None:
    assert split_batches(70, 32) == [(0, 32), (32, 64), (64, 70)]
    assert split_batches(0, 32) == []


def test_shape_log_counts_distinct_shapes_per_model() -> None:
    log = ShapeLog()
    for n in (8, 8, 16):
        log.see("classifier", (n, 3, 224, 224))
    log.see("extractor", torch.Size([4, 3, 480, 640]))
    assert log.counts() == {"classifier": 2, "extractor": 1}
    log.reset()
    assert log.counts() == {}


@pytest.fixture(scope="module")
def classifier():
    from autolabel.models import build_model
    from autolabel.pipeline.classify import Classifier

    torch.manual_seed(0)
    return Classifier(build_model("test_convnext", "random", "classifier", torch.device("cpu")))


def test_padding_rows_do_not_change_real_rows(classifier) -> None:
    """Bit-identical real rows whatever the padding rows hold: no row sees another."""
    s = classifier.input_side
    x = torch.randn(5, 3, s, s)
    zeros = classifier.probabilities(pad_rows(x, 8))[:5]
    noise = classifier.probabilities(torch.cat([x, 100 * torch.randn(3, 3, s, s)]))[:5]
    assert torch.equal(zeros, noise)


def test_padded_classify_keeps_real_rows_and_labels(classifier) -> None:
    s = classifier.input_side
    crops = list(torch.randn(21, 3, s, s))
    shapes = ShapeLog()
    padded = classifier.classify(crops, 16, pad=True, shapes=shapes)
    plain = classifier.classify(crops, 16)
    assert padded.shape == plain.shape == (21, classifier.num_classes)
    # batches of 16 and 5 -> 16 and 8 rows: two shapes; the real rows equal the padded run's
    assert shapes.shapes("classifier") == {(16, 3, s, s), (8, 3, s, s)}
    assert torch.equal(padded[16:], classifier.probabilities(pad_rows(torch.stack(crops[16:]), 8))[:5])
    # against an unpadded run: the same up to the backend's per-batch-size kernel choice
    torch.testing.assert_close(padded, plain, rtol=1e-4, atol=1e-5)
    assert torch.equal(padded.argmax(1), plain.argmax(1))


def test_classify_takes_one_stacked_tensor(classifier) -> None:
    s = classifier.input_side
    x = torch.randn(3, 3, s, s)
    assert torch.equal(classifier.classify(x, 8), classifier.classify(list(x), 8))
