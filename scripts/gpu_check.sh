#!/usr/bin/env bash
# GPU throughput check: benches (default, fast, lite, each with PIL and with --decoder device; plus
# default with every speed setting off)
# on 2000 synthetic 640x480 JPEGs and a whole-process annotate of 10000, then one table.
#
# On a GPU machine with torch, torchvision, timm, numpy, pillow, scipy, pyyaml and tqdm:
#     pip install -e . --no-deps      # autolabel itself; nothing else is needed or downloaded
#     scripts/gpu_check.sh
# Environment (all optional):
#     GPU_CHECK_IMAGES=10000        JPEGs for the whole-process annotate
#     GPU_CHECK_BENCH_IMAGES=2000   JPEGs per bench
#     GPU_CHECK_PRESETS="default fast lite"
#     GPU_CHECK_SIZE=640x480
#     GPU_CHECK_TIMEOUT=1800        seconds for everything (each step gets what is left)
#     GPU_CHECK_OUT=gpu_check_out   where the JSON reports go
#     GPU_CHECK_TMP=                where the synthetic images go (default: the system's temp)
#     PYTHON=python
# Without a CUDA GPU it stops with exit status 2; --dry-run checks the script on the CPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="${root}${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1
limit="${GPU_CHECK_TIMEOUT:-1800}"
exec timeout --kill-after=30 "$limit" "${PYTHON:-python}" "$root/scripts/gpu_check.py" "$@"
