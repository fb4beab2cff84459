"""Where a dream runs: the device and the reduced precision it can use without changing the look."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path

import torch

from engine.errors import ParamsError

__all__ = [
    "PRECISIONS",
    "autocast_dtype",
    "cpu_cores",
    "resolve_device",
    "tiles_that_fit",
    "use_cpu_threads",
]

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


def cpu_cores(*, cpus: Iterable[int] | None = None, sys_root: Path = Path("/sys")) -> int:
    """The physical cores this process may use: its CPU affinity, hyperthread siblings counted
    once, capped by a container's CPU quota (cgroup v2 or v1)."""
    if cpus is None:
        cpus = (
            os.sched_getaffinity(0)
            if hasattr(os, "sched_getaffinity")
            else range(os.cpu_count() or 1)
        )
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        topology = sys_root / "devices" / "system" / "cpu" / f"cpu{cpu}" / "topology"
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            package, core = "cpu", str(cpu)
        cores.add((package, core))
    count = max(1, len(cores))
    quota = _cpu_quota(sys_root / "fs" / "cgroup")
    return count if quota is None else max(1, min(count, math.ceil(quota)))


def _cpu_quota(cgroup: Path) -> float | None:
    # cgroup v2: "max 100000" or "<quota> <period>"; v1: cfs_quota_us is -1 when unlimited
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def use_cpu_threads(threads: int | None = None) -> int:
    """Set the process's intra-op threads for the CPU: ``threads``, or one per physical core.

    Meant to be called once when a process starts: more threads than cores only contend.
    """
    count = threads if threads else cpu_cores()
    if count < 1:
        raise ParamsError(f"CPU threads must be 1 or more, not {count}.")
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    log.info("using %d CPU thread%s", count, "" if count == 1 else "s")
    return count


def tiles_that_fit(
    free_bytes: int, *, tile: int, bytes_per_pixel: float, share: float = 0.5, most: int = 64
) -> int:
    """How many ``tile`` x ``tile`` tiles one pass can take in ``share`` of the free memory,
    from 1 (always at least one: the tile size itself is the user's choice) to ``most``."""
    fits = int(free_bytes * share // (bytes_per_pixel * tile * tile))
    return max(1, min(most, fits))
