"""call_soon_threadsafe: many producers, waking a loop with nothing to do,
its place in the FIFO, and loops run outside the main thread."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

from conftest import run_briefly

THREADS = 8
CALLS = 10_000


def test_every_call_runs_once_in_per_thread_order(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[tuple[int, int]] = []
    remaining = [THREADS * CALLS]
    barrier = threading.Barrier(THREADS)

    def record(thread: int, i: int) -> None:
        seen.append((thread, i))
        remaining[0] -= 1
        if remaining[0] == 0:
            loop.stop()

    def pusher(thread: int) -> None:
        barrier.wait()  # all producers start together, while the loop runs
        for i in range(CALLS):
            loop.call_soon_threadsafe(record, thread, i)

    threads = [threading.Thread(target=pusher, args=(t,)) for t in range(THREADS)]
    loop.call_soon(lambda: [t.start() for t in threads])
    loop.run_forever()
    for t in threads:
        t.join()
    assert len(seen) == THREADS * CALLS
    assert len(set(seen)) == THREADS * CALLS
    for thread in range(THREADS):
        assert [i for t, i in seen if t == thread] == list(range(CALLS))
    run_briefly(loop)
    assert len(seen) == THREADS * CALLS  # nothing left over, nothing run twice


def test_wakes_a_loop_with_nothing_to_do(loop: asyncio.AbstractEventLoop) -> None:
    # Nothing is ready and no timer is set: the loop can only be woken from outside.
    started = threading.Event()
    seen: list[str] = []

    def poke() -> None:
        started.wait(60)
        time.sleep(0.1)  # most likely the loop is asleep by now; either way must work
        loop.call_soon_threadsafe(seen.append, "woken")
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=poke)
    thread.start()
    loop.call_soon(started.set)
    loop.run_forever()
    thread.join()
    assert seen == ["woken"]


def test_wakes_a_loop_waiting_for_a_far_timer(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []

    async def main() -> str:
        fut = loop.create_future()

        def from_thread() -> None:
            time.sleep(0.1)
            loop.call_soon_threadsafe(fut.set_result, "woken")

        loop.call_later(3600, seen.append, "far timer")
        threading.Thread(target=from_thread).start()
        return await fut

    assert loop.run_until_complete(main()) == "woken"
    assert seen == []


def test_shares_the_fifo_with_call_soon(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []
    loop.call_soon_threadsafe(seen.append, "threadsafe-1")
    loop.call_soon(seen.append, "soon")
    loop.call_soon_threadsafe(seen.append, "threadsafe-2")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["threadsafe-1", "soon", "threadsafe-2"]


def test_returns_a_cancellable_handle(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []
    handles: list[asyncio.Handle] = []

    def from_thread() -> None:
        handles.append(loop.call_soon_threadsafe(seen.append, "cancelled"))
        handles[0].cancel()
        loop.call_soon_threadsafe(seen.append, "kept")

    thread = threading.Thread(target=from_thread)
    thread.start()
    thread.join()
    run_briefly(loop)
    assert seen == ["kept"]
    assert handles[0].cancelled()


def test_context_from_another_thread(loop: asyncio.AbstractEventLoop) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[str] = []

    def from_thread() -> None:
        var.set("thread value")
        loop.call_soon_threadsafe(lambda: seen.append(var.get()))
        ctx = contextvars.Context()
        loop.call_soon_threadsafe(lambda: seen.append(var.get()), context=ctx)

    thread = threading.Thread(target=from_thread)
    thread.start()
    thread.join()
    run_briefly(loop)
    assert seen == ["thread value", "unset"]


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


def test_loop_runs_in_a_worker_thread(loop: asyncio.AbstractEventLoop) -> None:
    # Off the main thread there is no signal wake-up fd; waking must still work.
    seen: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_forever()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    result = asyncio.run_coroutine_threadsafe(asyncio.sleep(0.01, "slept"), loop).result(60)
    loop.call_soon_threadsafe(lambda: seen.append(threading.current_thread() is thread))
    loop.call_soon_threadsafe(loop.stop)
    thread.join(60)
    assert not thread.is_alive()
    assert errors == []
    assert (result, seen) == ("slept", [True])
