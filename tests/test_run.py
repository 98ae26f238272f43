"""run_forever / run_until_complete / stop / close, the running-loop registry,
and the misuse errors (asyncio's types and messages, word for word)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from conftest import LoopFactory, run_briefly


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


def test_run_until_complete_task_and_awaitable(loop: asyncio.AbstractEventLoop) -> None:
    class Awaitable:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield from asyncio.sleep(0).__await__()
            return "awaited"

    task = loop.create_task(_answer())
    assert loop.run_until_complete(task) == 42
    assert loop.run_until_complete(Awaitable()) == "awaited"


def test_exception_propagates(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(ValueError, match=r"^boom$"):
        loop.run_until_complete(_boom())
    fut = loop.create_future()
    loop.call_soon(fut.set_exception, KeyError("k"))
    with pytest.raises(KeyError):
        loop.run_until_complete(fut)


def test_cancelled_future_raises_cancelled_error(loop: asyncio.AbstractEventLoop) -> None:
    fut = loop.create_future()
    loop.call_soon(fut.cancel, "why")
    with pytest.raises(asyncio.CancelledError, match=r"^why$"):
        loop.run_until_complete(fut)


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exception_from_a_coroutine_leaves_the_loop_usable(
    loop: asyncio.AbstractEventLoop, exc_type: type[BaseException]
) -> None:
    async def main() -> None:
        await asyncio.sleep(0)
        raise exc_type

    with pytest.raises(exc_type):
        loop.run_until_complete(main())
    assert not loop.is_running()
    assert asyncio._get_running_loop() is None
    assert loop.run_until_complete(_answer()) == 42


@pytest.mark.parametrize("value", [42, None, "text", print])
def test_run_until_complete_rejects_non_awaitables(
    loop: asyncio.AbstractEventLoop, value: object
) -> None:
    with pytest.raises(
        TypeError, match=r"^An asyncio\.Future, a coroutine or an awaitable is required$"
    ):
        loop.run_until_complete(value)  # type: ignore[arg-type]


def test_future_of_another_loop_is_refused(loop: asyncio.AbstractEventLoop) -> None:
    other = asyncio.new_event_loop()
    try:
        with pytest.raises(
            ValueError,
            match=r"^The future belongs to a different loop than the one specified "
            r"as the loop argument$",
        ):
            loop.run_until_complete(other.create_future())
    finally:
        other.close()


def test_stopped_before_the_future_completed(loop: asyncio.AbstractEventLoop) -> None:
    fut = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError, match=r"^Event loop stopped before Future completed\.$"):
        loop.run_until_complete(fut)
    # The future is still pending and can be finished by a later run.
    assert not fut.done()
    loop.call_soon(fut.set_result, 1)
    assert loop.run_until_complete(fut) == 1


def test_closed_loop_refuses_work(loop: asyncio.AbstractEventLoop) -> None:
    loop.close()
    assert loop.is_closed()
    for call in (
        lambda: loop.call_soon(int),
        lambda: loop.call_later(1, int),
        lambda: loop.call_at(1, int),
        lambda: loop.call_soon_threadsafe(int),
        lambda: loop.run_in_executor(None, int),
        loop.run_forever,
    ):
        with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
            call()
    coro = _answer()
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.run_until_complete(coro)
    coro.close()
    coro = _answer()
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.create_task(coro)
    coro.close()
    loop.close()  # closing twice is allowed
    assert loop.is_closed()


def test_close_drops_pending_callbacks(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []
    loop.call_soon(seen.append, "soon")
    loop.call_later(-1, seen.append, "timer")
    loop.close()
    assert seen == []


def test_already_running(loop: asyncio.AbstractEventLoop) -> None:
    errors: list[str] = []

    def nested() -> None:
        coro = _answer()
        for call in (loop.run_forever, lambda: loop.run_until_complete(coro)):
            try:
                call()
            except RuntimeError as exc:
                errors.append(str(exc))
        coro.close()
        loop.stop()

    loop.call_soon(nested)
    loop.run_forever()
    assert errors == ["This event loop is already running"] * 2


def test_another_loop_running_in_this_thread(loop_factory: LoopFactory) -> None:
    outer, inner = loop_factory(), loop_factory()
    errors: list[str] = []

    def try_inner() -> None:
        for call in (inner.run_forever, lambda: inner.run_until_complete(inner.create_future())):
            try:
                call()
            except RuntimeError as exc:
                errors.append(str(exc))
        outer.stop()

    try:
        outer.call_soon(try_inner)
        outer.run_forever()
        assert errors == ["Cannot run the event loop while another loop is running"] * 2
        assert not inner.is_running()
        # Once the outer loop has stopped, the inner one runs normally.
        assert inner.run_until_complete(_answer()) == 42
    finally:
        outer.close()
        inner.close()


def test_a_loop_made_used_and_dropped_inside_a_callback(loop_factory: LoopFactory) -> None:
    # pyloop runs callbacks inside its Tokio runtime; another loop built,
    # watching an fd, closed and freed there must not upset either runtime.
    import gc
    import socket

    outer = loop_factory()
    seen: list[str] = []

    def build_and_drop() -> None:
        inner = loop_factory()
        a, b = socket.socketpair()
        try:
            inner.add_reader(a.fileno(), lambda: None)
            assert inner.remove_reader(a.fileno())
            inner.close()
        finally:
            a.close()
            b.close()
        del inner
        gc.collect()
        seen.append("dropped")
        outer.stop()

    try:
        outer.call_soon(build_and_drop)
        outer.run_forever()
        assert seen == ["dropped"]
        assert outer.run_until_complete(_answer()) == 42
    finally:
        outer.close()


def test_a_loop_of_the_other_kind_also_counts(loop_factory: LoopFactory) -> None:
    # The running-loop registry is asyncio's, shared by every loop type.
    mine, stock = loop_factory(), asyncio.new_event_loop()
    errors: list[str] = []

    def try_run(lp: asyncio.AbstractEventLoop, owner: asyncio.AbstractEventLoop) -> None:
        try:
            lp.run_forever()
        except RuntimeError as exc:
            errors.append(str(exc))
        owner.stop()

    try:
        mine.call_soon(try_run, stock, mine)
        mine.run_forever()
        stock.call_soon(try_run, mine, stock)
        stock.run_forever()
    finally:
        mine.close()
        stock.close()
    assert errors == ["Cannot run the event loop while another loop is running"] * 2


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


def test_state_and_the_running_loop(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[object] = []

    def inside() -> None:
        seen.append(loop.is_running())
        seen.append(asyncio.get_running_loop() is loop)
        seen.append(asyncio.get_event_loop() is loop)
        seen.append(asyncio._get_running_loop() is loop)

    async def in_coroutine() -> bool:
        return asyncio.get_running_loop() is loop

    assert (loop.is_running(), loop.is_closed()) == (False, False)
    loop.call_soon(inside)
    run_briefly(loop)
    assert seen == [True, True, True, True]
    assert loop.run_until_complete(in_coroutine())
    assert not loop.is_running()
    with pytest.raises(RuntimeError, match=r"^no running event loop$"):
        asyncio.get_running_loop()
    # Outside, get_event_loop() is the loop set as current (by the fixture).
    assert asyncio.get_event_loop() is loop


def test_running_loop_is_per_thread(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[object] = []

    def other_thread() -> None:
        seen.append(asyncio._get_running_loop())

    def inside() -> None:
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()

    loop.call_soon(inside)
    run_briefly(loop)
    assert seen == [None]


def test_stop_before_run_forever_runs_exactly_one_iteration(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        loop.call_soon(seen.append, "next-iteration")

    loop.stop()
    loop.call_soon(first)
    loop.call_later(-1, seen.append, "expired-timer")
    loop.run_forever()
    assert seen == ["first", "expired-timer"]
    # The stop request was used up: the next run needs its own stop.
    loop.call_soon(seen.append, "second-run")
    run_briefly(loop)
    assert seen == ["first", "expired-timer", "next-iteration", "second-run"]


def test_stop_twice_is_one_stop(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    loop.stop()
    loop.stop()
    loop.call_soon(seen.append, 1)
    loop.run_forever()
    loop.call_soon(seen.append, 2)
    run_briefly(loop)
    assert seen == [1, 2]


def test_stop_in_the_middle_of_an_iteration_finishes_it(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    loop.call_soon(seen.append, 1)
    loop.call_soon(loop.stop)
    loop.call_soon(seen.append, 2)
    loop.run_forever()
    assert seen == [1, 2]


def test_run_until_complete_after_run_forever(loop: asyncio.AbstractEventLoop) -> None:
    run_briefly(loop)
    assert loop.run_until_complete(_answer()) == 42
    run_briefly(loop)
    assert loop.run_until_complete(_answer()) == 42


def test_repr_names_state(loop: asyncio.AbstractEventLoop) -> None:
    inside: list[str] = []
    loop.call_soon(lambda: inside.append(repr(loop)))
    run_briefly(loop)
    assert inside[0].endswith(" running=True closed=False debug=False>")
    assert repr(loop).endswith(" running=False closed=False debug=False>")
    loop.set_debug(True)
    loop.close()
    assert repr(loop).endswith(" running=False closed=True debug=True>")
