"""call_soon_threadsafe from many threads, and waking an idle loop."""

from __future__ import annotations

import asyncio
import threading

THREADS = 8
CALLS = 10_000


def test_every_call_runs_once_in_per_thread_order(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[tuple[int, int]] = []
    remaining = [THREADS * CALLS]

    def record(thread: int, i: int) -> None:
        seen.append((thread, i))
        remaining[0] -= 1
        if remaining[0] == 0:
            loop.stop()

    def pusher(thread: int) -> None:
        for i in range(CALLS):
            loop.call_soon_threadsafe(record, thread, i)

    threads = [threading.Thread(target=pusher, args=(t,)) for t in range(THREADS)]
    loop.call_soon(lambda: [t.start() for t in threads])
    loop.run_forever()
    for t in threads:
        t.join()
    assert len(seen) == THREADS * CALLS
    for thread in range(THREADS):
        assert [i for t, i in seen if t == thread] == list(range(CALLS))


def test_wakes_a_loop_with_nothing_to_do(loop: asyncio.AbstractEventLoop) -> None:
    # The loop has no timer and no ready callback: it blocks until woken.
    started = threading.Event()
    seen: list[str] = []

    def poke() -> None:
        started.wait()
        loop.call_soon_threadsafe(seen.append, "woken")
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=poke)
    thread.start()
    loop.call_soon(started.set)
    loop.run_forever()
    thread.join()
    assert seen == ["woken"]


def test_order_with_call_soon_from_the_loop_thread(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []
    loop.call_soon_threadsafe(seen.append, "threadsafe-1")
    loop.call_soon(seen.append, "soon")
    loop.call_soon_threadsafe(seen.append, "threadsafe-2")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["threadsafe-1", "soon", "threadsafe-2"]


def test_run_coroutine_threadsafe(loop: asyncio.AbstractEventLoop) -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def main() -> list[int]:
        def in_thread() -> list[int]:
            return [
                asyncio.run_coroutine_threadsafe(double(i), loop).result(timeout=60)
                for i in range(5)
            ]

        return await loop.run_in_executor(None, in_thread)

    assert loop.run_until_complete(main()) == [0, 2, 4, 6, 8]
