"""call_soon and handles: order, arguments, cancellation, contexts, checks."""

from __future__ import annotations

import asyncio
import contextvars
import sys

import pytest
from conftest import run_briefly

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def test_fifo_order_and_arguments(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[tuple[int, str]] = []
    for i in range(50):
        loop.call_soon(seen.append, (i, f"x{i}"))
    run_briefly(loop)
    assert seen == [(i, f"x{i}") for i in range(50)]


def test_callbacks_scheduled_while_running_wait_an_iteration(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        loop.call_soon(seen.append, "scheduled-by-first")

    loop.call_soon(first)
    loop.call_soon(seen.append, "second")
    loop.call_soon(loop.stop)
    loop.run_forever()
    # stop() ends the run after the iteration that was already under way.
    assert seen == ["first", "second"]
    run_briefly(loop)
    assert seen == ["first", "second", "scheduled-by-first"]


def test_cancelled_handles_are_skipped(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    handles = [loop.call_soon(seen.append, i) for i in range(6)]
    for h in handles[::2]:
        h.cancel()
    assert [h.cancelled() for h in handles] == [True, False] * 3
    run_briefly(loop)
    assert seen == [1, 3, 5]


def test_cancel_from_an_earlier_callback(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []
    later = loop.call_soon(seen.append, "later")
    loop.call_soon(later.cancel)  # runs after `later`: too late
    second = loop.call_soon(seen.append, "second")
    loop.call_soon(seen.append, "third")
    handles = [later, second]
    loop.call_soon(handles[1].cancel)
    run_briefly(loop)
    assert seen == ["later", "second", "third"]
    third = loop.call_soon(seen.append, "never")
    loop.call_soon(seen.append, "after")
    third.cancel()
    run_briefly(loop)
    assert seen[-1] == "after" and "never" not in seen


def test_callback_runs_in_a_copy_of_the_callers_context(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []

    def read_and_write(tag: str) -> None:
        seen.append(f"{tag}:{var.get()}")
        var.set(f"set-by-{tag}")

    token = var.set("a")
    loop.call_soon(read_and_write, "one")
    var.set("b")
    loop.call_soon(read_and_write, "two")
    run_briefly(loop)
    # Each callback saw the value at scheduling time; its own set() leaked nowhere.
    assert seen == ["one:a", "two:b"]
    assert var.get() == "b"
    var.reset(token)


def test_explicit_context(loop: asyncio.AbstractEventLoop) -> None:
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in-ctx")
    seen: list[str] = []
    loop.call_soon(lambda: seen.append(var.get()), context=ctx)
    loop.call_soon(lambda: var.set("changed"), context=ctx)
    run_briefly(loop)
    assert seen == ["in-ctx"]
    assert ctx[var] == "changed"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="Handle.get_context() is new in 3.12")
def test_get_context(loop: asyncio.AbstractEventLoop) -> None:
    token = var.set("captured")
    handle = loop.call_soon(lambda: None)
    var.reset(token)
    assert handle.get_context()[var] == "captured"
    ctx = contextvars.copy_context()
    assert loop.call_soon(print, context=ctx).get_context() is ctx


@pytest.mark.pyloop_only
def test_pyloop_handles_have_get_context_on_every_version() -> None:
    import pyloop

    lp = pyloop.new_event_loop()
    try:
        ctx = contextvars.copy_context()
        assert lp.call_soon(print, context=ctx).get_context() is ctx
        assert lp.call_later(1, print, context=ctx).get_context() is ctx
    finally:
        lp.close()


def test_repr(loop: asyncio.AbstractEventLoop) -> None:
    def callback(a: object) -> None:
        pass

    handle = loop.call_soon(callback, 1)
    text = repr(handle)
    assert text.startswith("<Handle test_repr.<locals>.callback(1) at ")
    assert text.endswith(f"{__file__}:{callback.__code__.co_firstlineno}>")
    handle.cancel()
    assert repr(handle) == "<Handle cancelled>"


def test_repr_in_debug_mode_names_the_creation_site(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    handle = loop.call_soon(print)
    assert f"created at {__file__}:" in repr(handle)


async def _coro() -> None:
    pass


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_debug_mode_rejects_coroutines_and_non_callables(
    loop: asyncio.AbstractEventLoop, method: str
) -> None:
    loop.set_debug(True)
    schedule = getattr(loop, method)
    with pytest.raises(TypeError, match=rf"coroutines cannot be used with {method}\(\)"):
        schedule(_coro)
    coro = _coro()
    with pytest.raises(TypeError, match=rf"coroutines cannot be used with {method}\(\)"):
        schedule(coro)
    coro.close()
    with pytest.raises(TypeError, match=rf"a callable object was expected by {method}\(\)"):
        schedule(42)


def test_non_callable_without_debug_fails_when_run(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, object]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    loop.call_soon(42)  # type: ignore[arg-type]
    run_briefly(loop)
    assert len(contexts) == 1
    assert isinstance(contexts[0]["exception"], TypeError)


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_bad_arguments_raise_type_error(loop: asyncio.AbstractEventLoop, method: str) -> None:
    schedule = getattr(loop, method)
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: 'callback'"):
        schedule()
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'delay'"):
        schedule(print, delay=1)


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_positional_and_keyword_arguments_together(
    loop: asyncio.AbstractEventLoop, method: str
) -> None:
    seen: list[tuple[object, ...]] = []
    ctx = contextvars.copy_context()
    getattr(loop, method)(lambda *a: seen.append(a), 1, "two", None, context=ctx)
    getattr(loop, method)(lambda: seen.append(()), context=None)
    run_briefly(loop)
    assert seen == [(1, "two", None), ()]
