"""glibc's malloc set up for PyTorch on a CPU: large tensors from the heap, and freed memory kept for the next step.

PyTorch's CPU allocator keeps no cache: every activation of every step is a malloc and a free. glibc serves
blocks above its mmap threshold (32 MiB at most) with fresh pages from the kernel and hands them back on free,
so each training step or inference batch faults its activations in again, page by page. Measured on the 2-core
CPU (2026-12-07, torch 2.14.1): an isolated EfficientNet-Lite2 training step (batch 32 at 320 px) 4.2-4.3 s
against 6.0-7.0 s, 2.2 million minor page faults in 10 steps against 20.4 million; whole runs gain less (lite0
training 159 s against 180 s, lite2 518 against 550; lite0 prediction end to end 46.8 images/s against 43.7,
ResNet-50 20.9 against 16.5: docs/training.md, docs/models.md). The price: the process keeps the memory it has
freed (highest resident memory 5.2 GB against 4.5 GB for that lite0 training).
`CAMTRAP_KEEP_FREED_MEMORY=0` in the environment leaves glibc's defaults.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt parameters (glibc's malloc.h)
TRIM_THRESHOLD = 1 << 30  # give memory back to the system only when a GiB lies free at the top of the heap


def keep_freed_memory() -> bool:
    """Serve every allocation from the heap and keep what is freed; True where applied (Linux with glibc).

    Process-wide, for the allocations that follow (loader processes forked later inherit it). Numbers do not
    change: only where tensors live in memory does.
    """
    if os.environ.get("CAMTRAP_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    applied = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1  # 1: accepted
    log.debug("malloc: large blocks from the heap, freed memory kept (%s)", "applied" if applied else "refused")
    return applied
