"""``python -m pyloop.demo``: one ordinary asyncio program, run on stock asyncio and
on pyloop, checked to give the same result, with the wall time of each.

The program uses only loopback: 20,000 tasks sleeping on timers with varied
short delays, a three-stage ``asyncio.Queue`` pipeline, ``gather``, ``wait_for``
both timing out and finishing in time, ``run_in_executor`` calls on the default
thread pool, and an example server: a streams line-echo server with 50 clients
talking to it at once. Its result is built only from values that do not depend on timing.
If pyloop cannot be imported the demo says why and runs asyncio alone. It also
works as a plain script (``python python/pyloop/demo.py``), which still runs when
pyloop's extension is missing and so ``python -m`` cannot import the package.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import sys
import time
from collections.abc import Callable

SLEEPERS = 20_000
PIPELINE_ITEMS = 30_000
PIPELINE_WORKERS = 4
WAITS = 200  # half time out, half finish in time
HASH_JOBS = 8
ECHO_CLIENTS = 50
ECHO_LINES = 40
ROUNDS = 3  # loops alternate, median wall time shown

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


async def sleeper(i: int) -> int:
    await asyncio.sleep((i % 50) / 10_000)  # 0 to 4.9 ms
    return i


async def pipeline() -> int:
    """numbers -> workers (square mod a prime) -> collector, through two bounded queues."""
    raw: asyncio.Queue[int | None] = asyncio.Queue(maxsize=256)
    cooked: asyncio.Queue[int | None] = asyncio.Queue(maxsize=256)

    async def produce() -> None:
        for i in range(PIPELINE_ITEMS):
            await raw.put(i)
        for _ in range(PIPELINE_WORKERS):
            await raw.put(None)

    async def work() -> None:
        while (item := await raw.get()) is not None:
            await cooked.put(item * item % 1_000_003)
        await cooked.put(None)

    async def collect() -> int:
        total, running = 0, PIPELINE_WORKERS
        while running:
            item = await cooked.get()
            if item is None:
                running -= 1
            else:
                total += item
        return total

    workers = [work() for _ in range(PIPELINE_WORKERS)]
    *_, total = await asyncio.gather(produce(), *workers, collect())
    return total


async def answer(i: int) -> int:
    await asyncio.sleep(0)
    return i


async def one_wait(i: int) -> int | None:
    """Odd i: 0.5 s of work under a 1 ms timeout (None); even i: instant work, 5 s timeout."""
    try:
        if i % 2:
            await asyncio.wait_for(asyncio.sleep(0.5), timeout=0.001)
            return i
        return await asyncio.wait_for(answer(i), timeout=5.0)
    except TimeoutError:
        return None


async def waits() -> tuple[int, int]:
    outcomes = await asyncio.gather(*(one_wait(i) for i in range(WAITS)))
    finished = [x for x in outcomes if x is not None]
    return len(outcomes) - len(finished), sum(finished)


async def echo_server() -> int:
    """The example server: echoes lines back; every client checks each echo."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def client(i: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        echoed = 0
        for j in range(ECHO_LINES):
            line = f"client {i} line {j}\n".encode()
            writer.write(line)
            if await reader.readline() != line:
                raise RuntimeError(f"client {i} got a wrong echo")
            echoed += len(line)
        writer.close()
        await writer.wait_closed()
        return echoed

    echoed = await asyncio.gather(*(client(i) for i in range(ECHO_CLIENTS)))
    server.close()
    await server.wait_closed()
    return sum(echoed)


def digest(seed: int) -> str:
    """CPU work for the thread pool (hashlib releases the GIL on large inputs)."""
    return hashlib.sha256(seed.to_bytes(4, "big") * 250_000).hexdigest()[:12]


async def program() -> tuple[object, str]:
    """The demo program. Returns (result, the class of the loop it ran on)."""
    loop = asyncio.get_running_loop()
    hashes = asyncio.gather(*(loop.run_in_executor(None, digest, i) for i in range(HASH_JOBS)))
    slept = await asyncio.gather(*(sleeper(i) for i in range(SLEEPERS)))
    total, (expired, in_time), hashed, echoed = await asyncio.gather(
        pipeline(), waits(), hashes, echo_server()
    )
    result = (sum(slept), total, expired, in_time, tuple(hashed), echoed)
    return result, f"{type(loop).__module__}.{type(loop).__qualname__}"


def run_once(factory: LoopFactory) -> tuple[float, object, str]:
    with asyncio.Runner(loop_factory=factory) as runner:
        started = time.perf_counter()
        result, loop_class = runner.run(program())
        return time.perf_counter() - started, result, loop_class


def loop_factories() -> dict[str, LoopFactory]:
    factories: dict[str, LoopFactory] = {"asyncio": asyncio.new_event_loop}
    try:
        import pyloop

        factories["pyloop"] = pyloop.new_event_loop
    except Exception as exc:  # a missing or broken extension must not stop the demo
        print(f"pyloop is not importable ({type(exc).__name__}: {exc}); running asyncio only\n")
    return factories


def main() -> int:
    factories = loop_factories()
    print(
        f"demo: {SLEEPERS:,} sleeping tasks, a {PIPELINE_ITEMS:,}-item queue pipeline "
        f"({PIPELINE_WORKERS} workers),\n      {WAITS} wait_for calls, {HASH_JOBS} thread-pool "
        f"jobs, an echo server with {ECHO_CLIENTS} stream clients;\n"
        f"      {ROUNDS} rounds, loops alternating\n"
    )
    times: dict[str, list[float]] = {name: [] for name in factories}
    results: dict[str, object] = {}
    classes: dict[str, str] = {}
    for _ in range(ROUNDS):
        for name, factory in factories.items():
            try:
                seconds, results[name], classes[name] = run_once(factory)
            except Exception as exc:
                print(f"{name} failed: {type(exc).__name__}: {exc}")
                return 1
            times[name].append(seconds)

    base = statistics.median(times["asyncio"])
    print("| loop | loop class | wall time (median) | speed vs asyncio |")
    print("|---|---|---|---|")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"| {name} | {classes[name]} | {median * 1000:.0f} ms | {base / median:.2f}x |")

    if len({repr(result) for result in results.values()}) != 1:
        print("\nresults differ:")
        for name, result in results.items():
            print(f"  {name}: {result!r}")
        return 1
    print(f"\nsame result on every loop: {results['asyncio']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
