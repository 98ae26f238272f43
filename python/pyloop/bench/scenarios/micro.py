"""Micro benchmarks: the loop's own machinery (callbacks, timers, tasks, futures,
the thread-safe inbox, a queue) and memory per pending task.

Each runs on the current loop, times only its own work and returns operations
per second, except ``memory_per_pending_task``, which returns bytes per task.
Sizes: ``full`` is the default run, ``quick`` the ``--quick`` one.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable
from time import perf_counter

from ..memory import Probe
from .registry import register


def _noop() -> None:
    pass


def _countdown(n: int, done: asyncio.Future[None]) -> Callable[[], None]:
    """A callback that resolves ``done`` on its n-th call."""
    left = n

    def tick() -> None:
        nonlocal left
        left -= 1
        if left == 0:
            done.set_result(None)

    return tick


@register("call_soon", unit="calls/s", full=300_000, quick=100_000)
async def call_soon(n: int) -> float:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    started = perf_counter()
    for _ in range(n - 1):
        loop.call_soon(_noop)
    loop.call_soon(done.set_result, None)
    await done
    return n / (perf_counter() - started)


@register("timers_schedule_cancel", unit="timers/s", full=100_000, quick=50_000)
async def timers_schedule_cancel(n: int) -> float:
    loop = asyncio.get_running_loop()
    started = perf_counter()
    handles = [loop.call_later(3600.0, _noop) for _ in range(n)]
    for handle in handles:
        handle.cancel()
    await asyncio.sleep(0)  # one loop iteration, which drops the cancelled timers
    return n / (perf_counter() - started)


@register("timers_fire", unit="timers/s", full=10_000, quick=10_000)
async def timers_fire(n: int) -> float:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    tick = _countdown(n, done)
    started = perf_counter()
    for i in range(n):
        # Short timers, due over ~1 ms: the figure is the loop's work, not the wait.
        loop.call_later((i % 100) * 1e-5, tick)
    await done
    return n / (perf_counter() - started)


async def _trivial() -> None:
    pass


@register("tasks_create_await", unit="tasks/s", full=100_000, quick=30_000)
async def tasks_create_await(n: int) -> float:
    loop = asyncio.get_running_loop()
    started = perf_counter()
    tasks = [loop.create_task(_trivial()) for _ in range(n)]
    for task in tasks:
        await task
    return n / (perf_counter() - started)


CHAIN_DEPTH = 1000


async def _link(level: int) -> int:
    if level == 0:
        return 0
    return await asyncio.get_running_loop().create_task(_link(level - 1)) + 1


@register("task_chain", unit="tasks/s", full=30_000, quick=10_000)
async def task_chain(n: int) -> float:
    """``n`` tasks in chains of CHAIN_DEPTH, each task awaiting the next one's."""
    chains = max(1, n // CHAIN_DEPTH)
    started = perf_counter()
    for _ in range(chains):
        await _link(CHAIN_DEPTH)
    return chains * CHAIN_DEPTH / (perf_counter() - started)


GATHER_STEPS = 10


async def _yielder() -> None:
    for _ in range(GATHER_STEPS):
        await asyncio.sleep(0)


@register("gather_sleep0", unit="steps/s", full=10_000, quick=3_000)
async def gather_sleep0(n: int) -> float:
    """gather() of ``n`` tasks, each doing ``await asyncio.sleep(0)`` GATHER_STEPS times."""
    started = perf_counter()
    await asyncio.gather(*(_yielder() for _ in range(n)))
    return n * GATHER_STEPS / (perf_counter() - started)


@register("future_roundtrip", unit="futures/s", full=100_000, quick=30_000)
async def future_roundtrip(n: int) -> float:
    """Create a future, resolve it from a callback, await it; ``n`` times."""
    loop = asyncio.get_running_loop()
    started = perf_counter()
    for i in range(n):
        fut = loop.create_future()
        loop.call_soon(fut.set_result, i)
        await fut
    return n / (perf_counter() - started)


@register("call_soon_threadsafe", unit="calls/s", full=200_000, quick=50_000)
async def call_soon_threadsafe(n: int) -> float:
    """Another thread pushes ``n`` callbacks; timed until the last one has run."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    tick = _countdown(n, done)

    def push() -> None:
        for _ in range(n):
            loop.call_soon_threadsafe(tick)

    thread = threading.Thread(target=push)
    started = perf_counter()
    thread.start()
    await done
    elapsed = perf_counter() - started
    thread.join()
    return n / elapsed


@register("queue_producer_consumer", unit="items/s", full=100_000, quick=30_000)
async def queue_producer_consumer(n: int) -> float:
    """One producer and one consumer through an ``asyncio.Queue(maxsize=100)``."""
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=100)

    async def produce() -> None:
        for i in range(n):
            await queue.put(i)

    async def consume() -> None:
        for _ in range(n):
            await queue.get()

    started = perf_counter()
    await asyncio.gather(produce(), consume())
    return n / (perf_counter() - started)


async def _blocked(gate: asyncio.Future[None]) -> None:
    await gate


@register(
    "memory_per_pending_task",
    unit="bytes/task",
    full=100_000,
    quick=50_000,
    lower_is_better=True,
    warmup=False,
)
async def memory_per_pending_task(n: int) -> float:
    """Memory growth while ``n`` tasks are blocked on one future, per task."""
    loop = asyncio.get_running_loop()
    gate = loop.create_future()
    gc.collect()
    probe = Probe()
    tasks = [loop.create_task(_blocked(gate)) for _ in range(n)]
    await asyncio.sleep(0)  # every task has started and now waits on the gate
    gc.collect()
    per_task = probe.grown() / n
    gate.set_result(None)
    await asyncio.gather(*tasks)
    return per_task
