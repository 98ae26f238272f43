"""Bytes held by this process, measured the most honest way the platform allows.

1. Linux: resident set size from ``/proc/self/statm``. It counts what native
   code (Rust, libuv) allocates outside Python's allocator, which tracemalloc
   cannot see.
2. Other POSIX: peak RSS from ``getrusage``. Good enough for a measurement that
   only grows between the two readings, as the memory benchmark's does.
3. Elsewhere: ``tracemalloc``, Python allocations only; it undercounts native
   loops and says so in ``METHOD``.
"""

from __future__ import annotations

import os
import sys
import tracemalloc

_STATM = "/proc/self/statm"

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

if os.path.exists(_STATM):
    METHOD = "rss (/proc/self/statm)"
elif resource is not None:
    METHOD = "peak rss (getrusage)"
else:
    METHOD = "tracemalloc (Python allocations only)"


def _rss_now() -> int:
    with open(_STATM) as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # macOS reports bytes, the other BSDs and Linux kibibytes.
    return peak if sys.platform == "darwin" else peak * 1024


class Probe:
    """Remembers a baseline; ``grown()`` is the bytes added since."""

    def __init__(self) -> None:
        if METHOD.startswith("tracemalloc") and not tracemalloc.is_tracing():
            tracemalloc.start()
        self._baseline = self._read()

    def _read(self) -> int:
        if METHOD.startswith("rss"):
            return _rss_now()
        if METHOD.startswith("peak"):
            return _peak_rss()
        return tracemalloc.get_traced_memory()[0]

    def grown(self) -> int:
        return self._read() - self._baseline
