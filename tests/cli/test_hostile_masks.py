"""Hostile instance masks (issue 26): ground-truth segmentations from another tool and hand-edited
masks in ``predictions.jsonl``. Each ends in exit code 1 and one line naming the file and the
annotation (or line and detection), in bounded time and memory: coordinates, sizes and counts
are checked before pycocotools sees them (before, pycocotools segfaulted on a polygon at 1e9,
grew past 23 GB on ``inf``, read uninitialised memory on short counts and spun forever on
counts that did not cover the image). The run's ``predictions.jsonl`` never changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from pycocotools import mask as coco_mask

from autolabel import masks
from autolabel.cli import main
from autolabel.types import Detection, ImageAnnotations
from tests.runs import write_run

REPO = Path(__file__).resolve().parents[2]
W, H = 512, 512


def _one_line_error(r: Any, *expected: str) -> str:
    assert "Traceback" not in r.output, r.output[-3000:]
    assert r.exit_code == 1, r.output[-3000:]
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 500, r.output[:3000]
    for e in expected:
        assert e in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def masked_run(tmp_path: Path) -> Path:
    """A 512x512 image with one object whose mask fills its box (256..512 x 256..512)."""
    m = np.zeros((H, W), bool)
    m[256:, 256:] = True
    det = Detection("a-0", (256.0, 256.0, 512.0, 512.0), "dog", 0.9, 0.8, mask=masks.encode(m))
    return write_run(tmp_path / "run", [ImageAnnotations("a.jpg", W, H, (det,))], classes=["dog"]).run_dir


# -- ground truth from another tool ------------------------------------------------------------


def _gt(tmp: Path, segmentation: Any) -> Path:
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": W, "height": H}],
           "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [256, 256, 256, 256],
                            "iscrowd": 0, "segmentation": segmentation}],
           "categories": [{"id": 1, "name": "dog"}]}
    p = tmp / "gt.json"
    p.write_text(json.dumps(doc), encoding="utf-8")  # inf and nan as Infinity/NaN, as Python's json writes them
    return p


def _square(v: float) -> list[list[float]]:
    return [[0, 0, v, 0, v, v, 0, v]]


GT_CASES = {
    # item 1: pycocotools segfaulted (exit 139) from 4e8 up, and grew past 23 GB on inf or nan
    "polygon at 4e8": (_square(4e8), "segmentation polygon 0 has x = 4e+08, far outside the 512x512 image"),
    "polygon at 1e9": (_square(1e9), "far outside the 512x512 image (allowed: -512 to 1024)"),
    "polygon at 2e9": (_square(2e9), "far outside"),
    "polygon at 1e18": (_square(1e18), "far outside"),
    "polygon with inf": ([[0, 0, float("inf"), 0, 100, 100]], "segmentation polygon 0 has a non-finite coordinate"),
    "polygon with nan": ([[0, 0, 100, float("nan"), 100, 100]], "segmentation polygon 0 has a non-finite coordinate"),
    "polygon with a 400-digit int": ([[0, 0, 10**400, 0, 100, 100]], "segmentation polygon 0 has a non-finite coordinate"),
    "polygon of strings": ([["0", 0, 100, 0, 100, 100]], "segmentation polygon 0 must be a list of numbers"),
    "polygon zigzag 1e6 px around": ([[v for i in range(4000) for v in ((0, 0) if i % 2 else (W, H))]],
                                     "segmentation polygons are 2896309 pixels around"),
    # item 6: counts that sum short read memory they do not cover (three reads, three areas)
    "rle counts sum short": ({"size": [H, W], "counts": [1000, 150]},
                             "segmentation RLE: counts cover 1150 pixels, the 512x512 mask has 262144"),
    "compressed counts sum short": ({"size": [H, W], "counts": "0R5"}, "counts cover"),
    # item 10: negative size, negative counts, counts >= 2**32, a size far larger than the image
    "rle negative size": ({"size": [-H, W], "counts": [H * W]}, "segmentation RLE: size must be [height, width] of positive ints, got [-512, 512]"),
    "rle negative count": ({"size": [H, W], "counts": [-5, H * W + 5]}, "counts hold a run of -5 pixels"),
    "rle count 2**32": ({"size": [H, W], "counts": [2**32, 0]}, "counts hold a run of 4294967296 pixels"),
    "rle count of 400 digits": ({"size": [H, W], "counts": [10**400]}, "counts hold a run of 1e400+ pixels"),
    "rle size 100000x100000": ({"size": [100000, 100000], "counts": [10**10]},
                               "segmentation RLE: size is [100000, 100000] (h, w), the image is [512, 512]"),
    "rle counts of floats": ({"size": [H, W], "counts": [0.5, H * W]}, "uncompressed counts must be a list of whole numbers"),
    "compressed counts bad char": ({"size": [H, W], "counts": "0!"}, "a character outside the encoding: '!'"),
}


@pytest.mark.parametrize("case", sorted(GT_CASES))
def test_hostile_groundtruth_segmentation(case: str, tmp_path: Path, masked_run: Path) -> None:
    seg, expected = GT_CASES[case]
    gt = _gt(tmp_path, seg)
    r = CliRunner().invoke(main, ["evaluate", str(masked_run), "--gt", str(gt), "--iou-type", "segm", "--no-plot"])
    _one_line_error(r, f"{gt}: annotation 7: ", expected)


@pytest.mark.parametrize("polygon,expected", [(_square(1e9), "segmentation polygon 0 has x = 1e+09, far outside"),
                                              ([[0, 0, float("inf"), 0, 9, 9]], "polygon 0 has a non-finite coordinate")])
def test_a_polygon_at_1e9_or_inf_is_refused_in_bounded_memory(tmp_path: Path, masked_run: Path, polygon, expected) -> None:
    """The real process, its address space capped at 16 GiB: exit 1 and the message, not a
    segfault (139) or the OOM killer (the process grew past 23 GB on inf)."""
    gt = _gt(tmp_path, polygon)
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (16 << 30, 16 << 30)); "
            "from autolabel.cli import main; sys.argv = ['autolabel'] + sys.argv[1:]; main()")
    r = subprocess.run([sys.executable, "-c", code, "evaluate", str(masked_run), "--gt", str(gt), "--iou-type", "segm",
                        "--no-plot"], env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert expected in r.stderr + r.stdout


def test_good_segmentations_still_score(tmp_path: Path, masked_run: Path) -> None:
    """The same object as a polygon, as uncompressed RLE and as compressed RLE: AP 1."""
    runs = [256 * 512 + 256] + [256, 256] * 255 + [256]  # column-major: 256 empty columns, then 256 half-full
    for seg in ([[256, 256, 512, 256, 512, 512, 256, 512]], {"size": [H, W], "counts": runs},
                json.loads((masked_run / "predictions.jsonl").read_text())["detections"][0]["mask"]):
        r = CliRunner().invoke(main, ["evaluate", str(masked_run), "--gt", str(_gt(tmp_path, seg)), "--iou-type", "segm",
                                      "--json", "--no-plot"])
        assert r.exit_code == 0, r.output[-2000:]
        assert json.loads(r.output)["class_agnostic"]["ap50"] == 1.0


# -- hand-edited predictions.jsonl (item 3) ----------------------------------------------------


def _edit_mask(run: Path, **mask: Any) -> bytes:
    p = run / "predictions.jsonl"
    rec = json.loads(p.read_text(encoding="utf-8"))
    rec["detections"][0]["mask"].update(mask)
    p.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    return p.read_bytes()


PRED_CASES = {
    # counts that cover 150 pixels of the 512x512 image: exported verbatim, evaluate spun forever
    "counts cover 150 pixels": ({"counts": coco_mask.frPyObjects({"size": [H, W], "counts": [100, 50]}, H, W)["counts"].decode()},
                                "counts cover 150 pixels, the 512x512 mask has 262144"),
    "a bad character": ({"counts": "0!"}, "a character outside the encoding: '!'"),
    "a size that is not the image's": ({"size": [10, 15], "counts": masks.encode(np.ones((10, 15), bool))["counts"]},
                                       "mask is [10, 15] (h, w), the image is [512, 512]"),
}


@pytest.mark.parametrize("command", ["export", "evaluate"])
@pytest.mark.parametrize("case", sorted(PRED_CASES))
def test_a_hand_edited_mask_names_file_line_and_detection(case: str, command: str, tmp_path: Path, masked_run: Path) -> None:
    mask, expected = PRED_CASES[case]
    before = _edit_mask(masked_run, **mask)
    if command == "export":
        args = ["export", str(masked_run), "-f", "coco,yolo-seg,voc", "-o", str(tmp_path / "out")]
    else:
        gt = _gt(tmp_path, [[256, 256, 512, 256, 512, 512, 256, 512]])
        args = ["evaluate", str(masked_run), "--gt", str(gt), "--iou-type", "segm", "--no-plot"]
    r = CliRunner().invoke(main, args)
    _one_line_error(r, f"{masked_run / 'predictions.jsonl'}: line 1: ", "detection a-0", expected)
    assert (masked_run / "predictions.jsonl").read_bytes() == before
    if command == "export":
        assert not any((tmp_path / "out" / f).exists() for f in ("coco", "yolo-seg", "voc"))
