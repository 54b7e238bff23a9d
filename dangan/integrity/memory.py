"""Keep freed read buffers in the process heap while a full verify run reads originals.

glibc gives large buffers straight back to the kernel (mmap'd above a threshold, the heap
top trimmed when freed). A full run reads one original after another; with 512 KiB
originals each record then paid ~225 fresh page faults and the run went at half the raw
decrypt-and-hash rate (README, "Speed of the 四性 checks"). A 4 MiB mmap threshold and a
128 MiB trim threshold keep that memory for the next record. Only on glibc; a MALLOC_*
setting in the environment is the operator's choice and wins."""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 128 << 20

_kept = False


def keep_freed_buffers() -> bool:
    """Set the two thresholds once per process; True when they are in force."""
    global _kept
    if _kept:
        return True
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library already loaded into this process
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _kept = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    return _kept
