"""The benchmarks. Each one gets a fresh loop, does a fixed amount of work on
it, and returns one figure: operations per second, or bytes per task for the
memory benchmark (lower is better). Only the work itself is timed."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    unit: str
    run: Callable[[asyncio.AbstractEventLoop, bool], float]
    higher_is_better: bool = True


def _size(quick: bool, full: int, small: int) -> int:
    return small if quick else full


def _noop() -> None:
    pass


def call_soon(loop: asyncio.AbstractEventLoop, quick: bool) -> float:
    n = _size(quick, 300_000, 50_000)
    started = time.perf_counter()
    for _ in range(n):
        loop.call_soon(_noop)
    loop.call_soon(loop.stop)
    loop.run_forever()
    return n / (time.perf_counter() - started)


def timers_schedule_cancel(loop: asyncio.AbstractEventLoop, quick: bool) -> float:
    n = _size(quick, 100_000, 30_000)
    started = time.perf_counter()
    handles = [loop.call_later(60.0, _noop) for _ in range(n)]
    for handle in handles:
        handle.cancel()
    loop.call_soon(loop.stop)
    loop.run_forever()
    return n / (time.perf_counter() - started)


def timers_fire(loop: asyncio.AbstractEventLoop, quick: bool) -> float:
    n = _size(quick, 10_000, 5_000)
    left = [n]

    def fired() -> None:
        left[0] -= 1
        if left[0] == 0:
            loop.stop()

    started = time.perf_counter()
    for i in range(n):
        loop.call_later((i % 100) * 1e-4, fired)  # spread over 0-10 ms
    loop.run_forever()
    return n / (time.perf_counter() - started)


async def _trivial() -> int:
    return 1


def tasks_create_await(loop: asyncio.AbstractEventLoop, quick: bool) -> float:
    n = _size(quick, 100_000, 20_000)

    async def main() -> None:
        tasks = [loop.create_task(_trivial()) for _ in range(n)]
        for task in tasks:
            await task

    started = time.perf_counter()
    loop.run_until_complete(main())
    return n / (time.perf_counter() - started)


def task_chain(loop: asyncio.AbstractEventLoop, quick: bool) -> float:
    depth, repeats = 500, _size(quick, 40, 10)

    async def link(level: int) -> int:
        if level == 0:
            return 0
        return await loop.create_task(link(level - 1)) + 1

    async def main() -> None:
        for _ in range(repeats):
            await link(depth)

    started = time.perf_counter()
    loop.run_until_complete(main())
    return depth * repeats / (time.perf_counter() - started)


def gather_sleep0(loop: asyncio.AbstractEventLoop, quick: bool) -> float:
    n, steps = _size(quick, 10_000, 3_000), 10

    async def worker() -> None:
        for _ in range(steps):
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(n)))

    started = time.perf_counter()
    loop.run_until_complete(main())
    return n * steps / (time.perf_counter() - started)


def future_roundtrip(loop: asyncio.AbstractEventLoop, quick: bool) -> float:
    n = _size(quick, 100_000, 20_000)

    async def main() -> None:
        for i in range(n):
            fut = loop.create_future()
            loop.call_soon(fut.set_result, i)
            await fut

    started = time.perf_counter()
    loop.run_until_complete(main())
    return n / (time.perf_counter() - started)


def call_soon_threadsafe(loop: asyncio.AbstractEventLoop, quick: bool) -> float:
    n = _size(quick, 200_000, 50_000)
    left = [n]

    def ran() -> None:
        left[0] -= 1
        if left[0] == 0:
            loop.stop()

    def push() -> None:
        for _ in range(n):
            loop.call_soon_threadsafe(ran)

    thread = threading.Thread(target=push)
    started = time.perf_counter()
    thread.start()
    loop.run_forever()
    elapsed = time.perf_counter() - started
    thread.join()
    return n / elapsed


def queue_producer_consumer(loop: asyncio.AbstractEventLoop, quick: bool) -> float:
    n = _size(quick, 100_000, 20_000)

    async def main() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=100)

        async def produce() -> None:
            for i in range(n):
                await queue.put(i)

        async def consume() -> None:
            for _ in range(n):
                await queue.get()

        await asyncio.gather(produce(), consume())

    started = time.perf_counter()
    loop.run_until_complete(main())
    return n / (time.perf_counter() - started)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_per_pending_task(loop: asyncio.AbstractEventLoop, quick: bool) -> float:
    n = _size(quick, 100_000, 30_000)

    async def waiter(fut: asyncio.Future[None]) -> None:
        await fut

    async def main() -> float:
        gate = loop.create_future()
        gc.collect()
        before = _rss_bytes()
        tasks = [loop.create_task(waiter(gate)) for _ in range(n)]
        await asyncio.sleep(0)  # every task now waits on the gate
        gc.collect()
        per_task = (_rss_bytes() - before) / n
        gate.set_result(None)
        await asyncio.gather(*tasks)
        return per_task

    return loop.run_until_complete(main())


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("call_soon", "calls/s", call_soon),
        Scenario("timers_schedule_cancel", "timers/s", timers_schedule_cancel),
        Scenario("timers_fire", "timers/s", timers_fire),
        Scenario("tasks_create_await", "tasks/s", tasks_create_await),
        Scenario("task_chain", "tasks/s", task_chain),
        Scenario("gather_sleep0", "steps/s", gather_sleep0),
        Scenario("future_roundtrip", "futures/s", future_roundtrip),
        Scenario("call_soon_threadsafe", "calls/s", call_soon_threadsafe),
        Scenario("queue_producer_consumer", "items/s", queue_producer_consumer),
        Scenario(
            "memory_per_pending_task", "bytes/task", memory_per_pending_task, higher_is_better=False
        ),
    ]
}

# Benchmarks whose feature has not landed yet: listed, never faked.
PENDING: dict[str, str] = {
    "tcp_echo_protocol (1/10/100 KiB, 1/16 clients)": "native TCP transports (issue 6)",
    "tcp_echo_streams": "native TCP transports (issue 6)",
    "tcp_echo_buffered_protocol": "native TCP transports (issue 6)",
    "sock_recv_sendall_echo": "sock_* coroutines (issue 5)",
    "unix_echo": "native Unix transports (issue 6)",
    "udp_echo": "native UDP (issue 7)",
    "aiohttp_hello_world": "native TCP transports (issue 6)",
}
