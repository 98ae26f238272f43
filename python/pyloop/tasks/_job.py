"""What a worker runs: a ``Job`` subclass, or a coroutine function with its
arguments wrapped in one. The runner, not the job, decides when hooks run."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Coroutine
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from ._handle import TaskHandle

T = TypeVar("T")

_UNSET: Any = object()


class Job(abc.ABC, Generic[T]):
    """A unit of work with optional cleanup hooks.

    Override ``run``. Override ``on_timeout`` and ``on_cancel`` when an
    interrupted run leaves something to clean up; both run in their own task,
    bounded by the runner's ``hook_timeout``, and may call ``set_result`` to give
    the job a final (for example partial) result. The outcome stays TIMEOUT or
    CANCELLED; ``result()`` then returns that value instead of raising.

    A Job instance is submitted once; its attributes are the job's own state,
    so ``run`` can record progress that a hook later turns into a result.
    """

    # Class-level defaults: subclasses need not call super().__init__().
    _handle: TaskHandle[T] | None = None
    _final: Any = _UNSET

    @abc.abstractmethod
    async def run(self) -> T:
        """The work. Called once per attempt (again after a failure, if retries remain)."""

    async def on_timeout(self) -> None:
        """Runs after an attempt overran its timeout. The default has nothing to clean up."""

    async def on_cancel(self) -> None:
        """Runs after a started job was cancelled, unless ``cancel(force=True)``.
        The default has nothing to clean up."""

    def set_result(self, value: T) -> None:
        """Set the result a timed-out or cancelled job ends with (the last call wins).

        A ``run`` that returns normally overrides it with its return value.
        """
        self._final = value

    @property
    def handle(self) -> TaskHandle[T] | None:
        """The job's handle once submitted (None before)."""
        return self._handle

    @property
    def attempt(self) -> int:
        """The current attempt, 1-based (0 before the first starts)."""
        return 0 if self._handle is None else self._handle.attempts

    def _start(self) -> Coroutine[Any, Any, T]:
        """The coroutine one attempt runs. Never raises: a run() that fails to
        start, or returns something other than a coroutine, fails inside the
        attempt's task, where the runner records it like any other failure."""
        try:
            started = self.run()
        except Exception as exc:
            return _raise(exc)
        return started if type(started) is CoroutineType else _await(started)

    def _has_hook(self, name: str) -> bool:
        """Did the subclass override this hook? (No task is spent on a no-op.)"""
        return getattr(type(self), name) is not getattr(Job, name)


class FunctionJob(Job[T]):
    """A coroutine function and its arguments; each attempt calls it afresh
    (a coroutine object could run only once, so retries need the function)."""

    def __init__(self, func: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> None:
        self.func = func
        self.args = args

    async def run(self) -> T:
        return await self.func(*self.args)

    def _start(self) -> Coroutine[Any, Any, T]:
        # The function's own coroutine, without run()'s extra frame: the hot path.
        try:
            awaitable = self.func(*self.args)
        except Exception as exc:  # a wrong argument count, say: the attempt fails
            return _raise(exc)
        if type(awaitable) is CoroutineType:
            return awaitable
        return _await(awaitable)  # a future or other awaitable: a task needs a coroutine

    def __repr__(self) -> str:
        return f"<FunctionJob {getattr(self.func, '__qualname__', self.func)!r}>"


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable  # TypeError here, in the attempt, if it is not awaitable


async def _raise(exc: Exception) -> Any:
    raise exc
