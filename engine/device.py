"""Where a dream runs: the device and the reduced precision it can use without changing the look."""

from __future__ import annotations

import logging

import torch

from engine.errors import ParamsError

__all__ = ["PRECISIONS", "autocast_dtype", "resolve_device"]

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a device; ``auto`` picks CUDA, then MPS, then CPU."""
    if isinstance(spec, torch.device):
        return spec
    text = spec.strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise ParamsError(
            f"'{spec}' is not a device; use auto, cpu, cuda, cuda:N or mps."
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ParamsError("CUDA was asked for, but this machine has no usable NVIDIA GPU.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise ParamsError(f"There is no GPU {device.index}; this machine has {count}.")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ParamsError("MPS was asked for, but this machine has no Apple GPU.")
    elif device.type != "cpu":
        raise ParamsError(f"'{spec}' is not a device; use auto, cpu, cuda, cuda:N or mps.")
    return device


def _cpu_has_bf16() -> bool:
    # AVX-512 BF16 or AMX: oneDNN runs bf16 natively; elsewhere bf16 is emulated and slow.
    mkldnn = getattr(torch.ops, "mkldnn", None)
    probe = getattr(mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:
        return False


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for the network's forward and backward, or None for plain fp32."""
    if precision not in PRECISIONS:
        raise ParamsError(f"Precision must be one of {', '.join(PRECISIONS)}, not '{precision}'.")
    if precision != "auto":
        return _DTYPES[precision]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and _cpu_has_bf16():
        return torch.bfloat16
    return None
