"""The photo bootstrap of ``devset --intervals`` and ``--baseline``: its metrics agree with the
report's, identical photos give a point interval and a coin-flip set the binomial one, a
comparison with itself is exactly zero, a uniform gain has a point interval, a better side is
called better and the mirror worse, and the CLI prints and validates both."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.errors import InputError
from autolabel.tools.devset.bootstrap import PhotoResult, ap50, compare, format_intervals, format_paired, intervals, photo_results
from autolabel.tools.devset.labelled import save_records
from autolabel.tools.devset.quality import measure
from autolabel.types import Detection
from tests.tools.test_devset_operating import _random_pairs, labelled_folder
from tests.tools.test_devset_quality import _case


def _on_target(pairs):
    """The same photos with every object found exactly, at score 0.99, besides the old boxes."""
    out = []
    for g, r in pairs:
        exact = tuple(Detection(id=f"{r.path}-gt{k}", box=b, label="thing", score=0.99, objectness=0.99)
                      for k, (b, ig) in enumerate(zip(g.boxes, g.ignore or (False,) * len(g.boxes))) if not ig)
        out.append((g, dataclasses.replace(r, detections=exact + tuple(r.detections))))
    return out


def test_metrics_on_the_whole_set_are_the_reports() -> None:
    """AP50 (101 recall points, pycocotools' without crowd regions), recall, precision and
    CorLoc of the full sample equal what `measure` reports; one photo with 130 boxes checks
    COCO's 100 boxes a photo."""
    pairs = _random_pairs(11)
    g, r = pairs[0]
    rng = np.random.default_rng(3)
    crowd = tuple(Detection(id=f"x{i}", box=(float(x), float(y), float(x) + 20, float(y) + 20), label="thing",
                            score=float(s), objectness=float(s))
                  for i, (x, y, s) in enumerate(zip(rng.uniform(0, 150, 130), rng.uniform(0, 150, 130), rng.uniform(0, 1, 130))))
    pairs[0] = (g, dataclasses.replace(r, detections=tuple(r.detections) + crowd))
    row = measure(pairs).row()
    assert row.ap50 is not None and row.ap50 > 0
    ref = compare(photo_results(pairs), photo_results(pairs), "same", resamples=100)
    values = {d.metric: d.value for d in ref.rows}
    assert values["AP50"] == pytest.approx(row.ap50, abs=1e-9)
    assert values["recall@0.5"] == pytest.approx(row.recall50)
    assert values["precision@0.5"] == pytest.approx(row.precision50)
    assert values["CorLoc"] == pytest.approx(row.corloc)


def test_mask_median_and_crowd_boxes_as_in_the_report() -> None:
    """The hand case: masks on one photo (IoUs 1.0 and 0.1), a box on a crowd region counted nowhere."""
    results = photo_results(_case())
    a, b = results
    assert (a.gt, len(a.hits), int(a.hits.sum()), a.corloc) == (2, 3, 2, True)
    assert (b.gt, len(b.hits), int(b.hits.sum()), b.corloc) == (1, 1, 0, False)  # the crowd box dropped
    assert sorted(a.mask_ious.round(3)) == [0.1, 1.0] and len(b.mask_ious) == 0
    row = measure(_case()).row()
    rep = compare(results, results, resamples=100)
    assert next(d for d in rep.rows if d.metric == "mask IoU (median)").value == pytest.approx(row.mask_iou_median)


def test_a_comparison_with_itself_is_exactly_zero() -> None:
    res = photo_results(_random_pairs(5))
    rep = compare(res, res, "r.jsonl", at_recall=(0.2,), resamples=200)
    assert rep.photos == 25 and rep.left_out == 0
    for d in rep.rows:
        if d.metric == "mask IoU (median)":  # no masks here
            assert (d.value, d.low, d.defined, d.verdict) == (None, None, 0, "undefined")
            continue
        assert d.difference == 0 and d.low == 0 and d.high == 0 and d.ahead == 0.5, d
        assert d.verdict == "within noise"


def _photo(path: str, gt: int, hits: list[bool]) -> PhotoResult:
    return PhotoResult(path, np.linspace(0.9, 0.1, len(hits)), np.asarray(hits, bool), gt, hits[0] if gt else None,
                       np.zeros(0))


def test_a_uniform_gain_has_a_point_interval() -> None:
    """Every photo has 4 objects and finds exactly one more of them on this side: each resample's
    recall gains exactly 1/4, precision 1/5 (5 boxes a photo)."""
    base = [_photo(f"p{k}", 4, [k % 2 == 0, False, False, False, False]) for k in range(30)]
    this = [_photo(f"p{k}", 4, [k % 2 == 0, True, False, False, False]) for k in range(30)]
    rep = compare(this, base, resamples=300)
    rows = {d.metric: d for d in rep.rows}
    for name, gain in (("recall@0.5", 0.25), ("precision@0.5", 0.2)):
        d = rows[name]
        assert (d.difference, d.low, d.high, d.ahead, d.verdict) == (pytest.approx(gain), pytest.approx(gain),
                                                                     pytest.approx(gain), 1.0, "better")
    assert rows["CorLoc"].difference == 0  # the top boxes are the same


def test_a_better_side_is_better_and_the_mirror_worse() -> None:
    pairs = _random_pairs(7)
    base, better = photo_results(pairs), photo_results(_on_target(pairs))
    up = compare(better, base, resamples=300)
    down = compare(base, better, resamples=300)
    for u, d in zip(up.rows, down.rows):
        if u.metric in ("AP50", "recall@0.5", "precision@0.5", "CorLoc"):
            assert u.verdict == "better" and d.verdict == "worse", (u, d)
            assert u.low == pytest.approx(-d.high) and u.high == pytest.approx(-d.low)
            assert u.ahead == pytest.approx(1 - d.ahead)
    assert "better" in format_paired(up) and "worse" in format_paired(down)


def test_photos_on_one_side_only_are_left_out() -> None:
    res = photo_results(_random_pairs(5))
    rep = compare(res[:20], res[5:], resamples=100)
    assert (rep.photos, rep.left_out) == (15, 10)
    assert "10 on one side only" in format_paired(rep)
    with pytest.raises(InputError, match="no photo"):
        compare(res[:5], res[5:], "b.jsonl", resamples=100)


def test_ap50_without_objects_or_boxes() -> None:
    assert ap50([_photo("p", 0, [False])]) is None
    assert ap50([PhotoResult("p", np.zeros(0), np.zeros(0, bool), 3, False, np.zeros(0))]) == 0.0


def test_devset_command_compares_with_a_baseline(tmp_path) -> None:
    pairs = _random_pairs(7)
    save_records(tmp_path / "a.jsonl", [r for _, r in pairs])
    save_records(tmp_path / "b.jsonl", [r for _, r in _on_target(pairs)])
    base = labelled_folder(tmp_path, pairs)
    res = CliRunner().invoke(main, [*base, "--records", str(tmp_path / "b.jsonl"), "--baseline", str(tmp_path / "a.jsonl"),
                                    "--at-recall", "0.5", "--resamples", "200"])
    assert res.exit_code == 0, res.output
    assert "against a.jsonl: 25 photos on both sides, 200 photo resamples" in res.output
    assert any(line.startswith("recall@0.5") and line.endswith("better") for line in res.output.splitlines())
    res = CliRunner().invoke(main, [*base, "--records", str(tmp_path / "a.jsonl"), "--baseline", str(tmp_path / "b.jsonl"),
                                    "--json", "--resamples", "100"])
    data = json.loads(res.output)
    assert data["images"] == base[base.index("--images") + 1]
    paired = data["reports"][0]["paired"]
    assert paired["baseline"] == "b.jsonl" and paired["photos"] == 25 and paired["resamples"] == 100
    assert {r["metric"]: r["verdict"] for r in paired["rows"]}["precision@0.5"] == "worse"
    assert "paired" not in json.loads(CliRunner().invoke(main, [*base, "--records", str(tmp_path / "a.jsonl"),
                                                                "--json"]).output)["reports"][0]
    res = CliRunner().invoke(main, [*base, "--records", str(tmp_path / "a.jsonl"), "--intervals", "--resamples", "100"])
    assert res.exit_code == 0, res.output
    assert "90% intervals over 100 resamples of the 25 photos" in res.output and "against" not in res.output
    res = CliRunner().invoke(main, [*base, "--records", str(tmp_path / "a.jsonl"), "--intervals", "--json"])
    rows = {r["metric"]: r for r in json.loads(res.output)["reports"][0]["intervals"]}
    assert rows["AP50"]["low"] <= rows["AP50"]["value"] <= rows["AP50"]["high"] and rows["AP50"]["defined"] == 1000


def test_baseline_options_are_checked(tmp_path) -> None:
    save_records(tmp_path / "a.jsonl", [r for _, r in _case()])
    res = CliRunner().invoke(main, ["devset", "--baseline", str(tmp_path / "a.jsonl")])
    assert res.exit_code == 2 and "--baseline" in res.output
    res = CliRunner().invoke(main, ["devset", "--intervals"])
    assert res.exit_code == 2 and "--intervals" in res.output
    base = labelled_folder(tmp_path, _case())
    res = CliRunner().invoke(main, [*base, "--discovery-only", "--baseline", str(tmp_path / "a.jsonl")])
    assert res.exit_code == 2 and "--baseline" in res.output
    res = CliRunner().invoke(main, [*base, "--records", str(tmp_path / "a.jsonl"), "--baseline", str(tmp_path / "a.jsonl"),
                                    "--resamples", "10"])
    assert res.exit_code == 2 and "--resamples" in res.output
    res = CliRunner().invoke(main, [*base, "--records", str(tmp_path / "a.jsonl"), "--baseline", str(tmp_path / "nope.jsonl")])
    assert res.exit_code == 2 and "nope.jsonl" in res.output


def test_folders_are_compared_on_their_own() -> None:
    """Only the photos of folder g/ gain: f/'s rows are exactly zero, g/'s differences are those
    of g/'s photos alone, and the whole set's rows are unchanged by the folder rows."""
    pairs = [(dataclasses.replace(g, path=g.path.replace("f/", "g/")), dataclasses.replace(r, path=r.path.replace("f/", "g/")))
             if k % 2 else (g, r) for k, (g, r) in enumerate(_random_pairs(7))]
    better = [p if p[0].path.startswith("f/") else q for p, q in zip(pairs, _on_target(pairs))]
    base, this = photo_results(pairs), photo_results(better)
    rep = compare(this, base, resamples=200)
    assert set(rep.folders) == {"f", "g"} and rep.folders["f"][0] + rep.folders["g"][0] == 25
    for r in rep.folders["f"][1]:
        assert (r.difference, r.low, r.high) == (0, 0, 0)
    alone = compare([p for p in this if p.path.startswith("g/")], [p for p in base if p.path.startswith("g/")],
                    resamples=200)
    assert not alone.folders  # one folder: no folder rows
    assert [r.difference for r in rep.folders["g"][1]] == [r.difference for r in alone.rows[:4]]
    assert [r.metric for r in rep.folders["g"][1]] == ["AP50", "recall@0.5", "precision@0.5", "CorLoc"]
    assert rep.rows == compare(this, base, resamples=200).rows  # deterministic
    text = format_paired(rep)
    assert "f (13 photos)" in text and "g (12 photos)" in text and "  CorLoc" in text
    assert set(rep.to_dict()["folders"]) == {"f", "g"}
    few = compare(this[:14], base[:14], resamples=100)  # g/ has 7 photos, f/ 7
    assert set(few.folders) == {"f", "g"}
    few = compare(this[:8], base[:8], resamples=100)  # 4 photos each: too few to compare on their own
    assert few.folders == {}


def test_intervals_of_identical_photos_are_points() -> None:
    photos = [_photo(f"p{k}", 4, [True, False, True]) for k in range(20)]
    rows = {r.metric: r for r in intervals(photos, at_recall=(0.25,), resamples=200)}
    for name, value in (("recall@0.5", 0.5), ("precision@0.5", 2 / 3), ("CorLoc", 1.0), ("precision at recall 0.25", 1.0)):
        r = rows[name]
        assert (r.value, r.low, r.high, r.defined) == (pytest.approx(value), pytest.approx(value), pytest.approx(value), 200)
    assert rows["mask IoU (median)"].value is None and rows["mask IoU (median)"].defined == 0


def test_intervals_of_coin_flips_are_the_binomial_ones() -> None:
    """40 photos of one object each, found on half of them: recall 0.5, and its resampled 90 %
    interval is about 0.5 +- 1.645 * sqrt(0.25 / 40) = 0.37 to 0.63."""
    photos = [_photo(f"p{k}", 1, [k % 2 == 0]) for k in range(40)]
    r = next(r for r in intervals(photos, resamples=2000) if r.metric == "recall@0.5")
    assert r.value == 0.5
    assert r.low == pytest.approx(0.37, abs=0.04) and r.high == pytest.approx(0.63, abs=0.04)
    text = format_intervals(intervals(photos, resamples=100), 40, 100)
    assert "90% intervals over 100 resamples of the 40 photos" in text and "recall@0.5" in text
    with pytest.raises(InputError, match="no photo"):
        intervals([])


def test_the_report_and_the_bootstrap_share_one_matching(tmp_path, monkeypatch) -> None:
    """`measure(prepared=...)` reports what it reports from the pairs, `results_of` gives what
    `photo_results` gives, and `devset --records B --baseline A --intervals` matches each set of
    records once (A for the baseline, B for the report and the bootstrap)."""
    from autolabel.tools.devset import quality
    from autolabel.tools.devset.bootstrap import results_of

    pairs = _random_pairs(5)
    images = quality.prepare(pairs)
    assert measure(pairs, at_recall=(0.3,), prepared=images).to_dict() == measure(pairs, at_recall=(0.3,)).to_dict()
    mine, ref = results_of(images), photo_results(pairs)
    assert [(p.path, p.gt, p.corloc, p.hits.tolist(), p.scores.tolist()) for p in mine] == \
        [(p.path, p.gt, p.corloc, p.hits.tolist(), p.scores.tolist()) for p in ref]

    save_records(tmp_path / "a.jsonl", [r for _, r in pairs])
    save_records(tmp_path / "b.jsonl", [r for _, r in _on_target(pairs)])
    base = labelled_folder(tmp_path, pairs)
    calls = []
    real = quality.prepare
    monkeypatch.setattr(quality, "prepare", lambda p: calls.append(len(p)) or real(p))
    res = CliRunner().invoke(main, [*base, "--records", str(tmp_path / "b.jsonl"), "--baseline", str(tmp_path / "a.jsonl"),
                                    "--intervals", "--resamples", "100"])
    assert res.exit_code == 0, res.output
    assert "against a.jsonl" in res.output and "90% intervals" in res.output
    assert calls == [len(pairs), len(pairs)]
