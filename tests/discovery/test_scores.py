"""Degrees of a batch: the same counts as image by image."""

from __future__ import annotations

import torch

from autolabel.discovery.scores import cosine, degrees
from autolabel.tools.bench.discovery_timing import scene_keys


def test_batched_degrees_are_each_images_row_counts() -> None:
    sim = cosine(scene_keys(3, 5, 7, seed=2))
    for t in (0.0, 0.3):
        got = degrees(sim, t)
        assert got.shape == (3, 35) and got.dtype == torch.int64
        for b in range(3):
            assert got[b].tolist() == [int((row > t).sum()) for row in sim[b]]
        assert torch.equal(degrees(sim[1], t), got[1])  # one image: the same counts
    assert degrees(sim[:0]).shape == (0, 35)
