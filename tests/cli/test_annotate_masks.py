"""``autolabel annotate`` with masks (the default) and ``--no-masks``: what the run holds, previews, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from autolabel import masks
from autolabel.cli import main
from autolabel.store.previews import _COLOURS
from tests.cli.test_annotate import TINY


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]


def test_masks_by_default_no_masks_on_request_and_resume_checks_it(tmp_path: Path, sample_copy: Path) -> None:
    runner = CliRunner()
    run = tmp_path / "run"
    r = runner.invoke(main, ["annotate", str(sample_copy), "-o", str(run), *TINY, "--min-score", "0", "--previews"])
    assert r.exit_code == 0, r.output
    recs = _records(run)
    dets = [(rec, d) for rec in recs for d in rec["detections"]]
    assert dets and all("mask" in d for _, d in dets)
    for rec, d in dets:
        assert d["mask"]["size"] == [rec["height"], rec["width"]]
        assert list(masks.rle_bbox(d["mask"])) == d["box"]
    assert json.loads((run / "manifest.json").read_text())["config"]["masks"] is True
    # the preview paints the first mask in the first box's colour, translucent
    rec, d = next((rec, d) for rec, d in dets if d["id"].endswith("-0"))
    prev = np.asarray(Image.open(run / "previews" / rec["path"]).convert("RGB")).astype(int)
    orig = np.asarray(Image.open(sample_copy / rec["path"]).convert("RGB").resize(prev.shape[1::-1])).astype(int)
    s = prev.shape[1] / rec["width"]
    m = masks.decode(d["mask"])
    ys, xs = np.nonzero(m)
    pick = [(int(y * s), int(x * s)) for y, x in zip(ys[:: max(1, len(ys) // 200)], xs[:: max(1, len(xs) // 200)])]
    towards = [np.dot(prev[y, x] - orig[y, x], np.asarray(_COLOURS[0]) - orig[y, x]) > 0 for y, x in pick]
    assert np.mean(towards) > 0.6  # most mask pixels moved towards the box's colour

    r = runner.invoke(main, ["annotate", str(sample_copy), "-o", str(run), *TINY, "--min-score", "0", "--no-masks"])
    assert r.exit_code == 1 and "other settings (masks: True in the run, False now" in r.output

    boxes_only = tmp_path / "boxes"
    r = runner.invoke(main, ["annotate", str(sample_copy), "-o", str(boxes_only), *TINY, "--min-score", "0", "--no-masks"])
    assert r.exit_code == 0, r.output
    assert all("mask" not in d for rec in _records(boxes_only) for d in rec["detections"])
    assert json.loads((boxes_only / "manifest.json").read_text())["config"]["masks"] is False
    # bytes per detection: the two runs build the same (seeded) random models, but their detection
    # counts need not match to the last one, so compare per detection, not whole files
    per_box = [(d / "predictions.jsonl").stat().st_size / max(1, sum(len(rec["detections"]) for rec in _records(d)))
               for d in (boxes_only, run)]
    assert per_box[0] < per_box[1]
