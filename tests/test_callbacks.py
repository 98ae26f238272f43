"""call_soon and Handle: order, arguments, iterations, cancellation, contexts,
reprs and argument checks. Timers live in test_timers.py."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys

import pytest
from conftest import diverges_on_pyloop, run_briefly

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def test_fifo_order_and_arguments(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[tuple[object, ...]] = []

    def record(*args: object) -> None:
        seen.append(args)

    for i in range(100):
        loop.call_soon(record, *range(i % 4), f"x{i}")
    run_briefly(loop)
    assert seen == [(*range(i % 4), f"x{i}") for i in range(100)]


def test_keyword_context_and_positional_arguments_together(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[tuple[object, ...]] = []
    loop.call_soon(lambda *a: seen.append(a), 1, "two", None, context=contextvars.copy_context())
    loop.call_soon(lambda: seen.append(()), context=None)
    run_briefly(loop)
    assert seen == [(1, "two", None), ()]


def test_callbacks_scheduled_by_callbacks_wait_for_the_next_iteration(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        loop.call_soon(seen.append, "scheduled-by-first")

    loop.call_soon(first)
    loop.call_soon(seen.append, "second")
    # stop() lets the iteration under way finish; the new callback is not part of it.
    loop.call_soon(loop.stop)
    loop.call_soon(seen.append, "after-stop")
    loop.run_forever()
    assert seen == ["first", "second", "after-stop"]
    run_briefly(loop)
    assert seen == ["first", "second", "after-stop", "scheduled-by-first"]


def test_cancelled_handles_are_skipped(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    handles = [loop.call_soon(seen.append, i) for i in range(6)]
    for h in handles[::2]:
        h.cancel()
    assert [h.cancelled() for h in handles] == [True, False] * 3
    run_briefly(loop)
    assert seen == [1, 3, 5]


def test_cancel_by_an_earlier_callback_of_the_same_iteration(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []
    handles: dict[str, asyncio.Handle] = {}

    def canceller() -> None:
        seen.append("canceller")
        handles["victim"].cancel()
        handles["done"].cancel()  # already ran: no effect on what was seen

    handles["done"] = loop.call_soon(seen.append, "done")
    loop.call_soon(canceller)
    handles["victim"] = loop.call_soon(seen.append, "victim")
    loop.call_soon(seen.append, "last")
    run_briefly(loop)
    assert seen == ["done", "canceller", "last"]
    assert handles["victim"].cancelled()


def test_cancel_is_idempotent(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    handle = loop.call_soon(seen.append, 1)
    handle.cancel()
    handle.cancel()
    run_briefly(loop)
    assert seen == []
    assert handle.cancelled()


def test_a_handle_that_ran_is_not_cancelled(loop: asyncio.AbstractEventLoop) -> None:
    handle = loop.call_soon(int)
    run_briefly(loop)
    assert not handle.cancelled()
    handle.cancel()
    assert handle.cancelled()


def test_callback_runs_in_a_copy_of_the_scheduling_context(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []

    def read_then_write(tag: str) -> None:
        seen.append(f"{tag}:{var.get()}")
        var.set(f"set-by-{tag}")

    token = var.set("a")
    try:
        loop.call_soon(read_then_write, "one")
        var.set("b")
        loop.call_soon(read_then_write, "two")
        loop.call_soon(read_then_write, "three")
        run_briefly(loop)
        # Each saw the value at scheduling time; no set() leaked into another
        # callback or back into the scheduler's context.
        assert seen == ["one:a", "two:b", "three:b"]
        assert var.get() == "b"
    finally:
        var.reset(token)


def test_explicit_context_is_used_and_shared(loop: asyncio.AbstractEventLoop) -> None:
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in-ctx")
    seen: list[str] = []

    def write() -> None:
        var.set("written")

    loop.call_soon(lambda: seen.append(var.get()), context=ctx)
    loop.call_soon(write, context=ctx)
    loop.call_soon(lambda: seen.append(var.get()), context=ctx)
    loop.call_soon(lambda: seen.append(var.get()))  # the caller's context: untouched
    run_briefly(loop)
    assert seen == ["in-ctx", "written", "unset"]
    assert ctx[var] == "written"
    assert var.get() == "unset"


def test_a_context_already_entered_fails_the_callback(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, object]] = []
    loop.set_exception_handler(lambda lp, c: contexts.append(c))
    ctx = contextvars.copy_context()
    seen: list[str] = []
    # The callback runs inside ctx and schedules nothing; running another
    # callback in ctx from inside ctx.run must fail like Context.run does.
    loop.call_soon(lambda: ctx.run(seen.append, "entered"), context=ctx)
    loop.call_soon(seen.append, "next")
    run_briefly(loop)
    assert seen == ["next"]
    [context] = contexts
    assert isinstance(context["exception"], RuntimeError)
    assert "is already entered" in str(context["exception"])


@pytest.mark.skipif(sys.version_info < (3, 12), reason="Handle.get_context() is new in 3.12")
def test_get_context(loop: asyncio.AbstractEventLoop) -> None:
    token = var.set("captured")
    handle = loop.call_soon(int)
    var.reset(token)
    assert handle.get_context()[var] == "captured"
    ctx = contextvars.copy_context()
    assert loop.call_soon(int, context=ctx).get_context() is ctx


@pytest.mark.pyloop_only
def test_pyloop_handles_have_get_context_on_every_version(pyloop) -> None:  # type: ignore[no-untyped-def]
    lp = pyloop.new_event_loop()
    try:
        ctx = contextvars.copy_context()
        assert lp.call_soon(int, context=ctx).get_context() is ctx
        assert lp.call_later(1, int, context=ctx).get_context() is ctx
    finally:
        lp.close()


# -- reprs -------------------------------------------------------------------------


def _callback(*args: object) -> None:
    pass


class _Owner:
    def method(self) -> None:
        pass


class _CallableWithRepr:
    def __call__(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<a callable>"


_HERE = f"{__file__}:{_callback.__code__.co_firstlineno}"

REPR_CASES = {
    "function": ((_callback, 1, "a"), f"<Handle _callback(1, 'a') at {_HERE}>"),
    "long-arguments": (
        (_callback, "x" * 100, [1] * 20),
        f"<Handle _callback('xxxxxxxxxxxx...xxxxxxxxxxxxx', [1, 1, 1, 1, 1, 1, ...]) at {_HERE}>",
    ),
    "partial": ((functools.partial(_callback, 1), 2), f"<Handle _callback(1)(2) at {_HERE}>"),
    "bound-method": ((_Owner().method,), "<Handle _Owner.method()>"),
    "builtin": ((print, "hi"), "<Handle print('hi')>"),
    "callable-object": ((_CallableWithRepr(),), "<Handle <a callable>()>"),
}


@pytest.mark.parametrize("case", list(REPR_CASES))
def test_handle_repr_names_the_callback(loop: asyncio.AbstractEventLoop, case: str) -> None:
    args, expected = REPR_CASES[case]
    handle = loop.call_soon(*args)
    assert repr(handle) == expected
    handle.cancel()
    assert repr(handle) == "<Handle cancelled>"


def test_handle_repr_is_kept_after_the_callback_ran(
    loop: asyncio.AbstractEventLoop, request: pytest.FixtureRequest
) -> None:
    diverges_on_pyloop(
        request,
        "pyloop handles are not GC-tracked and release their callback once run "
        "(PYLOOP_NOTES.md, 'Handles and the GC')",
    )
    handle = loop.call_soon(_callback, 7)
    timer = loop.call_later(-1, _callback, 8)
    run_briefly(loop)
    assert repr(handle) == f"<Handle _callback(7) at {_HERE}>"
    assert repr(timer) == f"<TimerHandle when={timer.when()} _callback(8) at {_HERE}>"


def test_debug_repr_names_the_creation_site(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    line = sys._getframe().f_lineno + 1
    handle = loop.call_soon(_callback)
    created = f"created at {__file__}:{line}"
    assert repr(handle) == f"<Handle _callback() at {_HERE} {created}>"
    handle.cancel()
    # In debug mode a cancelled handle keeps naming its callback.
    assert repr(handle) == f"<Handle cancelled _callback() at {_HERE} {created}>"


# -- argument checks ---------------------------------------------------------------


async def _coro_function() -> None:
    pass


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("call_soon", "call_soon"),
        ("call_later", "call_at"),
        ("call_at", "call_at"),
        ("call_soon_threadsafe", "call_soon_threadsafe"),
    ],
)
def test_debug_mode_rejects_coroutines_and_non_callables(
    loop: asyncio.AbstractEventLoop, method: str, name: str
) -> None:
    loop.set_debug(True)
    schedule = getattr(loop, method)
    prefix = (1,) if method in ("call_later", "call_at") else ()
    messages: list[tuple[type[BaseException], str]] = []
    coro = _coro_function()
    try:
        for bad in (_coro_function, coro, 42, None):
            try:
                schedule(*prefix, bad)
            except Exception as exc:
                messages.append((type(exc), str(exc)))
    finally:
        coro.close()
    assert messages == [
        (TypeError, f"coroutines cannot be used with {name}()"),
        (TypeError, f"coroutines cannot be used with {name}()"),
        (TypeError, f"a callable object was expected by {name}(), got 42"),
        (TypeError, f"a callable object was expected by {name}(), got None"),
    ]


def test_non_callable_outside_debug_fails_when_run(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, object]] = []
    seen: list[str] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    handle = loop.call_soon(42)  # type: ignore[arg-type]
    loop.call_soon(seen.append, "next")
    run_briefly(loop)
    assert seen == ["next"]
    [context] = contexts
    assert context["handle"] is handle
    assert isinstance(context["exception"], TypeError)
    assert str(context["exception"]) == "'int' object is not callable"


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_bad_signatures_raise_type_error(loop: asyncio.AbstractEventLoop, method: str) -> None:
    schedule = getattr(loop, method)
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: 'callback'"):
        schedule()
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'delay'"):
        schedule(print, delay=1)
