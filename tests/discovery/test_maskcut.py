"""MaskCut (batched, with the project's eigensolver) against today's algorithm written here with a
dense float64 generalised ``eigh`` (scipy) per cut, on planted scenes with a clear eigen-gap."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy import ndimage

from autolabel.discovery.maskcut import maskcut_regions, maskcut_regions_batch
from autolabel.discovery.scores import contrast_values
from autolabel.geometry import nms
from tests.discovery.test_registry import planted


def _corners(m: np.ndarray) -> int:
    return int(m[0, 0]) + int(m[0, -1]) + int(m[-1, 0]) + int(m[-1, -1])


def reference_maskcut(keys: np.ndarray, h: int, w: int, cuts: int = 3, all_components: bool = True, tau: float = 0.2, eps: float = 1e-5,
                      min_patches: int = 2, nms_iou: float = 0.5, gaps: list | None = None) -> list[tuple[tuple[int, int, int, int], int, float, np.ndarray]]:
    """``(box, seed, objectness, mask)`` per region, by descending objectness: MaskCut's rounds
    with ``scipy.linalg.eigh(D - A, D)`` on the remaining patches, the corner rule, every
    component of at least ``min_patches``, scored by ``1 - ncut / 2`` on the graph ``S > tau``.
    Each cut's eigen-gap ``λ₃ - λ₂`` is appended to ``gaps``."""
    gaps = [] if gaps is None else gaps
    k = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    sim = k @ k.T
    links = (sim > tau).astype(np.float64)
    n = h * w
    active = np.ones(n, dtype=bool)
    found = []
    for _ in range(cuts):
        idx = np.flatnonzero(active)
        sub = links[np.ix_(idx, idx)]
        if len(idx) < max(4, 2 * min_patches) or sub.all() or not sub.any():
            break
        a = np.where(sub > 0, 1.0, eps)
        d = np.diag(a.sum(axis=1))
        vals, vecs = scipy.linalg.eigh(d - a, d)
        gaps.append(vals[2] - vals[1])
        x = vecs[:, 1]
        above = x > x.mean()
        seed_local = int(np.argmax(np.abs(x)))
        fg_local = above if above[seed_local] else ~above
        fg, bg = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        fg[idx[fg_local]], bg[idx[~fg_local]] = True, True
        if _corners(fg.reshape(h, w)) >= 3 and _corners(bg.reshape(h, w)) < _corners(fg.reshape(h, w)):
            fg, fg_local = bg, ~fg_local
            seed_local = int(np.argmax(np.where(fg_local, np.abs(x), -1.0)))
        if not fg.any():
            break
        seed = int(idx[seed_local])
        labels, count = ndimage.label(fg.reshape(h, w))
        for lab in range(1, count + 1):
            comp = labels == lab
            if lab != labels.reshape(-1)[seed] and (not all_components or comp.sum() < min_patches):
                continue
            s = seed if lab == labels.reshape(-1)[seed] else int(np.flatnonzero(comp)[0])
            r = comp.reshape(-1).astype(np.float64)
            assoc, total = float(r @ links.sum(axis=1)), float(links.sum())
            cut = assoc - float(r @ links @ r)
            score = 1.0 - (cut / assoc + cut / (total - assoc)) / 2.0
            rows, cols = np.nonzero(comp)
            found.append(((int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1), s, score, comp))
            active &= ~comp.reshape(-1)
    keep = nms(torch.tensor([f[0] for f in found], dtype=torch.float32),
               torch.tensor([f[2] for f in found], dtype=torch.float32), nms_iou)
    return [found[i] for i in keep.tolist()]


SCENES = [
    ((13, 16), [(2, 2, 6, 6), (10, 7, 14, 11)]),
    ((20, 25), [(3, 2, 9, 8), (15, 10, 22, 17)]),
    ((30, 40), [(4, 3, 14, 12), (22, 15, 33, 26), (30, 2, 37, 8)]),
]


@pytest.mark.parametrize("grid, objects, all_components", [(*SCENES[0], True), (*SCENES[0], False), (*SCENES[1], True),
                                                          (*SCENES[1], False), (*SCENES[2], True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_matches_todays_algorithm_with_a_dense_eigh(grid: tuple[int, int], objects: list, dtype: torch.dtype,
                                                   all_components: bool) -> None:
    """With ``all_components`` the first cut takes every object and the background left is
    constant (one cut); without, one object per cut (as many cuts as objects). Objects of one
    size tie on objectness, so regions are compared in box order."""
    h, w = grid
    keys = torch.stack([planted(h, w, objects, noise=0.1, seed=s) for s in range(2)]).to(dtype)
    cuts = len(objects)  # one cut per object: every cut has a clear eigen-gap (checked below)
    batched = maskcut_regions_batch(keys, grid, cuts=cuts, all_components=all_components)
    for k, regions in zip(keys, batched):
        gaps: list[float] = []
        expected = reference_maskcut(k.float().double().numpy(), h, w, cuts=cuts, all_components=all_components, gaps=gaps)
        assert len(gaps) == (1 if all_components else cuts) and min(gaps) > 0.1
        # the seed (largest |x|) is not compared: on a planted object x is nearly constant
        regions, expected = sorted(regions, key=lambda r: r.box), sorted(expected, key=lambda e: e[0])
        assert [r.box for r in regions] == [e[0] for e in expected]
        assert all(np.array_equal(r.mask, e[3]) for r, e in zip(regions, expected))
        assert [r.objectness for r in regions] == pytest.approx([e[2] for e in expected], abs=1e-6)
        assert {r.box for r in regions} >= set(objects)


def test_contrast_values_by_hand() -> None:
    # 4 patches: 0-1 alike (similarity 1), 2-3 alike, the pairs opposite (-1)
    sim = torch.tensor([[1.0, 1, -1, -1], [1, 1, -1, -1], [-1, -1, 1, 1], [-1, -1, 1, 1]])[None]
    regions = torch.tensor([[[1.0, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 0]]])
    # inside 1 - outside -1 = 2, clamped to 1; {0}: 1 - (1 - 1 - 1) / 3 = 4/3 -> 1; all / none: 0;
    # {0, 2}: inside (1 + 1 - 1 - 1) / 4 = 0, outside (1 - 1 - 1 + 1) / 4 = 0
    assert contrast_values(regions, sim)[0].tolist() == pytest.approx([1.0, 1.0, 0.0, 0.0, 0.0])


def test_maskcut_scores_by_contrast_when_asked() -> None:
    keys = planted(13, 16, SCENES[0][1], noise=0.05)
    regions = maskcut_regions(keys, (13, 16), score="contrast")
    assert {r.box for r in regions} >= set(SCENES[0][1])
    assert all(0.0 <= r.objectness <= 1.0 for r in regions)
    assert max(r.objectness for r in regions) > 0.5
