"""Failing callbacks and the exception handler: the context dict asyncio
builds, custom and broken handlers, the default handler's log records, and the
BaseExceptions that leave the loop instead."""

from __future__ import annotations

import asyncio
import logging

import pytest
from conftest import run_briefly


def _fail() -> None:
    raise ZeroDivisionError("bad callback")


_SOURCE = f"{__file__}:{_fail.__code__.co_firstlineno}"

Contexts = list[dict[str, object]]


def _collect(loop: asyncio.AbstractEventLoop) -> Contexts:
    contexts: Contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    return contexts


def test_exception_reaches_handler_and_loop_continues(loop: asyncio.AbstractEventLoop) -> None:
    contexts = _collect(loop)
    seen: list[str] = []
    handle = loop.call_soon(_fail)
    loop.call_soon(seen.append, "after")
    run_briefly(loop)
    assert seen == ["after"]
    [ctx] = contexts
    assert set(ctx) == {"message", "exception", "handle"}
    assert ctx["handle"] is handle
    exc = ctx["exception"]
    assert isinstance(exc, ZeroDivisionError) and exc.__traceback__ is not None
    assert ctx["message"] == f"Exception in callback _fail() at {_SOURCE}"


def test_exception_in_a_timer_names_the_timer_handle(loop: asyncio.AbstractEventLoop) -> None:
    contexts = _collect(loop)
    handle = loop.call_later(-1, _fail)
    run_briefly(loop)
    [ctx] = contexts
    assert set(ctx) == {"message", "exception", "handle"}
    assert ctx["handle"] is handle
    assert ctx["message"] == f"Exception in callback _fail() at {_SOURCE}"


def test_many_failures_each_reported_in_order(loop: asyncio.AbstractEventLoop) -> None:
    contexts = _collect(loop)
    seen: list[int] = []

    def fail_with(i: int) -> None:
        raise ValueError(i)

    for i in range(5):
        loop.call_soon(fail_with, i)
        loop.call_soon(seen.append, i)
    run_briefly(loop)
    assert seen == list(range(5))
    assert [c["exception"].args for c in contexts] == [(i,) for i in range(5)]  # type: ignore[attr-defined]


