"""Handles are not GC-tracked (a speed choice, see PYLOOP_NOTES.md): they let
go of their callback once run or cancelled. These check no cycle through a
handle is leaked."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable
from types import ModuleType

import pytest


class Holder:
    def method(self) -> None:
        pass


def _run_one_iteration(loop: asyncio.AbstractEventLoop) -> None:
    loop.call_soon(loop.stop)
    loop.run_forever()


@pytest.mark.parametrize(
    "schedule",
    [
        lambda loop, cb: loop.call_soon(cb),
        lambda loop, cb: loop.call_at(loop.time() - 1, cb),
        lambda loop, cb: loop.call_soon_threadsafe(cb),
    ],
    ids=["call_soon", "fired_timer", "call_soon_threadsafe"],
)
def test_cycle_through_a_run_handle_is_collected(
    schedule: Callable[[asyncio.AbstractEventLoop, Callable[[], None]], object],
    pyloop: ModuleType,
) -> None:
    loop = pyloop.new_event_loop()
    try:
        holder = Holder()
        alive = weakref.ref(holder)
        holder.handle = schedule(loop, holder.method)  # type: ignore[attr-defined]
        _run_one_iteration(loop)
        del holder
        gc.collect()
        assert alive() is None
    finally:
        loop.close()


def test_cancel_releases_the_callback_at_once(pyloop: ModuleType) -> None:
    loop = pyloop.new_event_loop()
    try:
        holder = Holder()
        alive = weakref.ref(holder)
        handle = loop.call_later(3600, holder.method)
        del holder
        handle.cancel()
        assert alive() is None
        assert handle._callback is None
    finally:
        loop.close()


def test_context_of_a_dropped_handle_survives(pyloop: ModuleType) -> None:
    loop = pyloop.new_event_loop()
    try:
        handle = loop.call_soon(lambda: None)
        ctx = handle.get_context()
        _run_one_iteration(loop)
        del handle
        gc.collect()
        assert ctx.run(lambda: 42) == 42
    finally:
        loop.close()


def test_queued_handles_are_freed_by_close(pyloop: ModuleType) -> None:
    loop = pyloop.new_event_loop()
    holder = Holder()
    alive = weakref.ref(holder)
    loop.call_soon(holder.method)
    loop.call_later(3600, holder.method)
    del holder
    loop.close()
    assert alive() is None
