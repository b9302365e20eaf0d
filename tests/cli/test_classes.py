"""`autolabel classes search` and `autolabel classes show`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from autolabel.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()


def test_classes_is_listed(runner):
    res = runner.invoke(main, ["--help"])
    assert res.exit_code == 0 and "classes" in res.output


def test_search_json_lists_senses_with_coverage(runner):
    res = runner.invoke(main, ["classes", "search", "cat", "--model", "lite", "--json", "--limit", "1000"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows[0]["id"] == "n02121620" and rows[0]["sense"] == "cat.n.01" and rows[0]["covers"] == 7
    by_id = {r["id"]: r for r in rows}
    assert by_id["n02127808"]["covers"] == 6 and "big cat" in by_id["n02127808"]["names"]
    assert by_id["n10153414"]["covers"] == 0  # "guy": a sense with no ImageNet-1k class below it
    assert all(set(r) == {"id", "sense", "depth", "covers", "names", "definition"} for r in rows)
    # depth = fewest edges to the root: tabby's only parent is domestic cat, which is also a
    # "domestic animal" and so nearer the root than "cat" is
    assert by_id["n02123045"]["depth"] == by_id["n02121808"]["depth"] + 1
    assert by_id["n02121808"]["depth"] < by_id["n02121620"]["depth"]


def test_search_text_counts_depend_on_the_model(runner):
    one = runner.invoke(main, ["classes", "search", "n03147509", "--model", "imagenet-1k"])
    full = runner.invoke(main, ["classes", "search", "n03147509", "--model", "convnext_base.fb_in22k"])
    assert one.exit_code == full.exit_code == 0
    line1 = [ln for ln in one.stdout.splitlines() if ln.startswith("n03147509")][0]
    line22 = [ln for ln in full.stdout.splitlines() if ln.startswith("n03147509")][0]
    assert "cup.n.01" in line1 and "covers     0" in line1
    assert "covers     0" not in line22 and "imagenet-22k (21841 classes)" in full.stdout


def test_search_covering_and_limit(runner):
    res = runner.invoke(main, ["classes", "search", "cup", "--model", "lite", "--covering", "--json"])
    rows = json.loads(res.stdout)
    assert rows and all(r["covers"] > 0 for r in rows) and "n03147509" not in [r["id"] for r in rows]
    res = runner.invoke(main, ["classes", "search", "cat", "--model", "lite", "-n", "3"])
    lines = res.stdout.splitlines()
    assert len([ln for ln in lines if ln.startswith("n")]) == 3 and "more (--limit)" in lines[-1]
    res = runner.invoke(main, ["classes", "search", "qqxqq", "--model", "lite"])
    assert res.exit_code == 0 and res.stdout.startswith("0 synset(s) match 'qqxqq'")


def test_show_vocabulary_file(runner, tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("classes:\n  cat:\n  dog: [n02084071]\n  cup: [cup, mug]\nunmapped: other\n")
    res = runner.invoke(main, ["classes", "show", str(f), "--model", "lite", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["run_classes"] == ["cat", "dog", "cup", "other"]
    covers = {c["name"]: c["covers"] for c in rep["classes"]}
    assert covers == {"cat": 7, "dog": 118, "cup": 2}
    cup = rep["classes"][2]
    assert sorted(cup["model_classes"]) == ["coffee mug", "cup"]
    assert cup["terms"][0]["sense"] == 6 and {"synset": "n03147509", "sense": 1, "covers": 0} in cup["terms"][0]["other_senses"]
    assert rep["not_covered"] == [] and rep["problems"] == []
    assert rep["unmapped_model_classes"] == 1000 - 7 - 118 - 2

    text = runner.invoke(main, ["classes", "show", str(f), "--model", "lite"])
    assert text.exit_code == 0
    assert "run class list: cat, dog, cup, other" in text.stdout
    assert "'cup' -> sense 6 n07930864" in text.stdout


def test_show_flags_classes_that_cover_nothing(runner):
    res = runner.invoke(main, ["classes", "show", "cat,catt,n03147509", "--model", "lite", "--json"])
    assert res.exit_code == 1
    rep = json.loads(res.stdout)
    assert rep["not_covered"] == ["catt", "n03147509"]
    assert any("nearest: cat" in p for p in rep["problems"])
    # with the 22k model the container sense of "cup" is fine
    res = runner.invoke(main, ["classes", "show", "n03147509", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["classes"][0]["covers"] > 0


def test_show_errors_are_one_line(runner, tmp_path):
    res = runner.invoke(main, ["classes", "show", "cat", "--model", "no_such_model_xyz"])
    assert res.exit_code == 1 and "error: --model 'no_such_model_xyz'" in res.stderr
    res = runner.invoke(main, ["classes", "show", str(tmp_path / "missing.yaml"), "--model", "lite"])
    assert res.exit_code == 1 and "file not found" in res.stderr
