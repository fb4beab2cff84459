"""Tests for the C heap settings: freed memory kept between passes, handed back after a job.

The settings hold for a whole process, so each test runs its own Python.
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys

import pytest

from engine import memory

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's"
)

# Passes in miniature: 96 MiB of 8 MiB tensors, written, then all freed, four times over.
_PASSES = """
import json, resource
import torch
from engine.memory import keep_freed_memory, release_freed_memory

kept = keep_freed_memory()

def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20

def one_pass():
    blocks = [torch.ones(2 * 2**20) for _ in range(12)]
    del blocks

base = rss_mib()
one_pass()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    one_pass()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3
held = rss_mib() - base
release_freed_memory()
released = rss_mib() - base
print(json.dumps({"kept": kept, "faults": faults, "held": held, "released": released}))
"""


def _passes() -> dict[str, float]:
    command = [sys.executable, "-c", _PASSES]
    run = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(run.stdout)
    return result


@pytest.fixture(scope="module")
def kept() -> dict[str, float]:
    return _passes()


def test_kept_memory_spares_each_pass_its_page_faults(kept: dict[str, float]) -> None:
    """A pass writes 96 MiB (24 576 pages) that the previous pass freed; kept, they are not
    faulted in again. (glibc's default varies from run to run: here it re-faulted 8 900 to 24 600
    pages a pass, returning some or all of the memory to the kernel.)"""
    print(f"kept: {kept['faults']:.0f} page faults a pass, {kept['held']:.0f} MiB held")
    assert kept["kept"] is True
    assert kept["faults"] < 0.1 * 96 * 2**20 / resource.getpagesize()
    assert kept["held"] > 64


def test_release_hands_kept_memory_back(kept: dict[str, float]) -> None:
    print(f"resident: {kept['held']:.0f} MiB held, {kept['released']:.0f} MiB after release")
    assert kept["released"] < 32


def test_without_glibc_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.keep_freed_memory() is False
    memory.release_freed_memory()  # a no-op, not an error
