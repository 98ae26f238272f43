"""The hand-off between submitters and workers: a bounded priority queue.

``JobQueue`` is native (``crates/pyloop-py/src/job_queue.rs``): it runs twice
per job, and in Python it was a visible share of a trivial job's cost
(PYLOOP_NOTES.md, task runner section). A higher priority leaves first, equal
priorities leave in submission order. A queued handle that is cancelled stays
where it is but stops counting (``discard``); ``pop`` skips it. Waiting is on
plain futures of the running loop (``loop.create_future()``), woken one at a
time with ``set_result``, as asyncio.Queue does, so it works on any loop.
This module knows nothing of jobs: entries are opaque.

The waits stay here, in Python: they run only when the queue is empty or
full, and their cancellation handling reads best as a try/except.
"""

from __future__ import annotations

import asyncio

from .._pyloop import JobQueue

# Priorities are kept as 64-bit integers natively.
MIN_PRIORITY = -(2**63)
MAX_PRIORITY = 2**63 - 1


async def wait_item(queue: JobQueue, loop: asyncio.AbstractEventLoop) -> None:
    """Return once an item may be there or the queue is closed (check again)."""
    waiter = queue.item_waiter(loop)
    try:
        await waiter
    except asyncio.CancelledError:
        queue.waiter_cancelled(waiter, False)
        raise


async def wait_room(queue: JobQueue, loop: asyncio.AbstractEventLoop) -> None:
    """Return once room may be there or the queue is closed (check again)."""
    waiter = queue.room_waiter(loop)
    try:
        await waiter
    except asyncio.CancelledError:
        queue.waiter_cancelled(waiter, True)
        raise


__all__ = ["MAX_PRIORITY", "MIN_PRIORITY", "JobQueue", "wait_item", "wait_room"]
