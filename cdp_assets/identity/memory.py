"""Giving freed memory back to the operating system between the phases of a resolution.

A resolution builds and drops many large temporary frames and arrays. glibc keeps freed heap
pages mapped (and raises its mmap threshold after large frees, so later large arrays land on
the heap too): the process's resident size then only grows, and the step's peak is the sum of
its phases rather than the largest one. `release_memory` collects garbage and asks glibc to
return free pages (`malloc_trim`); at 100,000 customers one call after building the graph
nodes returns about 150 MB. Elsewhere than glibc it only collects garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc


@functools.cache
def _malloc_trim():  # noqa: ANN202 - a ctypes function or None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def release_memory() -> None:
    """Collect garbage and return free heap pages to the operating system."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
