"""Stacked 4-connected components (run sweeps and the scipy path) against scipy.ndimage.label,
mask by mask: random masks and seeds, snakes and spirals (the sweeps' worst cases), 1xN / Nx1
grids, empty masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from autolabel.discovery.components import component_labels, largest_components, seed_components
from autolabel.discovery.regions import FOUR

METHODS = ["sweeps", "scipy"]


def _scipy_seed_component(mask: np.ndarray, seed: int) -> np.ndarray:
    labels, _ = ndimage.label(mask, structure=FOUR)
    at = labels.reshape(-1)[seed]
    return (labels == at) & (at > 0)


def _scipy_largest(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Today's fallback in votes: the first maximum of the label sizes, its first cell."""
    labels, _ = ndimage.label(mask, structure=FOUR)
    if not labels.any():
        return np.zeros_like(mask), mask.size
    comp = labels == np.bincount(labels.reshape(-1))[1:].argmax() + 1
    return comp, int(np.flatnonzero(comp.reshape(-1))[0])


def _snake(h: int, w: int) -> np.ndarray:
    """A one-cell-wide boustrophedon path: every other row full, joined at alternating ends."""
    m = np.zeros((h, w), dtype=bool)
    m[::2] = True
    for r in range(1, h, 2):
        m[r, w - 1 if r % 4 == 1 else 0] = True
    return m


def _spiral(h: int, w: int) -> np.ndarray:
    """A one-cell-wide spiral walled off from itself by one-cell gaps."""
    m = np.zeros((h, w), dtype=bool)
    top, left, bottom, right = 0, 0, h - 1, w - 1
    while top <= bottom and left <= right:
        m[top, left: right + 1] = True
        m[top: bottom + 1, right] = True
        if bottom > top:
            m[bottom, left: right + 1] = True
        if right > left:
            m[top + 2: bottom + 1, left] = True
        if top + 2 <= bottom:
            m[top + 2, left: left + 2] = True  # the step inwards
        top, left, bottom, right = top + 2, left + 2, bottom - 2, right - 2
    return m


def _check_against_scipy(masks: np.ndarray, seeds: np.ndarray, method: str) -> None:
    t = torch.from_numpy(masks)
    got = seed_components(t, torch.from_numpy(seeds), method=method, check_every=1).numpy()
    comps, first = largest_components(t, method=method, check_every=3)
    labels = component_labels(t, method=method).numpy()
    n = masks.shape[1] * masks.shape[2]
    for i, (m, s) in enumerate(zip(masks, seeds)):
        assert np.array_equal(got[i], _scipy_seed_component(m, int(s)))
        want, want_first = _scipy_largest(m)
        assert np.array_equal(comps[i].numpy(), want) and int(first[i]) == want_first
        sl, count = ndimage.label(m, structure=FOUR)
        # the same partition, each component labelled by its first cell
        assert len(np.unique(labels[i][m])) == count and (labels[i][~m] == n).all()
        for k in range(1, count + 1):
            cells = np.flatnonzero((sl == k).reshape(-1))
            assert (labels[i].reshape(-1)[cells] == cells[0]).all()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(6, 8), (12, 9), (30, 40), (1, 17), (17, 1), (1, 1)])
def test_random_masks_and_seeds_match_scipy(method: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    masks = np.stack([rng.random(shape) < p for p in np.linspace(0.0, 1.0, 24)])
    seeds = rng.integers(0, shape[0] * shape[1], len(masks))
    _check_against_scipy(masks, seeds, method)
    assert any(seed_components(torch.from_numpy(masks), torch.from_numpy(seeds), method=method).flatten(1).any(1))


@pytest.mark.parametrize("method", METHODS)
def test_snakes_and_spirals_match_scipy(method: str) -> None:
    masks = np.stack([_snake(31, 40), _spiral(31, 40), _snake(31, 40)[::-1], _spiral(31, 40)[:, ::-1]])
    assert ndimage.label(masks[0], structure=FOUR)[1] == 1 and ndimage.label(masks[1], structure=FOUR)[1] == 1
    ends = np.flatnonzero(masks[0].reshape(-1))
    seeds = np.array([ends[-1], 0, 0, 39])
    _check_against_scipy(masks, seeds, method)
    got = seed_components(torch.from_numpy(masks), torch.from_numpy(seeds), method=method)
    assert got[0].sum() == masks[0].sum()  # the whole snake from its far end


@pytest.mark.parametrize("method", METHODS)
def test_empty_masks_and_seeds_off_the_mask(method: str) -> None:
    masks = np.zeros((3, 4, 5), dtype=bool)
    masks[1, 1:3, 1:4] = True
    seeds = np.array([0, 0, 7])
    got = seed_components(torch.from_numpy(masks), torch.from_numpy(seeds), method=method)
    assert not got[0].any() and not got[1].any() and not got[2].any()  # seed 0 is off mask 1
    got = seed_components(torch.from_numpy(masks), torch.tensor([0, 7, 7]), method=method)
    assert np.array_equal(got[1].numpy(), masks[1])
    comps, first = largest_components(torch.from_numpy(masks), method=method)
    assert first.tolist() == [20, 6, 20] and not comps[0].any() and np.array_equal(comps[1].numpy(), masks[1])
    empty = seed_components(torch.zeros(0, 4, 5, dtype=torch.bool), torch.zeros(0, dtype=torch.int64), method=method)
    assert empty.shape == (0, 4, 5)


def test_ties_go_to_the_component_seen_first() -> None:
    m = np.zeros((1, 5, 5), dtype=bool)
    m[0, 3:5, 0:2] = True  # four cells, first cell 15
    m[0, 0:2, 3:5] = True  # four cells, first cell 3
    for method in METHODS:
        comps, first = largest_components(torch.from_numpy(m), method=method)
        assert int(first[0]) == 3 and comps[0, 0, 3] and not comps[0, 4, 0]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(M, h, w\) bool"):
        seed_components(torch.zeros(2, 3), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="seeds must be"):
        seed_components(torch.zeros(2, 3, 3, dtype=torch.bool), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="method must be"):
        component_labels(torch.zeros(2, 3, 3, dtype=torch.bool), method="nope")
