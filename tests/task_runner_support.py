"""What the task-runner tests share: a manual clock, a job that waits on a gate,
and a collector for the loop's exception handler. Nothing here sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pyloop.tasks import Job

T = TypeVar("T")

Contexts = list[dict[str, Any]]


def run(loop: asyncio.AbstractEventLoop, coro: Awaitable[T]) -> T:
    return loop.run_until_complete(coro)


class ManualClock:
    """A clock the test moves by hand (injected as the runner's ``clock``)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextmanager
def reports(loop: asyncio.AbstractEventLoop) -> Iterator[Contexts]:
    """Collects what reaches the loop's exception handler while inside."""
    seen: Contexts = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(None)


async def settle(rounds: int = 5) -> None:
    """Let already-scheduled callbacks run (a few loop iterations, no sleeping)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class GateJob(Job[str]):
    """Runs until its gate opens, then returns ``value``. ``entered`` is set once
    run() started; hooks record that they ran and can be made to hang."""

    def __init__(self, value: str = "ok", *, hang_hooks: bool = False) -> None:
        self.value = value
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.hook_entered = asyncio.Event()
        self.hook_gate = asyncio.Event()
        self.hang_hooks = hang_hooks
        self.hooks: list[str] = []
        self.hook_saw_cancel = False

    async def run(self) -> str:
        self.entered.set()
        await self.gate.wait()
        return self.value

    async def _hook(self, name: str, partial: Any) -> None:
        self.hooks.append(name)
        self.hook_entered.set()
        try:
            if self.hang_hooks:
                await self.hook_gate.wait()
        except asyncio.CancelledError:
            self.hook_saw_cancel = True
            raise
        if partial is not None:
            self.set_result(partial)

    async def on_timeout(self) -> None:
        await self._hook("on_timeout", f"partial:{self.value}")

    async def on_cancel(self) -> None:
        await self._hook("on_cancel", f"cancelled:{self.value}")


async def wait_for_event(event: asyncio.Event) -> None:
    await event.wait()


def call_log() -> tuple[list[Any], Callable[..., Awaitable[Any]]]:
    """A coroutine function that records its argument and returns it."""
    log: list[Any] = []

    async def job(value: Any) -> Any:
        log.append(value)
        return value

    return log, job
