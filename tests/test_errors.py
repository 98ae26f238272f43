"""Exceptions in callbacks go to the exception handler and the loop goes on."""

from __future__ import annotations

import asyncio
import logging

import pytest
from conftest import run_briefly


def _fail() -> None:
    raise ZeroDivisionError("bad callback")


def test_exception_reaches_handler_and_loop_continues(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, object]] = []
    seen: list[str] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    handle = loop.call_soon(_fail)
    loop.call_soon(seen.append, "after")
    run_briefly(loop)
    assert seen == ["after"]
    assert len(contexts) == 1
    ctx = contexts[0]
    assert set(ctx) == {"message", "exception", "handle"}
    assert ctx["handle"] is handle
    assert isinstance(ctx["exception"], ZeroDivisionError)
    assert ctx["exception"].__traceback__ is not None  # type: ignore[union-attr]
    assert str(ctx["message"]).startswith("Exception in callback _fail() at ")


def test_get_and_set_handler(loop: asyncio.AbstractEventLoop) -> None:
    def handler(lp: object, ctx: object) -> None:
        pass

    assert loop.get_exception_handler() is None
    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None
    with pytest.raises(TypeError, match="A callable object or None is expected, got 1"):
        loop.set_exception_handler(1)  # type: ignore[arg-type]


def test_default_handler_logs(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.call_soon(_fail)
        run_briefly(loop)
    [record] = caplog.records
    assert record.getMessage().startswith("Exception in callback _fail() at ")
    assert "handle: <Handle _fail() at " in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError


def test_failing_custom_handler_falls_back_to_default(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(lp: object, ctx: object) -> None:
        raise RuntimeError("handler broke")

    loop.set_exception_handler(broken)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.call_soon(_fail)
        run_briefly(loop)
    [record] = caplog.records
    assert record.getMessage().startswith("Unhandled error in exception handler")
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_call_exception_handler_directly(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, object]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    loop.call_exception_handler({"message": "custom"})
    assert contexts == [{"message": "custom"}]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_leave_run_forever(
    loop: asyncio.AbstractEventLoop, exc_type: type[BaseException]
) -> None:
    def raise_it() -> None:
        raise exc_type()

    seen: list[str] = []
    loop.call_soon(raise_it)
    loop.call_soon(seen.append, "still queued")
    with pytest.raises(exc_type):
        loop.run_forever()
    assert not loop.is_running()
    run_briefly(loop)
    assert seen == ["still queued"]


def test_cancelled_error_in_callback_goes_to_handler(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, object]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    def cancel() -> None:
        raise asyncio.CancelledError()

    loop.call_soon(cancel)
    run_briefly(loop)
    assert isinstance(contexts[0]["exception"], asyncio.CancelledError)
