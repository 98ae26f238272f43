"""Each handle runs in its own copy of the context it was made in, as asyncio's
do. pyloop lets handles made where no variable is set share one empty context
until one of them could tell (a callback sets a variable, someone asks for a
handle's context); these tests pin what asyncio shows in those moments.

The tests run in a fresh empty context: pytest's own context holds variables
(``decimal``'s, for one), and pyloop shares only empty ones."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from conftest import run_briefly

var: contextvars.ContextVar[str] = contextvars.ContextVar("shared_ctx_var", default="unset")


T = TypeVar("T", bound=Callable[..., None])


def in_an_empty_context(test: T) -> T:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        contextvars.Context().run(test, *args, **kwargs)

    return run  # type: ignore[return-value]


def context_of(handle: asyncio.Handle) -> contextvars.Context:
    """``Handle.get_context()`` (3.12+; pyloop has it on 3.11 too) or the slot."""
    get = getattr(handle, "get_context", None)
    return get() if get is not None else handle._context  # type: ignore[attr-defined]


@in_an_empty_context
def test_a_variable_a_callback_sets_stays_in_its_handle(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[tuple[str, str]] = []

    def set_to(value: str) -> None:
        seen.append((value, var.get()))
        var.set(value)

    first = loop.call_soon(set_to, "first")
    second = loop.call_soon(set_to, "second")
    timer = loop.call_later(0, set_to, "timer")
    run_briefly(loop)
    run_briefly(loop)
    assert seen == [("first", "unset"), ("second", "unset"), ("timer", "unset")]
    assert context_of(first)[var] == "first"
    assert context_of(second)[var] == "second"
    assert context_of(timer)[var] == "timer"
    later: list[str] = []
    loop.call_soon(lambda: later.append(var.get()))
    run_briefly(loop)
    assert later == ["unset"]


@in_an_empty_context
def test_a_variable_set_and_reset_leaves_nothing_behind(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []

    def set_and_reset() -> None:
        var.reset(var.set("brief"))

    loop.call_soon(set_and_reset)
    loop.call_soon(lambda: seen.append(var.get()))
    run_briefly(loop)
    assert seen == ["unset"]


@in_an_empty_context
def test_a_context_taken_before_the_run_sees_the_callbacks_changes(
    loop: asyncio.AbstractEventLoop,
) -> None:
    handle = loop.call_soon(var.set, "from-callback")
    untouched = loop.call_soon(int)
    taken = context_of(handle)
    assert var not in taken
    run_briefly(loop)
    assert taken[var] == "from-callback"
    assert context_of(handle) is taken
    assert var not in context_of(untouched)


@in_an_empty_context
def test_a_context_taken_while_running_is_the_one_it_runs_in(
    loop: asyncio.AbstractEventLoop,
) -> None:
    handles: list[asyncio.Handle] = []
    seen: dict[str, Any] = {}

    def callback() -> None:
        var.set("before")
        ctx = context_of(handles[0])
        var.set("after")
        seen["inside"] = ctx[var]
        seen["ctx"] = ctx

    handles.append(loop.call_soon(callback))
    other = loop.call_soon(lambda: seen.setdefault("other", var.get()))
    run_briefly(loop)
    assert seen["inside"] == "after"
    assert seen["other"] == "unset"
    assert context_of(handles[0]) is seen["ctx"]
    assert var not in context_of(other)


@in_an_empty_context
def test_a_callback_running_another_handle_gives_it_its_own_context(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[tuple[str, str]] = []
    handles: dict[str, asyncio.Handle] = {}

    def outer() -> None:
        # Run while this context is entered and still empty: the inner
        # handle cannot enter it a second time.
        handles["inner"]._run()  # type: ignore[attr-defined]
        var.set("outer")
        seen.append(("outer", var.get()))

    handles["outer"] = loop.call_soon(outer)
    handles["inner"] = loop.call_soon(lambda: seen.append(("inner", var.get())))
    run_briefly(loop)
    # The inner handle, run by hand, still runs when the loop reaches it.
    assert seen == [("inner", "unset"), ("outer", "outer"), ("inner", "unset")]


@in_an_empty_context
def test_each_handle_copies_the_variables_set_where_it_was_made(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []
    ctx = contextvars.copy_context()

    def schedule() -> None:
        var.set("one")
        loop.call_soon(lambda: seen.append(var.get()))
        var.set("two")
        loop.call_soon(lambda: seen.append(var.get()))

    ctx.run(schedule)
    loop.call_soon(lambda: seen.append(var.get()))
    run_briefly(loop)
    assert seen == ["one", "two", "unset"]


@in_an_empty_context
def test_tasks_without_variables_keep_their_own_changes(loop: asyncio.AbstractEventLoop) -> None:
    async def worker(name: str) -> str:
        await asyncio.sleep(0)
        var.set(name)
        await asyncio.sleep(0)
        seen = []
        loop.call_soon(lambda: seen.append(var.get()))
        await asyncio.sleep(0)
        return f"{var.get()}/{seen[0]}"

    async def main() -> list[str]:
        return await asyncio.gather(worker("a"), worker("b"), worker("c"))

    assert loop.run_until_complete(main()) == ["a/a", "b/b", "c/c"]


@in_an_empty_context
def test_threadsafe_calls_copy_the_calling_threads_context(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []
    done = threading.Event()

    def from_thread() -> None:
        loop.call_soon_threadsafe(lambda: seen.append(var.get()))
        var.set("thread")
        loop.call_soon_threadsafe(lambda: seen.append(var.get()))
        loop.call_soon_threadsafe(done.set)

    thread = threading.Thread(target=from_thread)
    thread.start()
    thread.join()
    # The thread has queued all three calls: one iteration runs them.
    run_briefly(loop)
    assert done.is_set()
    assert seen == ["unset", "thread"]


@in_an_empty_context
def test_an_fd_callback_keeps_its_context_between_runs(
    loop: asyncio.AbstractEventLoop,
) -> None:
    a, b = socket.socketpair()
    seen: list[str] = []

    def on_readable() -> None:
        a.recv(1)
        seen.append(var.get())
        var.set(f"run{len(seen)}")

    try:
        loop.add_reader(a.fileno(), on_readable)
        for _ in range(3):
            b.send(b"x")
            run_briefly(loop)
        loop.remove_reader(a.fileno())
    finally:
        a.close()
        b.close()
    assert seen == ["unset", "run1", "run2"]
