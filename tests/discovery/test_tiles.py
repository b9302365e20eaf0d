"""Tile layout and the merging of boxes across tiles."""

from __future__ import annotations

import pytest

from autolabel.config import parse_tiles
from autolabel.discovery.tiles import (
    Tile,
    cut_sides,
    dedupe_tiles,
    edge_margin,
    merge_tiles,
    tile_layout,
)


@pytest.mark.parametrize("value,expected", [("2x3", (2, 3)), (" 1X1 ", (1, 1)), ("16x16", (16, 16))])
def test_parse_tiles(value: str, expected: tuple[int, int]) -> None:
    assert parse_tiles(value) == expected


@pytest.mark.parametrize("value", ["2", "2x", "x2", "0x2", "2x17", "2*2", "a x b", ""])
def test_parse_tiles_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        parse_tiles(value)


@pytest.mark.parametrize("rows,cols,overlap", [(1, 1, 0.2), (2, 2, 0.2), (2, 3, 0.0), (3, 2, 0.5), (4, 4, 0.25)])
def test_layout_covers_the_image_with_the_asked_overlap(rows: int, cols: int, overlap: float) -> None:
    W, H = 1601, 1203
    tiles = tile_layout(W, H, rows, cols, overlap)
    assert len(tiles) == rows * cols
    assert min(t.x0 for t in tiles) == 0 and max(t.x1 for t in tiles) == W
    assert min(t.y0 for t in tiles) == 0 and max(t.y1 for t in tiles) == H
    first = tiles[0]
    if cols > 1:
        right = tiles[1]
        assert right.y0 == first.y0 and right.x0 < first.x1 + 1
        shared = first.x1 - right.x0
        assert shared == pytest.approx(overlap * first.size[0], abs=1.0)
    if rows > 1:
        below = tiles[cols]
        assert below.x0 == first.x0
        assert first.y1 - below.y0 == pytest.approx(overlap * first.size[1], abs=1.0)
    # every pixel is in some tile
    for x in (0, W // 3, W // 2, W - 1):
        for y in (0, H // 2, H - 1):
            assert any(t.x0 <= x < t.x1 and t.y0 <= y < t.y1 for t in tiles)
    # equal sizes (to the rounding pixel)
    sizes = {t.size for t in tiles}
    assert max(s[0] for s in sizes) - min(s[0] for s in sizes) <= 1
    assert max(s[1] for s in sizes) - min(s[1] for s in sizes) <= 1


def test_layout_refuses_a_bad_overlap() -> None:
    with pytest.raises(ValueError, match="overlap"):
        tile_layout(100, 100, 2, 2, 1.0)


LEFT, RIGHT = Tile(0, 0, 600, 500), Tile(400, 0, 1000, 500)  # two tiles of a 1000x500 image


def test_cut_sides_only_on_inner_edges() -> None:
    assert cut_sides((550, 100, 600, 200), LEFT, 1000, 500, 2.0) == (False, False, True, False)
    assert cut_sides((0, 0, 100, 500), LEFT, 1000, 500, 2.0) == (False, False, False, False)  # image borders
    assert cut_sides((400, 10, 450, 20), RIGHT, 1000, 500, 2.0) == (True, False, False, False)


def test_an_object_cut_by_a_tile_edge_is_joined() -> None:
    # the object spans x 300..700: the left tile sees 300..600 (cut), the right 400..700 (cut)
    merged = merge_tiles([(300, 100, 600, 220), (400, 102, 700, 218)], [0.7, 0.9], [0, 1], [LEFT, RIGHT], 1000, 500)
    assert merged == [((300.0, 100.0, 700.0, 220.0), 0.9, [0, 1])]


def test_an_object_cut_on_one_side_joins_the_whole_view_of_it() -> None:
    # 450..560 lies in the overlap: the right tile sees it whole, the left one sees it whole too,
    # a third box in the left tile is cut at 600 and matches the right tile's 520..680
    boxes = [(450, 50, 560, 120), (452, 51, 558, 119), (500, 300, 600, 380), (520, 302, 680, 379)]
    merged = merge_tiles(boxes, [0.8, 0.6, 0.5, 0.7], [0, 1, 0, 1], [LEFT, RIGHT], 1000, 500)
    groups = sorted(m[2] for m in merged)
    assert groups == [[0], [1], [2, 3]]  # whole views stay apart (NMS's job); cut parts join
    joined = next(m for m in merged if m[2] == [2, 3])
    assert joined[0] == (500.0, 300.0, 680.0, 380.0) and joined[1] == 0.7


def test_boxes_that_disagree_across_the_seam_stay_apart() -> None:
    # a tile-wide background box (cut) and a small object in the other tile
    boxes = [(0, 0, 600, 500), (420, 200, 480, 240)]
    merged = merge_tiles(boxes, [0.3, 0.9], [0, 1], [LEFT, RIGHT], 1000, 500)
    assert sorted(m[2] for m in merged) == [[0], [1]]
    assert merged[0][2] == [1]  # by descending objectness


def test_boxes_of_one_tile_never_merge() -> None:
    merged = merge_tiles([(500, 100, 600, 200), (550, 100, 600, 200)], [0.5, 0.4], [0, 0], [LEFT, RIGHT], 1000, 500)
    assert len(merged) == 2


def test_edge_margin_counts_only_inner_edges() -> None:
    assert edge_margin((100, 100, 200, 200), LEFT, 1000, 500) == 400.0  # to x = 600
    assert edge_margin((450, 10, 500, 20), RIGHT, 1000, 500) == 50.0  # to x = 400
    assert edge_margin((0, 0, 10, 10), Tile(0, 0, 1000, 500), 1000, 500) == float("inf")


def test_an_object_seen_whole_by_two_tiles_keeps_the_view_with_more_context() -> None:
    # one object in the overlap: the left tile's box (margin 40 px to x = 600) is loose, the
    # right tile's (margin 80 px to x = 400) is tight and nested in it; a third box elsewhere
    boxes = [(470, 100, 560, 200), (480, 110, 550, 190), (100, 300, 150, 350)]
    margins = [edge_margin(boxes[0], LEFT, 1000, 500), edge_margin(boxes[1], RIGHT, 1000, 500), 450.0]
    assert margins[:2] == [40.0, 80.0]
    sources = [frozenset({0}), frozenset({1}), frozenset({0})]
    assert dedupe_tiles(boxes, margins, sources) == [1, 2]
    # boxes of one tile are discovery's business, even when nested
    assert dedupe_tiles(boxes[:2], margins[:2], [frozenset({0}), frozenset({0})]) == [0, 1]
    # a box joined from both tiles shares a tile with each part
    assert dedupe_tiles([(300, 100, 700, 200), (320, 110, 560, 190)], [float("inf"), 40.0],
                        [frozenset({0, 1}), frozenset({0})]) == [0, 1]


@pytest.mark.parametrize("size,max_side,expected", [
    ((640, 480), 640, (1, 1)),        # small photos are seen whole
    ((1280, 960), 640, (1, 1)),       # up to twice max_side too
    ((1281, 700), 640, (2, 3)),       # beyond: tiles of at most max_side pixels
    ((4000, 3000), 640, (6, 8)),
    ((3000, 4000), 640, (8, 6)),
    ((2000, 500), 640, (1, 4)),
    ((2000, 1500), 1024, (1, 1)),
    ((100000, 100), 640, (1, 16)),    # at most 16 along an axis
])
def test_auto_grid_picks_tiles_from_the_photo_size(size: tuple[int, int], max_side: int, expected: tuple[int, int]) -> None:
    from autolabel.discovery.tiles import auto_grid

    rows, cols = auto_grid(*size, max_side, 0.2)
    assert (rows, cols) == expected
    tiles = tile_layout(*size, rows, cols, 0.2)
    if expected[1] < 16 and expected != (1, 1):
        assert all(max(t.size) <= max_side for t in tiles)


def test_auto_tiles_in_the_config() -> None:
    from autolabel.config import PipelineConfig
    from autolabel.errors import ConfigError

    cfg = PipelineConfig(tiles="auto")
    assert cfg.tiles_for(640, 480) == (1, 1) and cfg.tiles_for(4000, 3000) == (6, 8)
    assert PipelineConfig(tiles="2x3").tiles_for(4000, 3000) == (2, 3)
    with pytest.raises(ConfigError, match="auto"):
        PipelineConfig(tiles="automatic")
