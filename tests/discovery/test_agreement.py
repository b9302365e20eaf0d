"""Scale agreement: a region's objectness rises where the second scale finds nearly its box,
falls where it finds nothing like it, and moves linearly between."""

from __future__ import annotations

import numpy as np
import pytest

from autolabel.discovery.agreement import agree, best_overlaps
from autolabel.discovery.regions import Region


def _region(box: tuple[int, int, int, int], objectness: float, grid: tuple[int, int] = (10, 12)) -> Region:
    mask = np.zeros(grid, dtype=bool)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = True
    return Region(box, objectness, y1 * grid[1] + x1, mask)


def test_best_overlaps_are_grid_box_ious() -> None:
    mine = [_region((0, 0, 4, 4), 0.5), _region((6, 6, 10, 8), 0.5), _region((0, 0, 2, 2), 0.5)]
    others = [_region((0, 0, 4, 4), 0.3), _region((8, 6, 12, 8), 0.3)]
    # (0,0,4,4) equals one; (6,6,10,8) shares 2 x 2 of 8 + 8 - 4 cells with (8,6,12,8); (0,0,2,2) is 4 of 16 cells
    assert best_overlaps(mine, others) == pytest.approx([1.0, 4 / 12, 4 / 16])
    assert best_overlaps(mine, []).tolist() == [0.0, 0.0, 0.0]
    assert best_overlaps([], others).shape == (0,)


def test_agreeing_regions_are_boosted_and_capped_and_the_others_penalised() -> None:
    stable = _region((2, 2, 6, 6), 0.4)      # found again at the other scale (IoU 16 / 20 = 0.8)
    group = _region((0, 0, 12, 10), 0.5)     # the other scale splits it: nothing near its box
    sure = _region((7, 1, 10, 4), 0.8)       # found again exactly
    others = [_region((2, 2, 6, 7), 0.3), _region((7, 1, 10, 4), 0.6), _region((0, 0, 5, 10), 0.2)]
    out = agree([group, sure, stable], others, low=0.7, high=0.7, boost=1.5, penalty=0.6)
    assert [r.box for r in out] == [sure.box, stable.box, group.box]  # by new objectness
    assert [r.objectness for r in out] == pytest.approx([1.0, 0.6, 0.3])  # 0.8 x 1.5 capped at 1
    assert all(a.mask is b.mask and a.seed == b.seed for a, b in zip(out, [sure, stable, group]))  # only the score changes


def test_a_step_is_inclusive_and_no_other_scale_penalises_all() -> None:
    r = _region((0, 0, 4, 4), 0.5)
    half = [_region((0, 0, 4, 2), 0.5)]  # IoU 0.5
    assert agree([r], half, low=0.5, high=0.5, boost=2.0, penalty=0.5)[0].objectness == pytest.approx(1.0)
    assert agree([r], half, low=0.51, high=0.51, boost=2.0, penalty=0.5)[0].objectness == pytest.approx(0.25)
    assert agree([r], [], low=0.5, high=0.9, boost=2.0, penalty=0.5)[0].objectness == pytest.approx(0.25)


@pytest.mark.parametrize("rows, factor", [
    (1, 0.6),    # IoU 0.25: at or under low
    (2, 0.6),    # IoU 0.5 = low
    (3, 1.05),   # IoU 0.75: half way from 0.6 to 1.5
    (4, 1.5),    # IoU 1: at or over high
])
def test_the_factor_is_linear_in_the_agreement_between_low_and_high(rows: int, factor: float) -> None:
    r = _region((0, 0, 4, 4), 0.4)
    other = [_region((0, 0, 4, rows), 0.4)]  # IoU rows / 4
    assert agree([r], other, low=0.5, high=1.0, boost=1.5, penalty=0.6)[0].objectness == pytest.approx(0.4 * factor)


def test_a_small_move_of_the_other_box_moves_the_factor_a_little() -> None:
    """Near the middle of the ramp a box one patch longer changes the factor by a fraction of
    ``boost - penalty``, not by all of it (as a threshold there would)."""
    r = _region((0, 0, 10, 10), 0.4)
    got = [agree([r], [_region((0, 0, 10, rows), 0.4)], low=0.5, high=0.9, boost=1.5, penalty=0.6)[0].objectness
           for rows in (7, 8)]  # IoU 0.7, 0.8
    assert got[0] == pytest.approx(0.4 * 1.05) and got[1] == pytest.approx(0.4 * 1.275)
    assert got[1] - got[0] < 0.4 * (1.5 - 0.6) / 3
