"""run_in_executor, the default executor, async generator shutdown."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
from collections.abc import AsyncIterator

import pytest


def test_default_executor_runs_in_a_thread(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[int, bool]:
        result = await loop.run_in_executor(None, sum, [1, 2, 3])
        other = await loop.run_in_executor(None, threading.get_ident)
        return result, other != threading.get_ident()

    assert loop.run_until_complete(main()) == (6, True)


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


def test_set_default_executor(loop: asyncio.AbstractEventLoop) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="default")
    loop.set_default_executor(pool)
    name = loop.run_until_complete(
        loop.run_in_executor(None, lambda: threading.current_thread().name)
    )
    assert name.startswith("default")
    with pytest.raises(TypeError, match="executor must be ThreadPoolExecutor instance"):
        loop.set_default_executor(object())  # type: ignore[arg-type]
    loop.run_until_complete(loop.shutdown_default_executor())
    assert pool._shutdown  # type: ignore[attr-defined]


def test_shutdown_default_executor_then_use(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.run_in_executor(None, int))
    loop.run_until_complete(loop.shutdown_default_executor())
    with pytest.raises(RuntimeError, match="Executor shutdown has been called"):
        loop.run_in_executor(None, int)


def test_getaddrinfo_runs_off_the_loop(loop: asyncio.AbstractEventLoop) -> None:
    import socket

    infos = loop.run_until_complete(loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM))
    assert infos[0][4] == ("127.0.0.1", 80)


def test_shutdown_asyncgens_finalises_suspended_generators(
    loop: asyncio.AbstractEventLoop,
) -> None:
    closed: list[str] = []

    async def gen() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            closed.append("closed")

    holder: list[AsyncIterator[int]] = []

    async def start() -> int:
        g = gen()
        holder.append(g)
        return await g.__anext__()

    assert loop.run_until_complete(start()) == 1
    assert closed == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert closed == ["closed"]


def test_asyncgen_hooks_installed_only_while_running(loop: asyncio.AbstractEventLoop) -> None:
    before = sys.get_asyncgen_hooks()

    async def hooks() -> object:
        return sys.get_asyncgen_hooks().firstiter

    inside = loop.run_until_complete(hooks())
    assert inside is not None and inside != before.firstiter
    assert getattr(inside, "__self__", None) is loop
    assert sys.get_asyncgen_hooks() == before