def test_debug_context_adds_the_source_traceback(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    contexts = _collect(loop)
    loop.call_soon(_fail)
    run_briefly(loop)
    [ctx] = contexts
    assert set(ctx) == {"message", "exception", "handle", "source_traceback"}
    frame = ctx["source_traceback"][-1]  # type: ignore[index]
    assert (frame.filename, frame.name) == (
        __file__,
        test_debug_context_adds_the_source_traceback.__name__,
    )


def test_get_and_set_handler(loop: asyncio.AbstractEventLoop) -> None:
    def handler(lp: object, ctx: object) -> None:
        pass

    assert loop.get_exception_handler() is None
    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None
    with pytest.raises(TypeError, match=r"^A callable object or None is expected, got 1$"):
        loop.set_exception_handler(1)  # type: ignore[arg-type]
    assert loop.get_exception_handler() is None


def test_handler_receives_the_loop(loop: asyncio.AbstractEventLoop) -> None:
    received: list[object] = []
    loop.set_exception_handler(lambda lp, ctx: received.append(lp))
    loop.call_soon(_fail)
    run_briefly(loop)
    assert received == [loop]


def test_default_handler_logs(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        loop.call_soon(_fail)
        run_briefly(loop)
    [record] = caplog.records
    assert record.name == "asyncio" and record.levelno == logging.ERROR
    assert record.getMessage() == (
        f"Exception in callback _fail() at {_SOURCE}\nhandle: <Handle _fail() at {_SOURCE}>"
    )
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError


class _BadRepr:
    def __repr__(self) -> str:
        raise KeyError("no repr")


def test_default_handler_formats_extra_keys(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        loop.call_exception_handler({"message": "custom", "zeta": 42, "items": [1, 2]})
        loop.default_exception_handler({"message": "direct", "future": None})
        loop.call_exception_handler({"answer": 1})
        # The default handler itself fails: that is logged, nothing is raised.
        loop.call_exception_handler({"message": "m", "bad": _BadRepr()})
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert messages == [
        (logging.ERROR, "custom\nitems: [1, 2]\nzeta: 42"),
        (logging.ERROR, "direct\nfuture: None"),
        (logging.ERROR, "Unhandled exception in event loop\nanswer: 1"),
        (logging.ERROR, "Exception in default exception handler"),
    ]
    assert [bool(r.exc_info) for r in caplog.records] == [False, False, False, True]
    assert caplog.records[3].exc_info[0] is KeyError  # type: ignore[index]


def test_default_handler_without_message_key(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        loop.default_exception_handler({"exception": ValueError("v")})
    [record] = caplog.records
    assert record.getMessage() == "Unhandled exception in event loop"
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_call_exception_handler_passes_the_dict_through(loop: asyncio.AbstractEventLoop) -> None:
    contexts = _collect(loop)
    context = {"message": "custom", "anything": object()}
    loop.call_exception_handler(context)
    assert contexts == [context]


def test_failing_custom_handler_falls_back_to_default(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(lp: object, ctx: object) -> None:
        raise RuntimeError("handler broke")

    loop.set_exception_handler(broken)
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        loop.call_soon(_fail)
        loop.call_soon(seen.append, "after")
        run_briefly(loop)
    assert seen == ["after"]
    [record] = caplog.records
    message = record.getMessage()
    assert message.startswith("Unhandled error in exception handler\ncontext: {'message': ")
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_failing_handler_context_keys(loop: asyncio.AbstractEventLoop) -> None:
    # What the fallback receives: the new error plus the original context.
    fallback: list[dict[str, object]] = []

    def broken(lp: object, ctx: object) -> None:
        raise RuntimeError("handler broke")

    loop.set_exception_handler(broken)
    loop.default_exception_handler = fallback.append  # type: ignore[method-assign]
    loop.call_soon(_fail)
    run_briefly(loop)
    [ctx] = fallback
    assert sorted(ctx) == ["context", "exception", "message"]
    assert ctx["message"] == "Unhandled error in exception handler"
    assert isinstance(ctx["exception"], RuntimeError)
    assert isinstance(ctx["context"]["exception"], ZeroDivisionError)  # type: ignore[index]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_from_a_callback_leave_run_forever(
    loop: asyncio.AbstractEventLoop, exc_type: type[BaseException]
) -> None:
    def raise_it() -> None:
        raise exc_type()

    contexts = _collect(loop)
    seen: list[str] = []
    loop.call_soon(raise_it)
    loop.call_soon(seen.append, "still queued")
    with pytest.raises(exc_type):
        loop.run_forever()
    assert not loop.is_running()
    assert asyncio._get_running_loop() is None
    assert contexts == []
    run_briefly(loop)
    assert seen == ["still queued"]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_from_the_handler_leave_run_forever(
    loop: asyncio.AbstractEventLoop, exc_type: type[BaseException]
) -> None:
    def handler(lp: object, ctx: object) -> None:
        raise exc_type()

    loop.set_exception_handler(handler)
    seen: list[str] = []
    loop.call_soon(_fail)
    loop.call_soon(seen.append, "not yet")
    with pytest.raises(exc_type):
        loop.run_forever()
    assert seen == []
    assert not loop.is_running()


def test_cancelled_error_in_a_callback_goes_to_the_handler(
    loop: asyncio.AbstractEventLoop,
) -> None:
    contexts = _collect(loop)

    def cancel() -> None:
        raise asyncio.CancelledError()

    loop.call_soon(cancel)
    run_briefly(loop)
    [ctx] = contexts
    assert isinstance(ctx["exception"], asyncio.CancelledError)


def test_handler_can_be_replaced_while_running(loop: asyncio.AbstractEventLoop) -> None:
    first: list[object] = []
    second: list[object] = []

    def swap() -> None:
        loop.set_exception_handler(lambda lp, ctx: second.append(ctx["exception"]))

    loop.set_exception_handler(lambda lp, ctx: first.append(ctx["exception"]))
    loop.call_soon(_fail)
    loop.call_soon(swap)
    loop.call_soon(_fail)
    run_briefly(loop)
    assert (len(first), len(second)) == (1, 1)
