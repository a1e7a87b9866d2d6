"""Keeps glibc's malloc from holding on to big blocks once they are freed.

Every password check runs argon2id in a worker thread, and argon2 allocates
its whole memory cost at once (19 MiB, auth/passwords.py). glibc serves a
block that big with mmap and gives it back on free, but then raises its mmap
threshold to the size just freed, so the next such block comes from the
thread's own arena; that arena's top is above the trim threshold (raised
alongside) and stays. With the default thread pool every worker kept about
one argon2 block per thread for good: 120 MB after 100 accounts logged in
(bench/memory.py). Fixing both thresholds turns glibc's adjustment off, and
big blocks go back to the system as soon as they are freed.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "return_big_blocks"]

# <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Blocks of 1 MiB and more are mapped on their own and unmapped on free; an
# arena keeps at most 4 MiB free at its top. Smaller blocks (Python's objects,
# most buffers) are served from the arenas as before.
MMAP_THRESHOLD = 1 << 20
TRIM_THRESHOLD = 4 << 20


def return_big_blocks() -> bool:
    """Sets glibc's thresholds for this process; False where there is no glibc
    mallopt that took them (another C library: nothing to do)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mapped = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trimmed = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mapped and trimmed)
