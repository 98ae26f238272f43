"""The hand-off between submitters and workers: a bounded priority queue.

Entries are ``(-priority, sequence, handle)`` in a heap, so a higher priority
leaves first and equal priorities leave in submission order (the sequence also
keeps the heap from ever comparing handles). A queued handle that is cancelled
stays in the heap but stops counting (``discard``); ``pop`` skips it. Waiting is
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
        self._heap: list[tuple[int, int, Any]] = []
        self._seq = 0
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
        self._seq += 1
        heapq.heappush(self._heap, (-priority, self._seq, handle))
        self._live += 1
        if self._getters:
            _wake_one(self._getters)

    def pop(self) -> Any:
        """The next live handle, or None when there is none."""
        heap = self._heap
        while heap:
            handle = heapq.heappop(heap)[2]
            if handle.queued:
                handle.queued = False
                self._live -= 1
                if self._putters:
                    _wake_one(self._putters)
                return handle
        return None

    def discard(self, handle: Any) -> None:
        """A queued handle leaves the queue where it stands (it was cancelled)."""
        handle.queued = False
        self._live -= 1
        if self._putters:
            _wake_one(self._putters)
        if not self._live:
            self._heap.clear()  # only discarded entries are left: drop them now

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
