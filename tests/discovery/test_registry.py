"""The discovery registry and the Region contract every method keeps; the multi-object
methods on planted scenes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from autolabel.config import PipelineConfig
from autolabel.discovery import get_discovery, list_discovery
from autolabel.discovery.maskcut import maskcut_regions
from autolabel.discovery.regions import Region
from autolabel.discovery.scores import contrast, cosine, ncut_score, ncut_scores, ncut_values
from autolabel.discovery.votes import vote_regions
from autolabel.errors import ConfigError

TWO = [(2, 2, 6, 6), (10, 7, 14, 11)]


def planted(h: int, w: int, objects: list[tuple[int, int, int, int]], dim: int = 16, noise: float = 0.3,
            seed: int = 0) -> torch.Tensor:
    """Background and each object (x1, y1, x2, y2 on the grid) on orthogonal axes, plus noise,
    centred over the patches as :class:`autolabel.pipeline.features.CNNMap` centres a CNN's map (so that
    unlike patches have negative similarity)."""
    g = torch.Generator().manual_seed(seed)
    keys = torch.zeros(h * w, dim)
    keys[:, 0] = 1.0
    for i, (x1, y1, x2, y2) in enumerate(objects, 1):
        for r in range(y1, y2):
            keys[r * w + x1: r * w + x2] = torch.eye(dim)[i]
    keys = keys + noise * torch.randn(h * w, dim, generator=g) / dim ** 0.5
    return keys - keys.mean(dim=0)


def test_registry_lists_every_method_and_refuses_unknown_names() -> None:
    assert list_discovery() == ["multi", "single", "tokencut", "maskcut", "votes"]
    with pytest.raises(ConfigError, match="unknown discovery method 'nope'.*multi"):
        get_discovery("nope")


def test_params_come_from_the_config_by_name() -> None:
    cfg = PipelineConfig(num_seeds=7, affinity_threshold=0.1, nms_iou=0.4)
    assert get_discovery("multi").params_from(cfg) == {"num_seeds": 7, "k_patches": 100, "affinity_threshold": 0.1, "nms_iou": 0.4}
    assert get_discovery("votes").params_from(cfg) == {"affinity_threshold": 0.1, "nms_iou": 0.4, "split_core": None,
                                                       "split_min_part": 2, "split_depth": 0.05}
    assert get_discovery("tokencut").params_from(cfg) == {}


@pytest.mark.parametrize("name", ["multi", "single", "tokencut", "maskcut", "votes"])
def test_every_method_keeps_the_region_contract(name: str) -> None:
    h, w = 13, 16
    keys = planted(h, w, TWO, noise=0.05)
    method = get_discovery(name)
    regions = method(keys, (h, w), **method.params_from(PipelineConfig()))
    assert regions and all(isinstance(r, Region) for r in regions)
    objs = [r.objectness for r in regions]
    assert objs == sorted(objs, reverse=True) and all(0.0 <= o <= 1.0 for o in objs)
    for r in regions:
        assert r.mask.shape == (h, w) and r.mask.dtype == bool
        assert r.mask.reshape(-1)[r.seed]
        rows, cols = np.nonzero(r.mask)
        assert r.box == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        assert ndimage.label(r.mask)[1] == 1
    if name in ("maskcut", "votes"):
        assert {r.box for r in regions} >= set(TWO)
    elif not method.multi:
        assert len(regions) == 1 and regions[0].box in TWO


def test_maskcut_finds_each_object_in_its_own_cut() -> None:
    keys = planted(13, 16, TWO, noise=0.05)
    regions = maskcut_regions(keys, (13, 16), cuts=2, all_components=False)
    assert sorted(r.box for r in regions) == sorted(TWO)


def test_votes_merge_many_seeds_into_one_region_per_object() -> None:
    keys = planted(13, 16, TWO, noise=0.05)
    regions = vote_regions(keys, (13, 16))
    assert sorted(r.box for r in regions) == sorted(TWO)
    assert all(r.objectness > 0.5 for r in regions)


def test_ncut_score_by_hand() -> None:
    # 4 patches: 0-1 alike, 2-3 alike, the pairs opposite: graph = two 2-cliques.
    keys = torch.tensor([[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0], [-1.0, -0.1]])
    sim = cosine(keys)
    assert ncut_score(sim, np.array([True, True, False, False])) == pytest.approx(1.0)  # no cut edge
    # {0}: cut 1 (0-1), assoc({0}) = 2, assoc(rest) = 6: ncut = 1/2 + 1/6.
    assert ncut_score(sim, np.array([True, False, False, False])) == pytest.approx(1 - (0.5 + 1 / 6) / 2)
    masks = np.array([[True, True, False, False], [True, False, False, False]])
    assert ncut_scores(masks, (sim > 0).float()).tolist() == pytest.approx([1.0, 1 - (0.5 + 1 / 6) / 2])
    assert contrast(sim, np.array([True, True, False, False])) == pytest.approx(1.0)  # clamped to [0, 1]
    # batched on the device form: the same values per image, whatever else is in the batch
    graph = (sim > 0).float()
    other = torch.ones(4, 4)
    both = ncut_values(torch.from_numpy(np.stack([masks, masks[::-1]])).float(), torch.stack([graph, other]))
    assert both[0].tolist() == pytest.approx(ncut_scores(masks, graph).tolist())
    assert ncut_values(torch.ones(1, 4), graph).tolist() == [0.0]  # every patch: no cut to score
