"""Tests for the device: its name, the autocast precision and the CPU threads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from engine import (
    Dreamer,
    DreamParams,
    ParamsError,
    autocast_dtype,
    cpu_cores,
    resolve_device,
    use_cpu_threads,
)
from engine.device import tiles_that_fit


def _sysfs(root: Path, cores: dict[int, tuple[int, int]], cpu_max: str | None = None) -> Path:
    """A /sys with the given cpu -> (package, core) topology and an optional cgroup v2 quota."""
    for cpu, (package, core) in cores.items():
        topology = root / "devices" / "system" / "cpu" / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    cgroup = root / "fs" / "cgroup"
    cgroup.mkdir(parents=True)
    if cpu_max is not None:
        (cgroup / "cpu.max").write_text(cpu_max + "\n")
    return root


HYPERTHREADED = {0: (0, 0), 1: (0, 1), 2: (0, 0), 3: (0, 1), 4: (1, 0), 5: (1, 0)}


def test_cpu_cores_counts_hyperthread_siblings_once(tmp_path: Path) -> None:
    """Six logical CPUs on three physical cores (two packages) are three cores."""
    root = _sysfs(tmp_path, HYPERTHREADED)
    assert cpu_cores(cpus=range(6), sys_root=root) == 3


def test_cpu_cores_follows_the_affinity(tmp_path: Path) -> None:
    """Only the CPUs this process may run on count."""
    root = _sysfs(tmp_path, HYPERTHREADED)
    assert cpu_cores(cpus=[0, 2], sys_root=root) == 1


@pytest.mark.parametrize(("cpu_max", "expected"), [("max 100000", 3), ("150000 100000", 2)])
def test_cpu_cores_respects_a_container_quota(tmp_path: Path, cpu_max: str, expected: int) -> None:
    """A cgroup v2 CPU quota caps the count (a part of a CPU rounds up); "max" caps nothing."""
    root = _sysfs(tmp_path, HYPERTHREADED, cpu_max=cpu_max)
    assert cpu_cores(cpus=range(6), sys_root=root) == expected


def test_cpu_cores_reads_a_cgroup_v1_quota(tmp_path: Path) -> None:
    """A cgroup v1 quota (cfs_quota_us / cfs_period_us) caps the count too."""
    root = _sysfs(tmp_path, HYPERTHREADED)
    v1 = root / "fs" / "cgroup" / "cpu"
    v1.mkdir()
    (v1 / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_cores(cpus=range(6), sys_root=root) == 1


def test_cpu_cores_without_topology_counts_logical_cpus(tmp_path: Path) -> None:
    """Where /sys says nothing, each CPU counts as a core."""
    assert cpu_cores(cpus=range(5), sys_root=tmp_path) == 5


def test_cpu_cores_on_this_machine_is_within_its_cpus() -> None:
    """The real count is at least one and no more than the CPUs this process may use."""
    assert 1 <= cpu_cores() <= len(os.sched_getaffinity(0))


@pytest.fixture
def threads_restored() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("threads_restored")
def test_use_cpu_threads_sets_torchs_threads() -> None:
    """An explicit count is set; none means one per physical core."""
    assert use_cpu_threads(1) == 1
    assert torch.get_num_threads() == 1
    assert use_cpu_threads() == cpu_cores() == torch.get_num_threads()


def test_use_cpu_threads_refuses_a_negative_count() -> None:
    """A negative thread count is a ParamsError that says what is allowed."""
    with pytest.raises(ParamsError, match="1 or more"):
        use_cpu_threads(-2)


def test_auto_device_and_precision_on_a_cpu_machine() -> None:
    """Without a GPU, auto is the CPU, and its precision is bf16 only where the CPU has it."""
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU")
    assert resolve_device("auto") == torch.device("cpu")
    assert autocast_dtype(torch.device("cpu"), "fp32") is None
    assert autocast_dtype(torch.device("cpu"), "auto") in (None, torch.bfloat16)
    with pytest.raises(ParamsError, match="not a device"):
        resolve_device("tpu")


@pytest.mark.parametrize(
    ("free_gib", "bytes_per_pixel", "expected"),
    [(80, 600, 64), (2, 600, 6), (2, 6000, 1), (0, 600, 1)],
)
def test_tiles_that_fit_half_the_free_memory(
    free_gib: int, bytes_per_pixel: int, expected: int
) -> None:
    """As many 512 px tiles as half the free memory holds, at least one and at most 64."""
    free = free_gib * 2**30
    assert tiles_that_fit(free, tile=512, bytes_per_pixel=bytes_per_pixel) == expected


def test_a_cpu_dreamer_takes_one_tile_at_a_time_unless_told() -> None:
    """On a CPU one tile per pass (lowest memory); an explicit tile_batch is used as given."""
    params = DreamParams()
    dreamer = Dreamer(device="cpu")
    model, objective = dreamer.objective(params)
    assert dreamer.tile_batch(model, objective, params.tile_size) == 1
    told = Dreamer(device="cpu", tile_batch=3)
    assert told.tile_batch(model, objective, params.tile_size) == 3
