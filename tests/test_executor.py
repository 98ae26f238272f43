"""Executors (run_in_executor, the default executor and its shutdown) and
async generators (the hooks the loop installs, their finalisation, and
shutdown_asyncgens)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import sys
import threading
from collections.abc import AsyncIterator

import pytest


def test_default_executor_runs_in_another_thread(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[int, bool, str]:
        total = await loop.run_in_executor(None, sum, [1, 2, 3])
        ident = await loop.run_in_executor(None, threading.get_ident)
        name = await loop.run_in_executor(None, lambda: threading.current_thread().name)
        return total, ident != threading.get_ident(), name

    total, elsewhere, name = loop.run_until_complete(main())
    assert (total, elsewhere) == (6, True)
    assert name.startswith("asyncio_")


def test_run_in_executor_returns_an_asyncio_future(loop: asyncio.AbstractEventLoop) -> None:
    fut = loop.run_in_executor(None, int, "7")
    assert asyncio.isfuture(fut)
    assert fut.get_loop() is loop
    assert loop.run_until_complete(fut) == 7


def test_custom_executor(loop: asyncio.AbstractEventLoop) -> None:
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine") as pool:
        name = loop.run_until_complete(
            loop.run_in_executor(pool, lambda: threading.current_thread().name)
        )
    assert name.startswith("mine")


def test_executor_exception_propagates(loop: asyncio.AbstractEventLoop) -> None:
    def fail() -> None:
        raise KeyError("in thread")

    with pytest.raises(KeyError, match="in thread"):
        loop.run_until_complete(loop.run_in_executor(None, fail))


def test_debug_mode_refuses_coroutines(loop: asyncio.AbstractEventLoop) -> None:
    async def coroutine_function() -> None:
        pass

    loop.set_debug(True)
    with pytest.raises(TypeError, match=r"^coroutines cannot be used with run_in_executor\(\)$"):
        loop.run_in_executor(None, coroutine_function)


def test_set_default_executor(loop: asyncio.AbstractEventLoop) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="default")
    loop.set_default_executor(pool)
    name = loop.run_until_complete(
        loop.run_in_executor(None, lambda: threading.current_thread().name)
    )
    assert name.startswith("default")
    loop.run_until_complete(loop.shutdown_default_executor())
    assert pool._shutdown  # type: ignore[attr-defined]


class _NotAThreadPool(concurrent.futures.Executor):
    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("never used")


@pytest.mark.parametrize(
    "executor",
    [_NotAThreadPool(), object(), None],
    ids=["executor-subclass", "object", "none"],
)
def test_set_default_executor_wants_a_thread_pool(
    loop: asyncio.AbstractEventLoop, executor: object
) -> None:
    # Since 3.9 anything but a ThreadPoolExecutor is refused (3.8 only warned).
    with pytest.raises(TypeError, match=r"^executor must be ThreadPoolExecutor instance$"):
        loop.set_default_executor(executor)  # type: ignore[arg-type]
    # The refused executor was not installed: the default one still works.
    assert loop.run_until_complete(loop.run_in_executor(None, int, "3")) == 3


def test_shutdown_default_executor_then_use(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.run_in_executor(None, int))
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.run_until_complete(loop.shutdown_default_executor())  # twice is fine
    with pytest.raises(RuntimeError, match=r"^Executor shutdown has been called$"):
        loop.run_in_executor(None, int)
    # An explicit executor is still accepted.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert loop.run_until_complete(loop.run_in_executor(pool, int, "5")) == 5


def test_shutdown_default_executor_waits_for_running_work(
    loop: asyncio.AbstractEventLoop,
) -> None:
    release = threading.Event()
    finished: list[str] = []

    def work() -> None:
        release.wait(60)
        finished.append("work")

    async def main() -> None:
        fut = loop.run_in_executor(None, work)
        loop.call_soon(release.set)
        await loop.shutdown_default_executor()
        finished.append("shutdown")
        await fut

    loop.run_until_complete(main())
    assert finished == ["work", "shutdown"]


def test_shutdown_without_a_default_executor(loop: asyncio.AbstractEventLoop) -> None:
    assert loop.run_until_complete(loop.shutdown_default_executor()) is None


def test_getaddrinfo_runs_off_the_loop(loop: asyncio.AbstractEventLoop) -> None:
    import socket

    infos = loop.run_until_complete(loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM))
    assert infos[0][4] == ("127.0.0.1", 80)


# -- async generators ---------------------------------------------------------------


def _tracked_generator(log: list[str]) -> AsyncIterator[int]:
    async def gen() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            log.append("finalised")

    return gen()


def test_shutdown_asyncgens_finalises_suspended_generators(
    loop: asyncio.AbstractEventLoop,
) -> None:
    log: list[str] = []
    holder: list[AsyncIterator[int]] = []

    async def start() -> int:
        holder.append(_tracked_generator(log))
        return await holder[0].__anext__()

    assert loop.run_until_complete(start()) == 1
    assert log == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert log == ["finalised"]
    # Closed by the shutdown: the generator is exhausted now.
    with pytest.raises(StopAsyncIteration):
        loop.run_until_complete(holder[0].__anext__())


def test_shutdown_asyncgens_reports_a_failing_aclose(
    loop: asyncio.AbstractEventLoop,
) -> None:
    contexts: list[dict[str, object]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    async def stubborn() -> AsyncIterator[int]:
        try:
            yield 1
        finally:
            raise ValueError("cannot close")

    holder: list[AsyncIterator[int]] = []

    async def start() -> None:
        holder.append(stubborn())
        await holder[0].__anext__()

    loop.run_until_complete(start())
    loop.run_until_complete(loop.shutdown_asyncgens())
    [ctx] = contexts
    assert str(ctx["message"]).startswith("an error occurred during closing of asynchronous")
    assert isinstance(ctx["exception"], ValueError)
    assert ctx["asyncgen"] is holder[0]


def test_abandoned_generator_is_finalised_by_the_loop(loop: asyncio.AbstractEventLoop) -> None:
    log: list[str] = []

    async def main() -> list[str]:
        gen = _tracked_generator(log)
        await gen.__anext__()
        del gen
        gc.collect()
        # The finaliser hook schedules aclose() as a task on the loop.
        for _ in range(3):
            await asyncio.sleep(0)
        return list(log)

    assert loop.run_until_complete(main()) == ["finalised"]


def test_asyncgen_hooks_installed_only_while_running(loop: asyncio.AbstractEventLoop) -> None:
    before = sys.get_asyncgen_hooks()

    async def hooks() -> tuple[object, object]:
        current = sys.get_asyncgen_hooks()
        return current.firstiter, current.finalizer

    firstiter, finalizer = loop.run_until_complete(hooks())
    assert firstiter is not None and finalizer is not None
    assert (firstiter, finalizer) != (before.firstiter, before.finalizer)
    assert getattr(firstiter, "__self__", None) is loop
    assert getattr(finalizer, "__self__", None) is loop
    assert sys.get_asyncgen_hooks() == before


def test_asyncgen_hooks_restored_after_an_exception(loop: asyncio.AbstractEventLoop) -> None:
    before = sys.get_asyncgen_hooks()

    def interrupt() -> None:
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert sys.get_asyncgen_hooks() == before


def test_previous_hooks_are_put_back(loop: asyncio.AbstractEventLoop) -> None:
    def firstiter(gen: object) -> None:
        pass

    def finalizer(gen: object) -> None:
        pass

    old = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)
    try:
        loop.run_until_complete(asyncio.sleep(0))
        assert sys.get_asyncgen_hooks() == (firstiter, finalizer)
    finally:
        sys.set_asyncgen_hooks(*old)
