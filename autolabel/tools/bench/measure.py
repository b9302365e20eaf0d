"""What the benchmark measures with: memory (RSS from /proc), floating-point work
(``torch.utils.flop_counter``), this machine's matmul peak, and the speed-up ceiling they imply."""

from __future__ import annotations

import platform
import resource
import time
from typing import Any, Callable

import torch


def _proc_status_mb(key: str) -> float | None:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MiB; None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def current_rss_mb() -> float:
    """Resident set size now, in MiB (Linux /proc; falls back to the peak elsewhere)."""
    v = _proc_status_mb("VmRSS")
    return peak_rss_mb() if v is None else v


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0); False if it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def vm_hwm_mb() -> float:
    """Peak RSS since the last :func:`reset_peak_rss` (VmHWM), in MiB."""
    v = _proc_status_mb("VmHWM")
    return peak_rss_mb() if v is None else v


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int = 2048, seconds: float = 1.0) -> float:
    """Achieved GFLOP/s of square ``n x n`` matmuls in ``dtype`` on ``device`` (best of runs)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    flops = 2.0 * n ** 3
    best = 0.0
    with torch.inference_mode():
        a @ b  # warm-up
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            a @ b
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = max(best, flops / (time.perf_counter() - t0) / 1e9)
    return best


def count_flops(fn: Callable[[], Any]) -> float:
    """Floating-point operations of one call of ``fn`` (torch's FLOP counter), in GFLOP."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def speedup_ceiling(baseline_seconds_per_image: float, gflop_per_image: float, peak_gflops: float) -> float:
    """The largest speed-up over a baseline any implementation of the same work could show here.

    Args:
        baseline_seconds_per_image: the baseline's measured time per image.
        gflop_per_image: the model stages' floating-point work per image (extractor plus
            classifier crops), in GFLOP.
        peak_gflops: the fastest matmul rate measured on this device, in GFLOP/s.

    Returns:
        ``baseline_seconds_per_image / (gflop_per_image / peak_gflops)``: doing all the work at
        the matmul peak, with nothing else taking time, is as fast as it gets.
    """
    return baseline_seconds_per_image * peak_gflops / gflop_per_image if gflop_per_image > 0 else float("inf")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()
