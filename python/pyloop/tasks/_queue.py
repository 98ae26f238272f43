"""The hand-off between submitters and workers: a bounded priority queue.

One FIFO deque per priority level, and a heap of the levels in use (negated),
so a higher priority leaves first and equal priorities leave in submission
order. Most runners use one priority: then put and pop are deque operations,
with no heap work and no entry tuple per job (a single heap keyed
``(-priority, seq)`` did ~10 tuple comparisons per pop at 1,024 queued jobs).
A queued handle that is cancelled stays in its deque but stops counting
(``discard``); ``pop`` skips it. Waiting is
on plain futures of the running loop, woken one at a time, as asyncio.Queue does.
This module knows nothing of jobs beyond ``handle.queued`` (True while queued).
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from typing import Any


class JobQueue:
    def __init__(self, maxsize: int | None) -> None:
        self._levels: dict[int, deque[Any]] = {}
        self._order: list[int] = []  # heap of -priority, one entry per level in _levels
        self._live = 0  # entries not discarded: what counts against maxsize
        self._maxsize = maxsize
        self._getters: deque[asyncio.Future[None]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self.closed = False

    def __len__(self) -> int:
        return self._live

    def full(self) -> bool:
        return self._maxsize is not None and self._live >= self._maxsize

    def put(self, handle: Any, priority: int) -> None:
        level = self._levels.get(priority)
        if level is None:
            level = self._levels[priority] = deque()
            heapq.heappush(self._order, -priority)
        level.append(handle)
        self._live += 1
        if self._getters:
            _wake_one(self._getters)

    def pop(self) -> Any:
        """The next live handle, or None when there is none."""
        order = self._order
        levels = self._levels
        while order:
            level = levels[-order[0]]
            while level:
                handle = level.popleft()
                if handle.queued:
                    handle.queued = False
                    self._live -= 1
                    if self._putters:
                        _wake_one(self._putters)
                    return handle
            del levels[-heapq.heappop(order)]
        return None

    def discard(self, handle: Any) -> None:
        """A queued handle leaves the queue where it stands (it was cancelled)."""
        handle.queued = False
        self._live -= 1
        if self._putters:
            _wake_one(self._putters)
        if not self._live:
            # Only discarded entries are left: drop them now.
            self._levels.clear()
            self._order.clear()

    def drain(self) -> list[Any]:
        """Remove and return every live handle, in queue order."""
        out = []
        while (handle := self.pop()) is not None:
            out.append(handle)
        return out

    def close(self) -> None:
        """No more puts; wake everyone who waits so they can see it."""
        self.closed = True
        for waiters in (self._getters, self._putters):
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)

    async def wait_item(self, loop: asyncio.AbstractEventLoop) -> None:
        """Return once an item may be there or the queue is closed (check again)."""
        await _wait(loop, self._getters)

    async def wait_room(self, loop: asyncio.AbstractEventLoop) -> None:
        """Return once room may be there or the queue is closed (check again)."""
        await _wait(loop, self._putters)


def _wake_one(waiters: deque[asyncio.Future[None]]) -> None:
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)
            return


async def _wait(loop: asyncio.AbstractEventLoop, waiters: deque[asyncio.Future[None]]) -> None:
    waiter = loop.create_future()
    waiters.append(waiter)
    try:
        await waiter
    except asyncio.CancelledError:
        if waiter.done() and not waiter.cancelled():
            # We were woken, then cancelled before using the wake-up: pass it on.
            _wake_one(waiters)
        else:
            try:
                waiters.remove(waiter)
            except ValueError:
                pass
        raise
