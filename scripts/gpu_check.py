"""GPU throughput check: the benches and a whole-process annotate on this machine, one table.

Run it through ``scripts/gpu_check.sh`` (which bounds its time). Needs only what the pipeline
needs (torch, torchvision, timm, numpy, pillow, scipy, pyyaml, tqdm) and autolabel itself
(``pip install -e . --no-deps``): no click, FiFtyOne, pycocotools or scikit-image; models use
random weights, so nothing is downloaded.

Steps, each in its own process with what is left of the time budget:

1. ``bench`` for each preset (``GPU_CHECK_PRESETS``, default ``default fast lite``) on
   ``GPU_CHECK_BENCH_IMAGES`` (2000) synthetic 640x480 JPEGs with the automatic speed
   settings (``decoder: auto``, i.e. PIL), again with ``--decoder device`` (the JPEGs decoded
   in batches on the GPU: ``bench P device`` against ``bench P`` is pil against device), and
   ``default`` once more with the speed settings all off (``plain``: no padding, PIL crops,
   no overlap) for comparison: what ``autolabel bench --preset P --device cuda --synthetic N
   [--decoder device] --json`` reports;
2. ``annotate``: a whole process (models built, run written) on ``GPU_CHECK_IMAGES`` (10000)
   synthetic JPEGs with the default preset;

3. ``discovery``: every discovery method alone on synthetic scene keys, batched and per image;

then prints two tables: images/s, crops per image, stage shares, input shapes per model, share
of the bf16 matmul peak, peak GPU memory; and milliseconds per image of each discovery method;
and writes every report as JSON to ``GPU_CHECK_OUT`` (default ``gpu_check_out/``). The benches
include the first preset with ``discovery: multi``: with random weights ``votes`` (every
preset's method) finds almost no object, so only that row times the per-object stages.

``--dry-run`` does the same on the CPU with tiny counts (what the tests run); without it, no
CUDA device is an error (exit 2) before anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

STAGES = ("decode_wait", "batch_decode", "extractor", "discovery", "crop", "classify", "write")
"""Stages shown in the table (share of wall time)."""


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"gpu_check: {name} must be an integer, got {value!r}") from None


def _make_shard(args: tuple[Path, int, tuple[int, int], int]) -> None:
    from autolabel.tools.bench import synthetic_images

    folder, n, size, seed = args
    synthetic_images(folder, n, size, seed=seed)


def make_images(folder: Path, n: int, size: tuple[int, int], jobs: int) -> Path:
    """``n`` synthetic JPEGs under ``folder`` in shards of at most 500, made in parallel."""
    shards = [(folder / f"shard_{i:03d}", min(500, n - start), size, i + 1) for i, start in enumerate(range(0, n, 500))]
    if jobs > 1 and len(shards) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(_make_shard, shards))
    else:
        for s in shards:
            _make_shard(s)
    return folder


# -- steps (each runs in a child process: python gpu_check.py --step ...) ------------------
def step_bench(preset: str, images: Path, device: str, mode: str, out: Path) -> None:
    """One ``autolabel bench --preset PRESET --device DEVICE --images IMAGES --json`` (random
    weights; the matmul peaks measured on CUDA only, where they are quick). ``mode``: ``auto``
    (the preset's settings), ``device`` (with ``--decoder device``), ``multi`` (``discovery:
    multi``, which finds objects in random models' keys, so crops, classification, refinement
    and masks get work) or ``plain`` (speed settings off)."""
    from autolabel.config import get_preset
    from autolabel.tools.bench import run_bench

    cfg = get_preset(preset).replace(device=device, extractor_weights="random", classifier_weights="random")
    if mode == "plain":
        cfg = cfg.replace(pad_batches="off", device_crops="off", overlap="off", refine_processes=0)
    elif mode == "device":
        cfg = cfg.replace(decoder="device")
    elif mode == "multi":  # random keys: votes finds ~0.1 objects per image, multi several
        cfg = cfg.replace(discovery="multi")
    # throughput only: export timing is a CPU matter, and its export layer needs click, which a
    # GPU machine may lack
    report = run_bench(cfg, images=images, measure_peak=device.startswith("cuda"), export=False)
    out.write_text(json.dumps(report.to_dict(), indent=2) + "\n")


def step_discovery(device: str, out: Path) -> None:
    """Discovery alone, every method, batched and per image, on synthetic scene keys of 32
    images of 640x480 at patch 16 (30x40 patches), 384 channels (ViT-S), bf16 on CUDA: what
    ``autolabel bench --discovery-timing --synthetic 32 --device cuda`` reports
    (:func:`autolabel.tools.bench.discovery_timing.discovery_timing`). Tiny and once each on the CPU."""
    from autolabel.config import PipelineConfig
    from autolabel.tools.bench.discovery_timing import discovery_timing

    cuda = device.startswith("cuda")
    report = discovery_timing(PipelineConfig(device=device), 32 if cuda else 2, (640, 480) if cuda else (128, 96),
                              dim=384 if cuda else 16, repeats=3 if cuda else 1)
    out.write_text(json.dumps(report.to_dict(), indent=2) + "\n")


def discovery_rows(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"method": r["method"], "batched ms/image": f"{r['batched_ms']:.2f}",
             "per-image ms/image": f"{r['per_image_ms']:.2f}", "same regions": f"{r['same_images']}/{r['images']}",
             "regions/image": f"{r['regions_per_image']:.1f}"} for r in rows]


def step_annotate(images: Path, run_dir: Path, device: str, preset: str, out: Path) -> None:
    """One whole ``autolabel annotate IMAGES -o RUN --preset PRESET --device DEVICE`` (random
    weights), through the library: the check needs no click."""
    from autolabel.config import get_preset
    from autolabel.engines.local import annotate

    t0 = time.perf_counter()
    cfg = get_preset(preset).replace(device=device, extractor_weights="random", classifier_weights="random")
    summary = annotate(cfg, images, run_dir)
    wall = time.perf_counter() - t0  # the whole process but interpreter start and imports
    out.write_text(json.dumps({"processed": summary.processed, "failed": summary.failed, "boxes": summary.boxes,
                               "run_seconds": summary.seconds, "wall_seconds": wall}, indent=2) + "\n")


def _run_step(argv: list[str], deadline: float, label: str) -> tuple[bool, float, float]:
    """Run ``gpu_check.py --step ...`` until ``deadline``; (ok, wall s, child CPU s)."""
    left = deadline - time.monotonic()
    if left < 5:
        print(f"gpu_check: no time left for {label}", file=sys.stderr)
        return False, 0.0, 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, __file__, "--step", *argv], timeout=left)
        ok = proc.returncode == 0
        if not ok:
            print(f"gpu_check: {label} failed (exit {proc.returncode})", file=sys.stderr)
    except subprocess.TimeoutExpired:
        print(f"gpu_check: {label} ran out of time", file=sys.stderr)
        ok = False
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ok, time.perf_counter() - t0, cpu


# -- the table -------------------------------------------------------------------------------
def bench_row(name: str, r: dict[str, Any]) -> dict[str, str]:
    stages = r.get("stages", {})
    shares = " ".join(f"{k[:5]}{stages[k]['share'] * 100:.0f}" for k in STAGES if k in stages)
    shapes = r.get("shapes", {})
    peak = r.get("gflops", {}).get("matmul_peak", {}).get("bf16")
    achieved = r.get("gflops", {}).get("model_stages_gflop_per_second")
    mem = r.get("gpu_memory", {}).get("peak_allocated_mb")
    return {
        "run": name,
        "images/s": f"{r['images_per_second']:.1f}",
        "crops/img": f"{r['crops_per_image']:.1f}",
        "stage shares % of wall": shares or "-",
        "shapes ex/clf": f"{shapes.get('extractor', '-')}/{shapes.get('classifier', '-')}",
        "% bf16 peak": f"{achieved / peak * 100:.1f}" if peak and achieved is not None else "-",
        "peak GPU MiB": f"{mem:.0f}" if mem is not None else "-",
    }


def format_table(rows: list[dict[str, str]]) -> str:
    cols = list(rows[0])
    width = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in cols}
    line = "  ".join(c.ljust(width[c]) for c in cols)
    out = [line, "  ".join("-" * width[c] for c in cols)]
    out += ["  ".join(r.get(c, "").ljust(width[c]) for c in cols) for r in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny counts: check the script itself.")
    ap.add_argument("--step", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.step:
        kind, rest = args.step[0], args.step[1:]
        if kind == "bench":
            preset, images, device, mode, out = rest
            step_bench(preset, Path(images), device, mode, Path(out))
        elif kind == "annotate":
            images, run_dir, device, preset, out = rest
            step_annotate(Path(images), Path(run_dir), device, preset, Path(out))
        elif kind == "discovery":
            device, out = rest
            step_discovery(device, Path(out))
        return 0

    dry = args.dry_run or os.environ.get("GPU_CHECK_DRY_RUN") == "1"
    if dry:
        device = "cpu"
    else:
        import torch

        if not torch.cuda.is_available():
            print("gpu_check: no CUDA GPU here (torch.cuda.is_available() is False); "
                  "run it on a GPU machine, or pass --dry-run to check the script on CPU", file=sys.stderr)
            return 2
        device = "cuda"
        print(f"gpu_check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {os.cpu_count()} CPU cores")

    presets = os.environ.get("GPU_CHECK_PRESETS", "lite" if dry else "default fast lite").split()
    bench_n = _env_int("GPU_CHECK_BENCH_IMAGES", 2 if dry else 2000)
    annotate_n = _env_int("GPU_CHECK_IMAGES", 3 if dry else 10000)
    w, h = (int(v) for v in os.environ.get("GPU_CHECK_SIZE", "96x64" if dry else "640x480").split("x"))
    budget = _env_int("GPU_CHECK_TIMEOUT", 1800)
    deadline = time.monotonic() + budget - 10
    out = Path(os.environ.get("GPU_CHECK_OUT", "gpu_check_out"))
    out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, (os.cpu_count() or 1))

    with tempfile.TemporaryDirectory(prefix="gpu-check-", dir=os.environ.get("GPU_CHECK_TMP")) as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        bench_images = make_images(work / "bench", bench_n, (w, h), jobs)
        annotate_images = make_images(work / "annotate", annotate_n, (w, h), jobs)
        print(f"gpu_check: {bench_n} + {annotate_n} synthetic {w}x{h} JPEGs made in {time.perf_counter() - t0:.0f} s")

        rows: list[dict[str, str]] = []
        runs = [(p, m) for p in presets for m in ("auto", "device")]
        runs += [(presets[0], "multi"), (presets[0], "plain")] if not dry or len(presets) == 1 else []
        for preset, mode in runs:
            suffix = "" if mode == "auto" else f" {mode}"
            name = f"bench {preset}{suffix}"
            target = out / f"bench_{preset}{suffix.replace(' ', '_')}.json"
            ok, _, _ = _run_step(["bench", preset, str(bench_images), device, mode, str(target)], deadline, name)
            if ok:
                rows.append(bench_row(name, json.loads(target.read_text())))
            else:
                rows.append({"run": name, "images/s": "failed"})
        target = out / "annotate.json"
        ok, wall, cpu = _run_step(["annotate", str(annotate_images), str(work / "run"), device, presets[0], str(target)],
                                  deadline, "annotate")
        name = f"annotate {presets[0]} x{annotate_n}"
        if ok:
            a = json.loads(target.read_text())
            a["process_wall_seconds"], a["cpu_seconds"] = wall, cpu
            target.write_text(json.dumps(a, indent=2) + "\n")
            rows.append({"run": name, "images/s": f"{a['processed'] / wall:.1f}",
                         "stage shares % of wall": f"whole process, CPU {cpu / wall * 100:.0f}% of one core"})
        else:
            rows.append({"run": name, "images/s": "failed"})

        target = out / "discovery.json"
        found = _run_step(["discovery", device, str(target)], deadline, "discovery")[0]
        methods = discovery_rows(json.loads(target.read_text())["methods"]) if found else []

    print()
    print(format_table([{**{c: "-" for c in rows_columns(rows)}, **r} for r in rows]))
    if methods:
        print()
        print(format_table(methods))
    else:
        print("\ngpu_check: the discovery timing failed", file=sys.stderr)
    print(f"\n(reports: {out}/*.json)")
    return 0 if found and all(r["images/s"] != "failed" for r in rows) else 1


def rows_columns(rows: list[dict[str, str]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    return cols


if __name__ == "__main__":
    sys.exit(main())
