"""Differential tests for tasks and futures: each scenario runs on asyncio's
loop (asyncio's C Task and Future) and on pyloop's (pyloop.Task and
pyloop.Future) and must observe the same things. CPython's own Task/Future
suites run against pyloop's types in tests/cpython (native_types.py)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import re
import sys
import threading
import tracemalloc
import weakref
from typing import Any

import pytest


def is_pyloop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("pyloop")


def test_pyloop_hands_out_its_native_types(pyloop: Any) -> None:
    loop = pyloop.new_event_loop()
    try:
        fut = loop.create_future()
        task = loop.create_task(asyncio.sleep(0))
        assert type(fut) is pyloop.Future
        assert type(task) is pyloop.Task
        assert asyncio.isfuture(fut) and asyncio.isfuture(task)
        assert isinstance(task, pyloop.Future)
        loop.run_until_complete(task)
    finally:
        loop.close()


def test_futures_and_tasks_are_instances_of_asyncio_classes(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # Libraries check these before trusting a task's waiter (anyio's cancel
    # scopes: a done waiter is not cancelled, or the value it holds is lost).
    async def main() -> list[bool]:
        fut = loop.create_future()
        task = asyncio.current_task()
        assert task is not None
        return [
            isinstance(fut, asyncio.Future),
            isinstance(fut, asyncio.Task),
            isinstance(task, asyncio.Task),
            isinstance(task, asyncio.Future),
            isinstance(fut, type(fut)),
            isinstance(task, type(task)),
        ]

    assert loop.run_until_complete(main()) == [True, False, True, True, True, True]


def test_a_subclass_of_the_native_future_keeps_its_own_class(pyloop: Any) -> None:
    class Mine(pyloop.Future):
        pass

    loop = pyloop.new_event_loop()
    try:
        fut = Mine(loop=loop)
        assert fut.__class__ is Mine
        assert isinstance(fut, Mine)
        assert type(loop.create_future()) is pyloop.Future
    finally:
        loop.close()


def test_future_states_and_errors(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[Any] = []
    fut = loop.create_future()
    with pytest.raises(asyncio.InvalidStateError):
        fut.result()
    with pytest.raises(asyncio.InvalidStateError):
        fut.exception()
    seen.append((fut.done(), fut.cancelled(), fut._state))
    fut.set_result(42)
    seen.append((fut.done(), fut.result(), fut.exception(), fut._state))
    with pytest.raises(asyncio.InvalidStateError):
        fut.set_result(1)
    with pytest.raises(asyncio.InvalidStateError):
        fut.set_exception(ValueError())
    assert fut.cancel() is False

    failed = loop.create_future()
    failed.set_exception(KeyError)  # a class is instantiated
    with pytest.raises(KeyError):
        failed.result()
    seen.append(type(failed.exception()))
    with pytest.raises(TypeError, match="StopIteration"):
        loop.create_future().set_exception(StopIteration())
    with pytest.raises(TypeError):
        loop.create_future().set_exception(42)

    cancelled = loop.create_future()
    assert cancelled.cancel("why") is True
    assert cancelled.cancel() is False
    with pytest.raises(asyncio.CancelledError) as info:
        cancelled.result()
    seen.append((cancelled._state, info.value.args))
    assert seen == [
        (False, False, "PENDING"),
        (True, 42, None, "FINISHED"),
        KeyError,
        ("CANCELLED", ("why",)),
    ]


def test_done_callbacks_order_context_and_removal(loop: asyncio.AbstractEventLoop) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    calls: list[tuple[str, str]] = []
    fut = loop.create_future()

    def first(f: asyncio.Future[Any]) -> None:
        calls.append(("first", var.get()))

    def second(f: asyncio.Future[Any]) -> None:
        calls.append(("second", var.get()))

    ctx = contextvars.copy_context()
    ctx.run(var.set, "explicit")
    fut.add_done_callback(first)
    fut.add_done_callback(second, context=ctx)
    fut.add_done_callback(first)
    assert fut.remove_done_callback(first) == 2
    assert fut.remove_done_callback(first) == 0
    fut.add_done_callback(first)
    fut.set_result(None)
    assert calls == []  # scheduled, not called inline
    loop.run_until_complete(asyncio.sleep(0))
    assert calls == [("second", "explicit"), ("first", "unset")]
    fut.add_done_callback(second)  # already done: scheduled at once
    loop.run_until_complete(asyncio.sleep(0))
    assert calls[-1] == ("second", "unset")


def test_task_result_exception_and_names(loop: asyncio.AbstractEventLoop) -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def fail() -> None:
        raise ValueError("boom")

    task = loop.create_task(double(21))
    assert re.fullmatch(r"Task-\d+", task.get_name())
    named = loop.create_task(double(1), name=123)
    assert named.get_name() == "123"
    named.set_name(("a", 1))
    assert named.get_name() == "('a', 1)"
    assert loop.run_until_complete(task) == 42
    loop.run_until_complete(named)
    failing = loop.create_task(fail())
    with pytest.raises(ValueError, match="boom"):
        loop.run_until_complete(failing)
    assert isinstance(failing.exception(), ValueError)
    with pytest.raises(RuntimeError, match="set_result"):
        task.set_result(1)
    with pytest.raises(RuntimeError, match="set_exception"):
        task.set_exception(ValueError())
    assert task.get_coro().cr_frame is None  # finished coroutine, frame released
    assert re.fullmatch(r"<Task finished name='Task-\d+' coro=<.*> result=42>", repr(task))


def test_cancellation_message_counts_and_waiter(loop: asyncio.AbstractEventLoop) -> None:
    log: list[Any] = []

    async def sleeper(waiter: asyncio.Future[None]) -> None:
        try:
            await waiter
        except asyncio.CancelledError as exc:
            log.append(("inner", exc.args))
            raise

    async def main() -> None:
        waiter = loop.create_future()
        task = loop.create_task(sleeper(waiter))
        await asyncio.sleep(0)
        assert task.cancel("stop") is True
        log.append(("cancelling", task.cancelling(), waiter.cancelled()))
        assert task.cancel() is True  # second request, counted
        log.append(("cancelling", task.cancelling()))
        try:
            await task
        except asyncio.CancelledError as exc:
            log.append(("outer", exc.args))
        log.append(("state", task.cancelled(), task.cancel(), task.uncancel(), task.uncancel()))

    loop.run_until_complete(main())
    assert log == [
        ("cancelling", 1, True),
        ("cancelling", 2),
        ("inner", ("stop",)),
        ("outer", ("stop",)),
        ("state", True, False, 1, 0),
    ]


def test_coroutine_that_swallows_cancellation_keeps_running(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass
        await asyncio.sleep(0)
        return "survived"

    async def main() -> tuple[str, bool]:
        task = loop.create_task(stubborn())
        await asyncio.sleep(0)
        task.cancel()
        result = await task
        return result, task.cancelled()

    assert loop.run_until_complete(main()) == ("survived", False)


def test_mixing_with_asyncio_types(loop: asyncio.AbstractEventLoop) -> None:
    async def wait_on(fut: asyncio.Future[int]) -> int:
        return await fut + 1

    async def main() -> list[int]:
        foreign = asyncio.Future(loop=loop)  # asyncio's own Future type
        mine = loop.create_task(wait_on(foreign))
        loop.call_soon(foreign.set_result, 1)
        theirs = asyncio.Task(wait_on(mine), loop=loop)  # asyncio's Task awaits ours
        return [await mine, await theirs]

    assert loop.run_until_complete(main()) == [2, 3]


def test_asyncio_helpers_see_the_tasks(loop: asyncio.AbstractEventLoop) -> None:
    log: list[Any] = []

    async def child(n: int) -> int:
        await asyncio.sleep(0)
        log.append(("current", asyncio.current_task().get_name()))
        return n

    async def main() -> None:
        me = asyncio.current_task()
        assert me in asyncio.all_tasks()
        log.append(await asyncio.gather(child(1), child(2)))
        async with asyncio.TaskGroup() as group:
            t = group.create_task(child(3), name="grouped")
        log.append(t.result())
        log.append(await asyncio.wait_for(child(4), 5))
        done, _ = await asyncio.wait([loop.create_task(child(5))])
        log.append([d.result() for d in done])
        log.append(await asyncio.shield(child(6)))
        log.append(sorted([await f for f in asyncio.as_completed([child(7), child(8)])]))
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(3600)
        except TimeoutError:
            log.append(("timeout", me.cancelling()))

    loop.run_until_complete(main())
    assert ("current", "grouped") in log
    assert [x for x in log if not (isinstance(x, tuple) and x[0] == "current")] == [
        [1, 2],
        3,
        4,
        [5],
        6,
        [7, 8],
        ("timeout", 0),
    ]


def test_run_coroutine_threadsafe(loop: asyncio.AbstractEventLoop) -> None:
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    results: list[int] = []
    started = threading.Event()

    def worker() -> None:
        started.wait()
        results.append(asyncio.run_coroutine_threadsafe(add(2, 3), loop).result(timeout=30))
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=worker)
    thread.start()
    loop.call_soon(started.set)
    loop.run_forever()
    thread.join()
    assert results == [5]


def test_runner_with_loop_factory(loop_factory: Any) -> None:
    async def main() -> str:
        return type(asyncio.current_task()).__module__

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        module = runner.run(main())
    assert module in ("_asyncio", "pyloop._pyloop")


def test_unretrieved_exception_and_destroyed_pending_are_reported(
    loop: asyncio.AbstractEventLoop,
) -> None:
    reports: list[str] = []
    loop.set_exception_handler(lambda _loop, ctx: reports.append(ctx["message"]))

    async def fail() -> None:
        raise ValueError("never looked at")

    task = loop.create_task(fail())
    loop.run_until_complete(asyncio.sleep(0))
    assert task.done()
    del task
    gc.collect()

    async def forever(fut: asyncio.Future[None]) -> None:
        await fut

    fut = loop.create_future()
    pending = loop.create_task(forever(fut))
    loop.run_until_complete(asyncio.sleep(0))
    del pending, fut
    gc.collect()
    assert reports == [
        "Task exception was never retrieved",
        "Task was destroyed but it is pending!",
    ]


def test_done_task_is_freed_without_the_collector(loop: asyncio.AbstractEventLoop) -> None:
    async def work() -> int:
        await asyncio.sleep(0)
        return 1

    gc.disable()
    try:
        task = loop.create_task(work())
        loop.run_until_complete(task)
        ref = weakref.ref(task)
        del task
        assert ref() is None  # no reference cycle keeps a finished task alive
    finally:
        gc.enable()


def test_bad_input(loop: asyncio.AbstractEventLoop) -> None:
    def not_a_coroutine() -> None:
        pass

    with pytest.raises(TypeError, match="a coroutine was expected"):
        loop.create_task(not_a_coroutine)  # type: ignore[arg-type]

    class BadYield:
        def __await__(self) -> Any:
            yield 42

    async def yields_garbage() -> str:
        try:
            await BadYield()
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert loop.run_until_complete(yields_garbage()) == "Task got bad yield: 42"


def test_task_factory_is_honoured(loop: asyncio.AbstractEventLoop) -> None:
    made: list[str] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro.__name__)
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def job() -> int:
        return 7

    loop.set_task_factory(factory)
    task = loop.create_task(job())
    assert type(task) is asyncio.Task
    assert loop.run_until_complete(task) == 7
    assert made == ["job"]


def test_uncancel_never_goes_negative(loop: asyncio.AbstractEventLoop) -> None:
    task = loop.create_task(asyncio.sleep(0))
    assert task.uncancel() == 0
    loop.run_until_complete(task)
    assert is_pyloop(loop) == (type(task).__module__ == "pyloop._pyloop")


def test_introspection_stack_context_and_reprs(loop: asyncio.AbstractEventLoop) -> None:
    import io

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def parked(fut: asyncio.Future[None]) -> str:
        await fut
        return var.get()

    async def main() -> list[Any]:
        fut = loop.create_future()
        ctx = contextvars.copy_context()
        ctx.run(var.set, "task's own")
        task = loop.create_task(parked(fut), name="introspected", context=ctx)
        await asyncio.sleep(0)
        frames = task.get_stack()
        printed = io.StringIO()
        task.print_stack(file=printed)
        pending = repr(task)
        seen = [
            [f.f_code.co_name for f in frames],
            "parked" in printed.getvalue(),
            # Task.get_context is 3.12+ in asyncio; pyloop has it everywhere.
            task.get_context() is ctx if hasattr(task, "get_context") else True,
            task.get_coro().__name__,
            re.fullmatch(
                r"<Task pending name='introspected' coro=<.*parked\(\) running at .*> "
                r"wait_for=<Future pending cb=\[Task.task_wakeup\(\)\]>>",
                pending,
            )
            is not None,
        ]
        fut.set_result(None)
        seen.append(await task)
        cancelled = loop.create_task(parked(loop.create_future()))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.sleep(0)
        seen.append(
            re.fullmatch(
                r"<Task cancelled name='Task-\d+' coro=<.*parked\(\) done, .*>>", repr(cancelled)
            )
            is not None
        )
        return seen

    assert loop.run_until_complete(main()) == [
        ["parked"],
        True,
        True,
        "parked",
        True,
        "task's own",
        True,
    ]


def test_create_task_leaves_a_rejected_object_alone(loop: asyncio.AbstractEventLoop) -> None:
    class Awaitable:
        closed = False

        def close(self) -> None:
            self.closed = True

        def __await__(self) -> Any:
            yield

    thing = Awaitable()
    with pytest.raises(TypeError):
        loop.create_task(thing)  # type: ignore[arg-type]
    assert not thing.closed


def test_registered_tasks_leave_asyncio_registry_with_them(pyloop: Any) -> None:
    # pyloop makes asyncio's registry entries itself on 3.11 (task_registry.rs):
    # they must behave as WeakSet.add's, also when a task dies mid-iteration.
    registry = asyncio.tasks._all_tasks if sys.version_info < (3, 12) else None
    if registry is None:
        pytest.skip("3.12+ registers through asyncio's own _register_task")
    loop = pyloop.new_event_loop()
    try:
        before = len(registry.data)
        tasks = [loop.create_task(asyncio.sleep(0)) for _ in range(100)]
        assert all(t in registry for t in tasks)
        loop.run_until_complete(asyncio.gather(*tasks))
        walking = iter(registry)
        next(walking)  # the set is being iterated: removals are deferred
        del tasks
        gc.collect()
        assert registry._pending_removals
        late = loop.create_task(asyncio.sleep(0))  # registers mid-iteration
        walking.close()
        loop.run_until_complete(late)
        del late
        gc.collect()
        assert len(registry.data) == before and not registry._pending_removals
    finally:
        loop.close()


def test_loop_with_a_factory_that_refers_to_it_is_collected(
    loop_factory: Any,
) -> None:
    import functools

    loop = loop_factory()

    def factory(owner: Any, the_loop: Any, coro: Any, **kwargs: Any) -> Any:
        return asyncio.Task(coro, loop=the_loop, **kwargs)

    loop.set_task_factory(functools.partial(factory, loop))  # a cycle through the loop
    assert loop.get_task_factory() is not None
    loop.run_until_complete(loop.create_task(asyncio.sleep(0)))
    with pytest.raises(TypeError, match="callable"):
        loop.set_task_factory(42)
    ref = weakref.ref(loop)
    loop.close()
    del loop
    gc.collect()
    assert ref() is None


def test_stepping_a_task_inside_another_is_refused(pyloop: Any) -> None:
    # On asyncio's loop pyloop's tasks queue callable step objects, so one can
    # be called by hand while another task runs: asyncio's own error.
    loop = asyncio.new_event_loop()

    async def inner() -> int:
        return 1

    async def outer() -> int:
        task = pyloop.Task(inner(), loop=loop)
        step = loop._ready[-1]._callback  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError, match="Cannot enter into task"):
            step()
        return await task

    try:
        assert loop.run_until_complete(outer()) == 1
    finally:
        loop.close()


def test_call_soon_replaced_on_a_loop_class_after_use(pyloop: Any) -> None:
    # Futures queue their callbacks natively only while the loop's class
    # keeps pyloop's call_soon; that answer is kept per class, and must not
    # outlive a change to the class.
    class Counting(pyloop.Loop):  # type: ignore[misc, name-defined]
        pass

    calls: list[object] = []
    loop = Counting()

    async def resolve_with_callback() -> None:
        future = loop.create_future()
        future.add_done_callback(calls.append)
        future.set_result(None)
        await asyncio.sleep(0)

    def counting_call_soon(self, callback, *args, context=None):  # type: ignore[no-untyped-def]
        calls.append("call_soon")
        return pyloop.Loop.call_soon(self, callback, *args, context=context)

    try:
        loop.run_until_complete(resolve_with_callback())
        assert "call_soon" not in calls
        Counting.call_soon = counting_call_soon  # type: ignore[method-assign]
        loop.run_until_complete(resolve_with_callback())
        assert "call_soon" in calls
    finally:
        loop.close()


def test_tasks_and_futures_take_attributes_of_their_own(loop: asyncio.AbstractEventLoop) -> None:
    # asyncio's C Task and Future have an instance dict; libraries use it
    # (mitmproxy sets `task.created` on every task it starts).
    seen: list[Any] = []

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.created = 1.5  # type: ignore[attr-defined]
        fut = loop.create_future()
        fut.tag = ["kept"]  # type: ignore[attr-defined]
        seen.append((task.created, fut.tag))  # type: ignore[attr-defined]
        del fut.tag  # type: ignore[attr-defined]
        with pytest.raises(AttributeError):
            fut.tag  # type: ignore[attr-defined]  # noqa: B018
        # Like the C types, the slot is there but no `__dict__` attribute.
        seen.append((hasattr(fut, "__dict__"), hasattr(task, "__dict__")))

    loop.run_until_complete(main())
    assert seen == [(1.5, ["kept"]), (False, False)]


def test_a_cycle_through_a_future_attribute_is_collected(
    loop: asyncio.AbstractEventLoop,
) -> None:
    class Holder:
        future: Any = None

    holder = Holder()
    fut = loop.create_future()
    holder.future = fut
    fut.holder = holder  # type: ignore[attr-defined]
    gone = weakref.ref(holder)
    del holder, fut
    gc.collect()
    assert gone() is None


def test_future_attributes_are_released_with_the_future(
    loop: asyncio.AbstractEventLoop,
) -> None:
    class Payload:
        pass

    payloads = []
    for _ in range(1000):
        fut = loop.create_future()
        fut.payload = Payload()  # type: ignore[attr-defined]
        payloads.append(weakref.ref(fut.payload))  # type: ignore[attr-defined]
    del fut
    assert all(ref() is None for ref in payloads)

    # The dicts go too: 20,000 left behind would be over a megabyte.
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for number in range(20_000):
            fut = loop.create_future()
            fut.number = number  # type: ignore[attr-defined]
        del fut
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 200_000
