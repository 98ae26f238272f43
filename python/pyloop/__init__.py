"""pyloop: a drop-in asyncio event loop whose engine is Rust (PyO3 + Tokio).

Three ways in, all equivalent::

    pyloop.run(main())
    asyncio.Runner(loop_factory=pyloop.new_event_loop)
    asyncio.set_event_loop_policy(pyloop.EventLoopPolicy())  # deprecated in 3.14
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from ._compat import BasePolicy
from ._loop import Loop
from ._pyloop import Future, Handle, Task, TimerHandle

__all__ = [
    "EventLoopPolicy",
    "Future",
    "Handle",
    "Loop",
    "PyLoop",
    "Task",
    "TimerHandle",
    "install",
    "new_event_loop",
    "run",
]

T = TypeVar("T")

PyLoop = Loop


def new_event_loop() -> Loop:
    """A new pyloop event loop (usable as ``asyncio.Runner``'s loop_factory)."""
    return Loop()


class EventLoopPolicy(BasePolicy):  # type: ignore[misc, valid-type]
    """An asyncio policy whose loops are pyloop loops."""

    def _loop_factory(self) -> Loop:
        return Loop()


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """Like ``asyncio.run``, on a pyloop loop."""
    if asyncio._get_running_loop() is not None:
        # Fail before building a Runner, with asyncio.run's own message.
        raise RuntimeError("asyncio.run() cannot be called from a running event loop")
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


def install() -> None:
    """Make pyloop the loop that ``asyncio.run`` and ``new_event_loop`` create."""
    asyncio.set_event_loop_policy(EventLoopPolicy())
