"""Devices and number formats: the one home for turning the ``device`` and ``precision``
settings into what torch runs on. A foundation: discovery, the pipeline and the model layer
all use it; it imports nothing of ours but the typed errors.
"""

from __future__ import annotations

import torch

from autolabel.errors import ModelError


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` if available else ``cpu``; otherwise ``spec`` checked for use.

    Raises:
        ModelError: not a device name, or a CUDA device this machine does not have.
    """
    if spec in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError):
        raise ModelError(f"option --device: {spec!r} is not a device (try auto, cpu, cuda or cuda:0)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"option --device: {spec!r} was asked for, but no CUDA device is available (use --device cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ModelError(f"option --device: {spec!r} does not exist; {torch.cuda.device_count()} CUDA device(s) found")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where the hardware runs it fast (CUDA with bf16, CPUs with
    AVX512-BF16 or AMX), else ``fp32``; any other value is returned as it is."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        cpu = torch.cpu
        fast = getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
        return "bf16" if fast else "fp32"
    return "fp32"
