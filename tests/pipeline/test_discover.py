"""The discovery stage's chain (:func:`autolabel.pipeline.discover.find_regions`): discovery,
scale agreement, saliency, candidates and tightening, each where the config turns it on, in
that order, on a planted scene."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autolabel.config import PipelineConfig
from autolabel.discovery.agreement import agree
from autolabel.discovery.saliency import key_norms, salient
from autolabel.discovery.tighten import pool_boxes, read, tighten
from autolabel.pipeline.discover import candidates, discover, find_regions

GRID = (20, 30)


def _keys(seed: int = 0, objects: bool = True) -> torch.Tensor:
    """``(1, 600, 16)`` keys: background, and (``objects``) two planted objects with their own
    directions (at negative cosine to the background's) and longer keys, plus noise."""
    rng = np.random.default_rng(seed)
    h, w = GRID
    e = np.eye(16)
    k = np.tile(e[0] - 0.5 * e[1] - 0.5 * e[2], (h, w, 1))
    if objects:
        k[4:12, 3:11] = 3.0 * e[1]
        k[6:16, 16:26] = 2.5 * e[2] + 0.5 * e[3]
    k += rng.normal(0.0, 0.2, k.shape) * np.linalg.norm(k, axis=2, keepdims=True) / 4.0
    return torch.tensor(k.reshape(1, h * w, 16), dtype=torch.float32)


def _cfg(**kw) -> PipelineConfig:
    return PipelineConfig(discovery="votes", max_boxes=3, **kw)


def _summary(regions) -> list[tuple[tuple[int, int, int, int], float]]:
    return [(tuple(r.box), round(r.objectness, 9)) for r in regions]


def test_with_nothing_else_on_the_regions_are_discoverys_candidates() -> None:
    keys, cfg = _keys(), _cfg()
    (found,) = find_regions(keys, None, GRID, cfg)
    expected = candidates(cfg, discover(keys, GRID, cfg)[0])
    assert found and _summary(found) == _summary(expected)
    assert len(found) <= 2 * cfg.max_boxes
    assert [r.objectness for r in found] == sorted((r.objectness for r in found), reverse=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_second_reading_finding_the_same_regions_boosts_them_and_one_of_nothing_penalises_them(seed: int) -> None:
    keys, cfg = _keys(seed), _cfg()
    base = {r.box: r.objectness for r in find_regions(keys, None, GRID, cfg)[0]}
    (same,) = find_regions(keys, keys, GRID, cfg)
    assert same and all(r.objectness == pytest.approx(min(1.0, base[r.box] * cfg.agreement_boost)) for r in same)
    (other,) = find_regions(keys, _keys(seed, objects=False), GRID, cfg)
    assert other and all(r.objectness == pytest.approx(base[r.box] * cfg.agreement_penalty) for r in other)


def test_every_step_runs_in_order_where_the_config_turns_it_on() -> None:
    keys, second = _keys(0), _keys(1, objects=False)  # the second reading finds nothing: penalties
    cfg = _cfg(saliency_power=2.0, saliency_knee=4.0, tighten_margin=0.0)  # a knee every region is below
    found = discover(keys, GRID, cfg)[0]
    found = agree(found, discover(second, GRID, cfg)[0], cfg.agreement_iou_low, cfg.agreement_iou_high,
                  cfg.agreement_boost, cfg.agreement_penalty)
    found = salient(found, key_norms(keys, GRID)[0], cfg.saliency_knee, cfg.saliency_power)
    expected = tighten(candidates(cfg, found), read(keys[0], GRID), pool_boxes(second[0], GRID), 0.0)
    (got,) = find_regions(keys, second, GRID, cfg)
    assert got and _summary(got) == _summary(expected)
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(got, expected))
    plain = {r.box: r.objectness for r in find_regions(keys, None, GRID, _cfg())[0]}
    assert all(r.objectness < cfg.agreement_penalty * plain[r.box] for r in got if r.box in plain)


def test_a_batch_gives_each_view_its_own_regions() -> None:
    a, b = _keys(0), _keys(0, objects=False)
    cfg = _cfg(saliency_power=2.0, tighten_margin=0.1)
    both = find_regions(torch.cat([a, b]), torch.cat([a, b]), GRID, cfg)
    assert len(both) == 2
    assert _summary(both[0]) == _summary(find_regions(a, a, GRID, cfg)[0])
    assert _summary(both[1]) == _summary(find_regions(b, b, GRID, cfg)[0])
