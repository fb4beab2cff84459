"""The process's C heap: what a pass frees is kept for the next pass, and handed back between jobs.

glibc's malloc hands freed memory back to the kernel once more than a small, self-adjusting amount
is free. A pass allocates and frees its activations (tens of megabytes), so by default every pass
page-faults all of them in again: at 512 px that was 39 000–200 000 faults and 0.07–0.44 s of kernel
time per dream: 7–17 % of the dream's time.
"""

from __future__ import annotations

import ctypes
import functools
import logging

__all__ = ["keep_freed_memory", "release_freed_memory"]

log = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks from this size up get their own mapping, returned as soon as they are freed: whole-picture
# buffers of big pictures, not a tile's activations. glibc's own ceiling for the threshold.
MMAP_THRESHOLD = 32 * 1024 * 1024
# free memory kept at the top of the heap before malloc trims it by itself: mallopt takes an int,
# and its largest (2 GiB) is in effect never
TRIM_THRESHOLD = 2**31 - 1


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Keep freed memory in the process until `release_freed_memory`; for the whole process.

    Meant to be called once when a process starts. False where the C library is not glibc, which
    is left as it is.
    """
    libc = _glibc()
    if libc is None:
        log.info("not glibc: freed memory goes back to the system as the C library decides")
        return False
    kept = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    if not kept:
        log.warning("malloc did not take the thresholds; passes will page-fault their memory")
    return kept


def release_freed_memory() -> None:
    """Hand the memory malloc holds free back to the system: after a job, not between passes."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
