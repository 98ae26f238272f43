"""run_forever / run_until_complete / stop / close and their misuse errors."""

from __future__ import annotations

import asyncio

import pytest
from conftest import run_briefly


async def _answer() -> int:
    await asyncio.sleep(0)
    return 42


async def _boom() -> None:
    await asyncio.sleep(0)
    raise ValueError("boom")


def test_run_until_complete_coroutine(loop: asyncio.AbstractEventLoop) -> None:
    assert loop.run_until_complete(_answer()) == 42


def test_run_until_complete_future(loop: asyncio.AbstractEventLoop) -> None:
    fut = loop.create_future()
    loop.call_soon(fut.set_result, "done")
    assert loop.run_until_complete(fut) == "done"


def test_run_until_complete_raises_the_exception(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(ValueError, match="boom"):
        loop.run_until_complete(_boom())


def test_run_until_complete_rejects_non_awaitables(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(TypeError, match=r"An asyncio\.Future, a coroutine or an awaitable"):
        loop.run_until_complete(42)  # type: ignore[arg-type]


def test_stopped_before_the_future_completed(loop: asyncio.AbstractEventLoop) -> None:
    fut = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError, match=r"^Event loop stopped before Future completed\.$"):
        loop.run_until_complete(fut)


def test_closed_loop_refuses_work(loop: asyncio.AbstractEventLoop) -> None:
    loop.close()
    assert loop.is_closed()
    for call in (
        lambda: loop.call_soon(print),
        lambda: loop.call_later(1, print),
        lambda: loop.call_at(1, print),
        lambda: loop.call_soon_threadsafe(print),
        loop.run_forever,
    ):
        with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
            call()
    coro = _answer()
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.run_until_complete(coro)
    coro.close()
    loop.close()  # closing twice is fine


def test_already_running(loop: asyncio.AbstractEventLoop) -> None:
    errors: list[str] = []

    def nested() -> None:
        for call in (loop.run_forever, lambda: loop.run_until_complete(loop.create_future())):
            try:
                call()
            except RuntimeError as exc:
                errors.append(str(exc))
        loop.stop()

    loop.call_soon(nested)
    loop.run_forever()
    assert errors == ["This event loop is already running"] * 2


def test_another_loop_running_in_this_thread(loop_factory) -> None:  # type: ignore[no-untyped-def]
    outer, inner = loop_factory(), loop_factory()
    errors: list[str] = []

    def try_inner() -> None:
        try:
            inner.run_forever()
        except RuntimeError as exc:
            errors.append(str(exc))
        outer.stop()

    try:
        outer.call_soon(try_inner)
        outer.run_forever()
    finally:
        outer.close()
        inner.close()
    assert errors == ["Cannot run the event loop while another loop is running"]


def test_close_while_running(loop: asyncio.AbstractEventLoop) -> None:
    errors: list[str] = []

    def try_close() -> None:
        try:
            loop.close()
        except RuntimeError as exc:
            errors.append(str(exc))
        loop.stop()

    loop.call_soon(try_close)
    loop.run_forever()
    assert errors == ["Cannot close a running event loop"]
    assert not loop.is_closed()


def test_is_running_and_running_loop(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[object] = []

    def inside() -> None:
        seen.append(loop.is_running())
        seen.append(asyncio.get_running_loop() is loop)
        seen.append(asyncio.get_event_loop() is loop)

    assert not loop.is_running()
    loop.call_soon(inside)
    run_briefly(loop)
    assert seen == [True, True, True]
    assert not loop.is_running()
    with pytest.raises(RuntimeError, match="no running event loop"):
        asyncio.get_running_loop()


def test_stop_before_run_forever_runs_one_iteration(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    loop.stop()
    loop.call_soon(seen.append, 1)
    loop.run_forever()
    assert seen == [1]
    # The stop request was used up: the next run needs its own stop.
    loop.call_soon(seen.append, 2)
    run_briefly(loop)
    assert seen == [1, 2]


def test_repr_names_state(loop: asyncio.AbstractEventLoop) -> None:
    assert repr(loop).endswith("running=False closed=False debug=False>")
