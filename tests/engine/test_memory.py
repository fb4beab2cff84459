"""Tests for the C heap settings: freed memory kept between passes, handed back after a job.

The settings hold for a whole process, so each test runs its own Python.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from engine import memory

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's"
)

# Passes in miniature: 96 MiB of 8 MiB tensors, written, then all freed, four times over.
_PASSES = """
import json, resource, sys
import torch
from engine.memory import keep_freed_memory, release_freed_memory

kept = keep_freed_memory() if sys.argv[1] == "keep" else None

def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20

def one_pass():
    blocks = [torch.ones(2 * 2**20) for _ in range(12)]
    del blocks

one_pass()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    one_pass()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3
held = rss_mib()
release_freed_memory()
print(json.dumps({"kept": kept, "faults": faults, "held": held, "released": rss_mib()}))
"""


def _passes(mode: str) -> dict[str, float]:
    run = subprocess.run(
        [sys.executable, "-c", _PASSES, mode], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(run.stdout)
    return result


@pytest.fixture(scope="module")
def kept() -> dict[str, float]:
    return _passes("keep")


def test_kept_memory_spares_each_pass_its_page_faults(kept: dict[str, float]) -> None:
    default = _passes("default")
    print(f"page faults a pass: default {default['faults']:.0f}, kept {kept['faults']:.0f}")
    assert kept["kept"] is True
    # 96 MiB is some 24 000 pages; by default most are faulted in again on every pass
    assert default["faults"] > 10_000
    assert kept["faults"] < 0.05 * default["faults"]


def test_release_hands_kept_memory_back(kept: dict[str, float]) -> None:
    print(f"resident: {kept['held']:.0f} MiB held, {kept['released']:.0f} MiB after release")
    assert kept["held"] - kept["released"] > 64


def test_without_glibc_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.keep_freed_memory() is False
    memory.release_freed_memory()  # a no-op, not an error
