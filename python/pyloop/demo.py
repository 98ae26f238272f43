"""``python -m pyloop.demo``: one real asyncio program, run on stock asyncio
and on pyloop, with the same result checked and the wall time of each shown.

The program needs no network: 20,000 tasks sleeping on timers, a queue
pipeline, gather, wait_for with timeouts, and a thread-pool call."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

TASKS = 20_000
PIPELINE_ITEMS = 50_000


async def sleeper(i: int) -> int:
    await asyncio.sleep((i % 50) / 10_000)  # 0-5 ms
    return i


async def pipeline() -> int:
    queue: asyncio.Queue[int | None] = asyncio.Queue(maxsize=256)

    async def produce() -> None:
        for i in range(PIPELINE_ITEMS):
            await queue.put(i)
        await queue.put(None)

    async def consume() -> int:
        total = 0
        while (item := await queue.get()) is not None:
            total += item
        return total

    _, total = await asyncio.gather(produce(), consume())
    return total


async def timeouts() -> int:
    expired = 0
    for i in range(200):
        try:
            await asyncio.wait_for(asyncio.sleep(0.01 if i % 2 else 0), timeout=0.001)
        except TimeoutError:
            expired += 1
    return expired


def digest(data: bytes) -> str:
    return hashlib.sha256(data * 1000).hexdigest()[:16]


async def program() -> tuple[int, int, int, str]:
    loop = asyncio.get_running_loop()
    finished = await asyncio.gather(*(sleeper(i) for i in range(TASKS)))
    total, expired, hashed = await asyncio.gather(
        pipeline(), timeouts(), loop.run_in_executor(None, digest, b"pyloop")
    )
    return sum(finished), total, expired, hashed


def timed(factory: Callable[[], asyncio.AbstractEventLoop]) -> tuple[float, object]:
    with asyncio.Runner(loop_factory=factory) as runner:
        started = time.perf_counter()
        result = runner.run(program())
        return time.perf_counter() - started, result


def main() -> int:
    runs: list[tuple[str, float]] = []
    results = {}
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    try:
        import pyloop

        factories["pyloop"] = pyloop.new_event_loop
    except ImportError as exc:
        print(f"pyloop is not importable ({exc}); running asyncio only")
    for name, factory in factories.items():
        seconds, results[name] = timed(factory)
        runs.append((name, seconds))
    print(f"demo: {TASKS} sleeping tasks, a {PIPELINE_ITEMS}-item queue pipeline,")
    print("      200 wait_for timeouts and a thread-pool call\n")
    print("| loop | wall time | vs asyncio |")
    print("|---|---|---|")
    base = runs[0][1]
    for name, seconds in runs:
        print(f"| {name} | {seconds * 1000:.0f} ms | {base / seconds:.2f}x |")
    if len(set(map(repr, results.values()))) != 1:
        print(f"\nresults differ: {results}")
        return 1
    print(f"\nsame result on every loop: {results['asyncio']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
