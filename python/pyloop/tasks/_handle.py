"""``TaskHandle``: what ``submit`` returns. It owns a job's observable state
(state, outcome, result, times) and the futures of those who wait for it; the
runner makes every transition, so the handle only reads and waits.

The fields live in the native base ``JobHandle``, built with the runner's
arguments ``(runner, job, seq, name, priority, timeout, retries, backoff,
created, func, args)``; the start and finish transitions are its
``_begin``/``_settle``, and ``_start_attempt`` gives an attempt's coroutine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any, Generic, TypeVar

from .._pyloop import JobHandle
from ._errors import InvalidStateError
from ._events import TaskRecord
from ._job import FunctionJob, Job
from ._states import Outcome, State

T = TypeVar("T")

# What a worker is doing for a RUNNING handle; decides what cancel() can still do.
PHASE_QUEUED = 0
PHASE_RUN = 1  # an attempt's task
PHASE_BACKOFF = 2  # the pause before a retry
PHASE_HOOK = 3  # on_timeout / on_cancel
PHASE_DONE = 4


class TaskHandle(JobHandle, Generic[T]):
    """A submitted job: await it for the result, or read its state at any time.

    ``await handle`` returns the result or raises the job's error (TimeoutError
    for a timeout, CancelledError for a cancellation, unless a hook set a
    result). ``result()``/``exception()`` read the same without waiting and raise
    ``InvalidStateError`` while the job is not done.
    """

    # Every field is native (JobHandle, crates/pyloop-py/src/job_handle.rs):
    # building a handle and finishing it run once per job.
    __slots__ = ()

    # --- identity and state -------------------------------------------------

    @property
    def uid(self) -> str:
        """Unique in this process, fixed at submission (``job-<n>``)."""
        return f"job-{self._seq}"

    @property
    def name(self) -> str:
        """The name given to submit(), else the uid."""
        return self._name if self._name is not None else f"job-{self._seq}"

    @property
    def job(self) -> Job[T]:
        job = self._job
        if job is None:
            # Submitted as a coroutine function: its FunctionJob, made once, on demand.
            job = self._job = FunctionJob(self._func, self._args)
        return job  # type: ignore[no-any-return]

    @property
    def priority(self) -> int:
        return self._priority

    @property
    def state(self) -> State:
        return self._state

    @property
    def outcome(self) -> Outcome | None:
        """How the job ended: the sub-state of DONE (None before)."""
        return self._outcome

    @property
    def attempts(self) -> int:
        """Attempts started so far (1 + retries used)."""
        return self._attempts

    @property
    def created(self) -> float:
        return self._created

    @property
    def started(self) -> float | None:
        """When a worker took the job (None if it never started)."""
        return self._started

    @property
    def finished(self) -> float | None:
        return self._finished

    def done(self) -> bool:
        return self._state is State.DONE

    def cancelled(self) -> bool:
        return self._outcome is Outcome.CANCELLED

    # --- results ------------------------------------------------------------

    def result(self) -> T:
        """The result; raises the job's error if it has one, InvalidStateError if not done."""
        if self._state is not State.DONE:
            raise InvalidStateError(f"job {self.uid} is not done")
        if self._error is not None:
            # The traceback as the job left it, not one that grows on every read.
            raise self._error.with_traceback(self._error_tb)
        if self._outcome is Outcome.CANCELLED and self._result is _NO_RESULT:
            raise asyncio.CancelledError()
        return self._result  # type: ignore[no-any-return]

    def exception(self) -> BaseException | None:
        """The job's error (None if it has none); raises CancelledError for a
        cancelled job without a result, as asyncio.Future.exception() does."""
        if self._state is not State.DONE:
            raise InvalidStateError(f"job {self.uid} is not done")
        if self._outcome is Outcome.CANCELLED and self._result is _NO_RESULT:
            raise asyncio.CancelledError()
        return self._error

    def cancel(self, force: bool = False) -> bool:
        """Ask the job to stop.

        Queued: it is done (CANCELLED) at once and no hook runs (it never
        started). Running: its task is cancelled and ``on_cancel`` runs, unless
        ``force``. A running cleanup hook is left to finish (it is bounded by the
        runner's hook_timeout) unless ``force``, which interrupts it. Returns
        False when the handle is done or the request changes nothing.
        """
        return self._runner._cancel(self, force)

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until the job is done, at most ``timeout`` seconds; True if it is.

        Never raises the job's error and never cancels the job.
        """
        if self._state is State.DONE:
            return True
        waiter = self._runner._loop_or_raise().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            if timeout is None:
                await waiter
            else:
                try:
                    async with asyncio.timeout(timeout):
                        await waiter
                except TimeoutError:
                    pass
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return self._state is State.DONE

    def __await__(self) -> Generator[Any, None, T]:
        return self._wait_result().__await__()

    async def _wait_result(self) -> T:
        await self.wait()
        return self.result()

    def record(self) -> TaskRecord:
        """A frozen snapshot of the handle as it is now."""
        error: BaseException | None = self._error
        result = None if self._result is _NO_RESULT else self._result
        if error is None and self._outcome is Outcome.CANCELLED and self._result is _NO_RESULT:
            error = asyncio.CancelledError()
        return TaskRecord(
            uid=self.uid,
            name=self.name,
            state=self._state,
            outcome=self._outcome,
            priority=self._priority,
            created=self._created,
            started=self._started,
            finished=self._finished,
            attempts=self._attempts,
            result=result,
            error=error,
        )

    def __repr__(self) -> str:
        state = self._state.name
        if self._outcome is not None:
            state += f"/{self._outcome.name}"
        return f"<TaskHandle {self.uid} name={self.name!r} {state}>"


class _NoResult:
    """Marks a cancelled handle whose hooks set no result."""

    def __repr__(self) -> str:
        return "<no result>"


_NO_RESULT: Any = _NoResult()
