"""Flat image names: folders joined, whitespace replaced, collisions made unique and stable."""

from __future__ import annotations

import csv
import hashlib

import pytest

from autolabel.formats.names import FlatNamer, NamesTable, digest, flat_stem, read_names_table


@pytest.mark.parametrize("rel, stem", [
    ("0001.jpg", "0001"),
    ("cam1/0001.jpg", "cam1__0001"),
    ("a/b/c.tar.gz", "a__b__c.tar"),
    ("img 003.jpg", "img_003"),
    ("dir with  space/x\ty.png", "dir_with_space__x_y"),
])
def test_flat_stem(rel, stem):
    assert flat_stem(rel) == stem


def test_digest_is_the_sha1_prefix():
    assert digest("cam1/0001.jpg", 8) == hashlib.sha1(b"cam1/0001.jpg").hexdigest()[:8]
    assert len(digest("x", 12)) == 12


def test_flat_namer_keeps_first_name_and_hashes_later_collisions():
    namer = FlatNamer()
    # "a b.jpg" and "a_b.jpg" flatten alike; "A_B.png" too on a case-insensitive file system
    names = [namer(p) for p in ("a b.jpg", "a_b.jpg", "A_B.png", "cam1/0001.jpg")]
    assert names == ["a_b", f"a_b-{digest('a_b.jpg')}", f"A_B-{digest('A_B.png')}", "cam1__0001"]
    assert len({n.casefold() for n in names}) == len(names)
    again = FlatNamer()
    assert [again(p) for p in ("a b.jpg", "a_b.jpg", "A_B.png", "cam1/0001.jpg")] == names  # deterministic


def test_names_table_round_trips_through_csv(tmp_path):
    table = NamesTable(tmp_path / NamesTable.FILENAME)
    table.add("cam1__0001.jpg", "cam1/0001.jpg")
    table.add("a_b,c.jpg", "a b,c.jpg")
    path = table.close()
    with open(path, encoding="utf-8", newline="") as f:
        assert list(csv.reader(f)) == [["name", "source", "source_bytes"], ["cam1__0001.jpg", "cam1/0001.jpg", ""],
                                       ["a_b,c.jpg", "a b,c.jpg", ""]]


def test_long_flat_names_are_cut_with_a_digest_and_stay_unique() -> None:
    namer = FlatNamer()
    a = "d" * 200 + "/" + "é" * 120 + ".jpg"
    b = "d" * 200 + "/" + "é" * 119 + "x.jpg"
    sa, sb = namer(a), namer(b)
    for stem in (sa, sb):
        assert len((stem + ".jpg").encode("utf-8")) <= 255 and len((stem + ".xml").encode("utf-8")) <= 255
    assert sa != sb and sa.endswith("-" + digest(a)) and sb.endswith("-" + digest(b))
    assert FlatNamer()(a) == sa  # deterministic


def test_names_table_keeps_exact_bytes_and_never_splits_a_row(tmp_path) -> None:
    table = NamesTable(tmp_path / NamesTable.FILENAME)
    sources = ["bad\udcff.jpg", "cr\rlf\n.jpg", "nel\x85.jpg", "plain,comma.jpg"]
    for i, src in enumerate(sources):
        table.add(f"n{i}.jpg", src)
    path = table.close()
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + len(sources)
    assert rows[1] == ["n0.jpg", "bad%FF.jpg", "bad%FF.jpg"] and rows[4] == ["n3.jpg", "plain,comma.jpg", ""]
    assert b"\r" not in path.read_bytes()  # a bare CR never reaches the file
    assert read_names_table(path) == {f"n{i}.jpg": src for i, src in enumerate(sources)}
