"""votes: the batched implementation (per image, batched, and a whole batch at once as on a
GPU) gives exactly the regions of the per-image algorithm it replaced (kept below as
``_reference_vote_regions``), on many scenes, dtypes, grids and parameter variants, on both
connected-component paths."""

from __future__ import annotations

import functools
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import ndimage

import autolabel.discovery.votes as votes
from autolabel.discovery import get_discovery
from autolabel.discovery.components import largest_components, seed_components
from autolabel.discovery.regions import FOUR, Region, check_grid, mask_box, seed_component
from autolabel.discovery.scores import contrast, cosine, ncut_scores
from autolabel.discovery.votes import vote_regions, vote_regions_batch
from autolabel.geometry import nms
from autolabel.tools.bench.discovery_timing import scene_keys
from tests.discovery.test_registry import planted


def _reference_vote_regions(keys: torch.Tensor, grid_hw: tuple[int, int], *, affinity_threshold: float = 0.0,
                             proposal_threshold: float | None = None, num_seeds: int = 200, max_area: float = 0.6,
                             merge_iou: float = 0.5, min_votes: int = 2, nms_iou: float = 0.5, score: str = "ncut",
                             background_degree: float | None = 0.5) -> list[Region]:
    """``vote_regions`` as it was before the batched form (one image, a scipy label per seed
    and a Python loop): the reference the batched implementation must equal."""
    h, w = check_grid(keys, grid_hw)
    n = h * w
    sim = cosine(keys)
    linked = (sim > affinity_threshold).float()
    deg = linked.sum(dim=1)
    order = torch.sort(deg, stable=True).indices.numpy()
    if background_degree is None:
        background = np.zeros(n, dtype=bool)
        background[order[n // 2:]] = True
        seeds = order[: min(max(1, num_seeds), max(1, n // 2))]
    else:
        background = (deg > background_degree * n).numpy()
        seeds = order[: min(max(1, num_seeds), max(1, int((~background).sum())))]
    pt = affinity_threshold if proposal_threshold is None else proposal_threshold
    near = (sim[torch.from_numpy(seeds)] > pt).numpy().reshape(len(seeds), h, w)
    props, kept_seeds = [], []
    for s, m in zip(seeds, near):
        comp = seed_component(m, divmod(int(s), w))
        if comp is None:
            continue
        flat = comp.reshape(-1)
        area = int(flat.sum())
        if area > max_area * n or (background & flat).sum() > 0.5 * area:
            continue
        props.append(flat)
        kept_seeds.append(int(s))
    if not props:
        return []
    P = torch.from_numpy(np.stack(props)).float()
    inter = P @ P.T
    area = P.sum(dim=1)
    iou = inter / (area[:, None] + area[None, :] - inter)
    close = (iou > merge_iou).numpy()
    votes = close.sum(axis=1)
    used = np.zeros(len(props), dtype=bool)
    found: list[tuple[np.ndarray, int]] = []
    for p in np.argsort(-votes, kind="stable"):
        if used[p]:
            continue
        group = np.flatnonzero(close[p] & ~used)
        used[group] = True
        if len(group) < min_votes:
            continue
        merged = (P[torch.from_numpy(group)].mean(dim=0) >= 0.5).numpy().reshape(h, w)
        seed = kept_seeds[p]
        comp = seed_component(merged, divmod(seed, w))
        if comp is None:
            labels, _ = ndimage.label(merged, structure=FOUR)
            if not labels.any():
                continue
            comp = labels == np.bincount(labels.reshape(-1))[1:].argmax() + 1
            seed = int(np.flatnonzero(comp.reshape(-1))[0])
        found.append((comp, seed))
    if not found:
        return []
    if score == "ncut":
        objs = ncut_scores(np.stack([c for c, _ in found]), linked).tolist()
    else:
        objs = [contrast(sim, c) for c, _ in found]
    regions = [Region(mask_box(c), o, s, c) for (c, s), o in zip(found, objs)]
    boxes = torch.tensor([r.box for r in regions], dtype=torch.float32)
    scores = torch.tensor([r.objectness for r in regions], dtype=torch.float32)
    return [regions[i] for i in nms(boxes, scores, nms_iou).tolist()]


VARIANTS = {
    "default": {},
    "rank background": {"background_degree": None},
    "contrast": {"score": "contrast"},
    "proposal threshold": {"proposal_threshold": 0.3},
    "few seeds": {"num_seeds": 5},
    "one vote": {"min_votes": 1},
    "loose merge": {"merge_iou": 0.1, "min_votes": 1},
    "looser": {"affinity_threshold": 0.1, "merge_iou": 0.3, "max_area": 0.3, "nms_iou": 0.3},
}


def _same(got: list[Region], want: list[Region], exact_objectness: bool = True) -> None:
    assert [(r.box, r.seed) for r in got] == [(r.box, r.seed) for r in want]
    if exact_objectness:
        assert [r.objectness for r in got] == [r.objectness for r in want]
    else:  # contrast: matrix-product sums against torch's masked means, float32 rounding apart
        assert np.allclose([r.objectness for r in got], [r.objectness for r in want], rtol=1e-5, atol=1e-6)
    for r, s in zip(got, want):
        assert r.mask.dtype == bool and r.mask.shape == s.mask.shape and np.array_equal(r.mask, s.mask)


def _batch(grid: tuple[int, int], seed: int) -> torch.Tensor:
    """Five scenes (three on grids over 1000 patches; keys centred over the patches, as a CNN
    map's are: unlike patches have negative similarity) and two with no proposals: constant
    keys at index 2 (all background; the one seed's proposal is the whole grid) and zero keys
    last (no patch is similar to any)."""
    h, w = grid
    if h >= 3:
        scenes = scene_keys(5 if h * w < 1000 else 3, h, w, c=24, seed=seed)
        scenes = scenes - scenes.mean(dim=1, keepdim=True)
    else:  # 1 x N: planted runs
        scenes = torch.stack([planted(h, w, [(2 + i, 0, 7 + i, 1), (12, 0, 17 + i, 1)], dim=24, noise=0.4, seed=seed + i)
                              for i in range(5)])
    const = torch.ones(1, h * w, 24)
    return torch.cat([scenes[:2], const, scenes[2:], torch.zeros(1, h * w, 24)])


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("grid", [(6, 8), (12, 9), (30, 40), (1, 24)])
def test_per_image_and_batched_equal_the_reference(grid: tuple[int, int], dtype: torch.dtype, variant: str) -> None:
    params = VARIANTS[variant]
    keys = _batch(grid, seed=sum(grid) + len(variant)).to(dtype)
    want = [_reference_vote_regions(k, grid, **params) for k in keys]
    batched = vote_regions_batch(keys, grid, **params)  # the whole batch in one go, as on a GPU
    assert len(batched) == len(keys)
    exact = params.get("score") != "contrast"
    for k, got, ref in zip(keys, batched, want):
        _same(got, ref, exact)
        _same(vote_regions(k, grid, **params), ref, exact)
    assert want[2] == [] and want[-1] == []  # the batch mixes images without proposals ...
    assert sum(len(r) for r in want) >= 3  # ... and images with regions


def _scipy_free_votes(monkeypatch) -> None:
    """votes on the run-sweep components (what a GPU runs), on the CPU."""
    monkeypatch.setattr(votes, "seed_components", functools.partial(seed_components, method="sweeps"))
    monkeypatch.setattr(votes, "largest_components", functools.partial(largest_components, method="sweeps"))


@pytest.mark.parametrize("grid, variant", [*(((12, 9), v) for v in ("default", "rank background", "one vote", "looser")),
                                           ((30, 40), "default"), ((30, 40), "one vote"), ((1, 24), "default")])
def test_the_sweep_path_equals_the_reference(grid: tuple[int, int], variant: str, monkeypatch) -> None:
    params = VARIANTS[variant]
    keys = _batch(grid, seed=3 * sum(grid))
    want = [_reference_vote_regions(k, grid, **params) for k in keys]
    _scipy_free_votes(monkeypatch)
    for got, ref in zip(vote_regions_batch(keys, grid, **params), want):
        _same(got, ref)
    assert sum(len(r) for r in want) >= 3


def test_a_leading_seed_outside_its_merged_mask_takes_the_largest_component(monkeypatch) -> None:
    """Loose merging (IoU 0.1): on these scenes some group's merged mask (patches held by at
    least half its members) misses the leading seed, and the region is the merged mask's
    largest component, seeded at its first cell; both component paths give the reference's."""
    grid, params = (8, 10), {"merge_iou": 0.1, "min_votes": 1}
    keys = torch.stack([scene_keys(1, *grid, c=16, seed=s)[0] for s in (6, 7, 11, 12)])
    keys = keys - keys.mean(dim=1, keepdim=True)
    fallbacks, label = [], ndimage.label
    counting = SimpleNamespace(label=lambda *a, **k: fallbacks.append(1) or label(*a, **k))
    with monkeypatch.context() as m:  # the reference calls its module's ndimage only in the fallback
        m.setattr(sys.modules[__name__], "ndimage", counting)
        want = [_reference_vote_regions(k, grid, **params) for k in keys]
    assert len(fallbacks) >= 4
    for sweeps in (False, True):
        if sweeps:
            _scipy_free_votes(monkeypatch)
        for got, ref in zip(vote_regions_batch(keys, grid, **params), want):
            _same(got, ref)


def test_votes_is_registered_with_its_batched_form() -> None:
    method = get_discovery("votes")
    assert method.batched == "autolabel.discovery.votes:vote_regions_batch"
    keys = scene_keys(3, 10, 12, seed=11)
    for k, got in zip(keys, method.batch(keys, (10, 12), affinity_threshold=0.0, nms_iou=0.5)):
        _same(got, _reference_vote_regions(k, (10, 12)))


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(B, h\*w, C\)"):
        vote_regions_batch(torch.zeros(2, 10, 4), (3, 4))
    with pytest.raises(ValueError, match=r"\(h\*w, C\)"):
        vote_regions(torch.zeros(2, 10, 4), (2, 5))
    assert vote_regions_batch(torch.zeros(0, 12, 4), (3, 4)) == []
