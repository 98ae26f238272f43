"""``TaskRunner``: N worker tasks taking jobs from a bounded priority queue.

It owns every state transition of a handle (queued -> running -> done), the
per-attempt timeout, retries with backoff, the cleanup hooks and the counters.
It uses only public asyncio APIs of the running loop (create_task,
create_future, call_later, call_exception_handler), so it runs on stock
asyncio, uvloop and pyloop; on pyloop every task and future it makes is native.

Each attempt, backoff pause and hook runs in a task of its own, so that
``handle.cancel()`` reaches exactly that job; the worker awaits it and is never
cancelled by the runner itself.
"""

from __future__ import annotations

import asyncio
import itertools
import random as _random
from collections.abc import Awaitable, Callable
from types import CoroutineType, FunctionType, TracebackType
from typing import Any, TypeVar, overload

from ._errors import QueueFull, RunnerClosedError
from ._events import EventKind, TaskEvent
from ._handle import (
    _NO_RESULT,
    PHASE_BACKOFF,
    PHASE_DONE,
    PHASE_HOOK,
    PHASE_RUN,
    TaskHandle,
)
from ._job import _UNSET, Job
from ._policies import Backoff, SubmitPolicy, _Mode
from ._queue import MAX_PRIORITY, MIN_PRIORITY, JobQueue, wait_item, wait_room
from ._states import Outcome, State
from ._stats import RunnerStats, SlidingWindow

T = TypeVar("T")

# Process-wide, so uids stay unique across runners (and readable in logs).
_seqs = itertools.count(1)

EventHook = Callable[[TaskEvent], None]

_COMPLETED, _FAILED, _TIMEOUT, _CANCELLED = Outcome
assert list(Outcome) == [_COMPLETED, _FAILED, _TIMEOUT, _CANCELLED]  # the counters' order
_PENDING, _RUNNING, _DONE = State


class TaskRunner:
    """A pool of ``workers`` coroutines fed by a queue of at most ``max_queue`` jobs.

    Use as ``async with TaskRunner(...) as runner:``; leaving the block drains
    the queue (``shutdown(drain=True)``), or cancels everything when the block
    raised. Parameters:

    - ``submit_policy``: what ``submit`` does on a full queue (``SubmitPolicy``).
    - ``hook_timeout``: seconds an ``on_timeout``/``on_cancel`` hook may take;
      an overrun or a hook's exception goes to the loop's exception handler.
    - ``backoff``: default ``Backoff`` for jobs submitted with ``retries``.
    - ``on_event``: called with a ``TaskEvent`` on submitted, started, retried
      and finished; its exceptions go to the loop's exception handler.
    - ``clock``: timestamps and stats (default: ``loop.time``). Timeouts always
      use the loop's timers.
    - ``sleep``, ``random``: the backoff pause and its jitter source (inject
      them to test retries without waiting; seed ``random`` for repeatability).
    - ``stats_window``, ``stats_samples``: the sliding window of ``stats()``.

    Retries: a job whose attempt raises an exception is retried up to
    ``retries`` times. A cancelled job is never retried, and neither is a timed
    out one (its ``on_timeout`` hook already settled its result; raise from
    ``run`` instead if a slow attempt should be retried).
    """

    def __init__(
        self,
        workers: int = 4,
        max_queue: int | None = None,
        submit_policy: SubmitPolicy = SubmitPolicy.WAIT,
        *,
        hook_timeout: float = 5.0,
        backoff: Backoff | None = None,
        on_event: EventHook | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        random: _random.Random | None = None,
        stats_window: float = 60.0,
        stats_samples: int = 10_000,
        name: str = "TaskRunner",
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if max_queue is not None and max_queue < 1:
            raise ValueError("max_queue must be >= 1 (or None for no bound)")
        if not isinstance(submit_policy, SubmitPolicy):
            raise TypeError("submit_policy must be a SubmitPolicy")
        if hook_timeout <= 0:
            raise ValueError("hook_timeout must be > 0")
        self._n_workers = workers
        self._policy = submit_policy
        self._hook_timeout = hook_timeout
        self._backoff = backoff if backoff is not None else Backoff()
        self._on_event = on_event
        self._clock_arg = clock
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._random = random if random is not None else _random.Random()
        self._name = name
        self._queue = JobQueue(max_queue)
        self._window = SlidingWindow(stats_window, stats_samples)
        self._window_add = self._window.add
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: Callable[[], float] = clock if clock is not None else _no_clock
        self._since = 0.0
        self._workers: list[asyncio.Task[None]] = []
        self._current: list[TaskHandle[Any] | None] = []  # per worker: the handle it runs
        self._closed = False
        self._submitted = 0
        self._running = 0
        self._unfinished = 0
        # Done counts by outcome, in Outcome's order; a list indexed through an
        # identity chain, since Enum.__hash__ is a Python-level call on 3.11.
        self._done = [0, 0, 0, 0]
        self._idle: list[asyncio.Future[None]] = []

    # --- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        """Start the workers on the running loop (``async with`` does this)."""
        if self._closed:
            raise RunnerClosedError("TaskRunner is shut down")
        if self._loop is not None:
            raise RuntimeError("TaskRunner is already started")
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self._clock_arg is None:
            self._clock = loop.time
        self._since = self._clock()
        self._current = [None] * self._n_workers
        self._workers = [
            loop.create_task(self._worker(i), name=f"{self._name}-worker-{i}")
            for i in range(self._n_workers)
        ]

    async def __aenter__(self) -> TaskRunner:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.shutdown(drain=exc_type is None)
        except asyncio.CancelledError:
            # Cancelled while draining: stop waiting for queued work, but still
            # leave nothing pending behind, then let the cancellation through.
            await self.shutdown(drain=False)
            raise

    async def shutdown(self, drain: bool = True) -> None:
        """Stop accepting jobs and wait until every admitted one is done.

        ``drain=True`` lets the workers finish the queue. ``drain=False`` cancels
        queued jobs (no hook: they never started) and running ones (their
        ``on_cancel`` hooks run). Submitters waiting for room get
        ``RunnerClosedError``. Safe to call again, also to escalate a drain.
        """
        if self._loop is not None and self._inside_job():
            raise RuntimeError(
                "shutdown() from inside one of this runner's jobs would wait forever"
            )
        self._closed = True
        self._queue.close()
        if self._loop is None:
            return
        if not drain:
            self._cancel_everything()
        pending = [w for w in self._workers if not w.done()]
        if pending:
            await asyncio.wait(pending)
        # Whichever call gets here first checks the workers, so nothing is reported twice.
        workers, self._workers = self._workers, []
        for worker in workers:
            # A worker only ends abnormally if something outside cancelled it
            # (or a bug): say so, and retrieve the exception so none is lost.
            if not worker.cancelled() and (error := worker.exception()) is not None:
                self._report(f"{worker.get_name()} failed", error)
        # Workers cancelled from outside leave their queue behind: settle it.
        for handle in self._queue.drain():
            self._finish(handle, Outcome.CANCELLED, _NO_RESULT, None)

    async def join(self) -> None:
        """Wait until no job is queued or running (the runner stays open)."""
        loop = self._loop_or_raise()
        while self._unfinished:
            waiter = loop.create_future()
            self._idle.append(waiter)
            await waiter

    @property
    def closed(self) -> bool:
        return self._closed

    # --- submitting ---------------------------------------------------------

    @overload
    async def submit(
        self,
        job: Job[T],
        /,
        *,
        name: str | None = ...,
        timeout: float | None = ...,
        priority: int = ...,
        retries: int = ...,
        backoff: Backoff | None = ...,
        policy: SubmitPolicy | None = ...,
    ) -> TaskHandle[T]: ...

    @overload
    async def submit(
        self,
        job: Callable[..., Awaitable[T]],
        /,
        *args: Any,
        name: str | None = ...,
        timeout: float | None = ...,
        priority: int = ...,
        retries: int = ...,
        backoff: Backoff | None = ...,
        policy: SubmitPolicy | None = ...,
    ) -> TaskHandle[T]: ...

    async def submit(
        self,
        job: Job[T] | Callable[..., Awaitable[T]],
        /,
        *args: Any,
        name: str | None = None,
        timeout: float | None = None,
        priority: int = 0,
        retries: int = 0,
        backoff: Backoff | None = None,
        policy: SubmitPolicy | None = None,
    ) -> TaskHandle[T]:
        """Queue a job and return its handle.

        ``job`` is a ``Job`` instance, or a coroutine function called with
        ``args`` on each attempt. ``timeout`` bounds each attempt (seconds);
        ``priority``: higher leaves the queue first, FIFO within one priority;
        ``retries``/``backoff``: extra attempts after an exception; ``policy``
        overrides the runner's submit policy for this call. On a full queue
        ``QueueFull`` (REJECT, or a bounded wait that ran out) leaves no trace.
        """
        if self._closed:
            raise RunnerClosedError("TaskRunner is shut down")
        loop = self._loop
        if loop is None:
            raise RuntimeError("TaskRunner is not started (use 'async with' or start())")
        # A coroutine function goes to the handle as (func, args): its FunctionJob
        # is built only if someone asks for handle.job (_start_attempt runs it).
        func: Callable[..., Awaitable[T]] | None = None
        if type(job) is FunctionType:
            func, job = job, None  # the common case first: isinstance(Job) is an ABC check
        elif isinstance(job, Job):
            if args:
                raise TypeError("a Job takes no arguments; give them to its constructor")
            if job._handle is not None:
                raise ValueError(f"{job!r} was already submitted")
        elif type(job) is CoroutineType or not callable(job):
            if type(job) is CoroutineType:
                job.close()  # it will never run; spare the 'never awaited' warning
            raise TypeError(
                "submit() takes a Job or a coroutine function and its arguments, "
                f"not {type(job).__name__}"
            )
        else:
            func, job = job, None
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be > 0")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if type(priority) is not int and not isinstance(priority, int):
            raise TypeError(f"priority must be an int, not {type(priority).__name__}")
        if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
            raise ValueError("priority must fit in 64 bits")
        queue = self._queue
        if queue.full():
            await self._wait_for_room(policy if policy is not None else self._policy)
        handle: TaskHandle[T] = TaskHandle(
            self,
            job,
            next(_seqs),
            name,
            priority,
            timeout,
            retries,
            backoff if backoff is not None else self._backoff,
            self._clock(),
            func,
            args,
        )
        if job is not None:
            # A function job needs no way back from its job: no reference
            # cycle, so 100k finished jobs are freed without the GC.
            job._handle = handle
        self._submitted += 1
        self._unfinished += 1
        queue.put(handle, priority)
        if self._on_event is not None:
            self._emit(EventKind.SUBMITTED, handle)
        return handle

    async def _wait_for_room(self, policy: SubmitPolicy) -> None:
        queue = self._queue
        if policy.mode is _Mode.REJECT:
            raise QueueFull(f"{self._name} queue is full ({len(queue)} jobs)")
        loop = self._loop_or_raise()
        if policy.timeout is None:
            # The backpressure path of a busy runner: no timeout context here,
            # since asyncio.timeout() costs more than the rest of submit.
            while queue.full() and not self._closed:
                await wait_room(queue, loop)
        else:
            await self._wait_for_room_within(policy.timeout)
        if self._closed:
            raise RunnerClosedError("TaskRunner is shut down")

    async def _wait_for_room_within(self, timeout: float) -> None:
        queue = self._queue
        loop = self._loop_or_raise()
        try:
            async with asyncio.timeout(timeout):
                while queue.full() and not self._closed:
                    await wait_room(queue, loop)
        except TimeoutError:
            raise QueueFull(
                f"{self._name} queue stayed full for {timeout} s ({len(queue)} jobs)"
            ) from None

    # --- observing ----------------------------------------------------------

    def stats(self) -> RunnerStats:
        """Counts now, plus throughput and latency over the sliding window."""
        now = self._clock() if self._loop is not None else self._since
        throughput, p50, p90, p99, samples = self._window.figures(now, self._since)
        return RunnerStats(
            queued=len(self._queue),
            running=self._running,
            done=dict(zip(Outcome, self._done, strict=True)),
            submitted=self._submitted,
            throughput=throughput,
            latency_p50=p50,
            latency_p90=p90,
            latency_p99=p99,
            window=self._window.window,
            samples=samples,
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._loop else "not started"
        return (
            f"<TaskRunner {self._name!r} {state} workers={self._n_workers} "
            f"queued={len(self._queue)} running={self._running}>"
        )

    # --- workers ------------------------------------------------------------

    async def _worker(self, index: int) -> None:
        queue = self._queue
        loop = self._loop_or_raise()
        current = self._current
        clock = self._clock
        while True:
            handle = queue.pop()
            if handle is None:
                if queue.closed:
                    return
                await wait_item(queue, loop)
                continue
            current[index] = handle
            handle._begin(_RUNNING, PHASE_RUN, clock())
            self._running += 1
            try:
                if handle._timeout is None and self._on_event is None:
                    # The common case, inline (no coroutine of its own): a first
                    # attempt with no timer and no events. Anything but a
                    # result goes to _execute, which re-reads the ended attempt.
                    handle._attempts = 1
                    task = loop.create_task(handle._start_attempt())
                    handle._task = task
                    try:
                        result = await task
                    except BaseException:
                        await self._execute(handle, loop, task)
                    else:
                        self._finish(handle, _COMPLETED, result, None)
                else:
                    await self._execute(handle, loop, None)
            finally:
                current[index] = None

    async def _execute(
        self,
        handle: TaskHandle[Any],
        loop: asyncio.AbstractEventLoop,
        ended: asyncio.Future[Any] | None,
    ) -> None:
        """Run the attempts of a started job; ``ended`` is a first attempt that
        already ended (the worker's inline path), read again here."""
        timeout = handle._timeout
        while True:
            rereading = ended is not None
            if ended is None:
                handle._attempts += 1
                if self._on_event is not None:
                    self._emit(EventKind.STARTED, handle)
                task = loop.create_task(handle._start_attempt())
                handle._task = task
                timer = None if timeout is None else loop.call_later(timeout, _expire, handle, task)
            else:
                task, ended, timer = ended, None, None
            try:
                result = await task
            except asyncio.CancelledError:
                if timer is not None:
                    timer.cancel()
                self._check_worker_cancelled(handle)
                await self._settle_interrupted(handle)
                return
            except Exception as exc:
                if timer is not None:
                    timer.cancel()
                if not await self._after_failure(handle, exc):
                    return
                continue
            except BaseException as exc:  # SystemExit and the like: recorded, never retried
                if timer is not None:
                    timer.cancel()
                self._finish(handle, _FAILED, None, exc)
                return
            if timer is not None:
                timer.cancel()
            # A cancel() that came after the job's last step does not undo its
            # result, as with an asyncio Task whose coroutine already returned.
            self._finish(handle, _COMPLETED, result, None)
            if rereading:
                # The worker came here on an exception, yet the attempt had
                # succeeded: what reached the worker was its own cancellation
                # (cancelled after the attempt ended). Keep the result, then stop.
                raise asyncio.CancelledError()
            return

    async def _after_failure(self, handle: TaskHandle[Any], error: Exception) -> bool:
        """An attempt raised: True to run another attempt, else the job is done."""
        if handle._attempts > handle._retries or handle._cancel_requested:
            self._finish(handle, _FAILED, None, error)
            return False
        return await self._pause_before_retry(handle, error)

    async def _pause_before_retry(self, handle: TaskHandle[Any], error: Exception) -> bool:
        """Backoff between attempts; False if the job was cancelled meanwhile (then done)."""
        delay = handle._backoff.delay(handle._attempts, self._random)
        if self._on_event is not None:
            self._emit(EventKind.RETRIED, handle, error=error, delay=delay)
        loop = self._loop_or_raise()
        task = loop.create_task(_pause(self._sleep, delay))
        handle._task = task
        handle._phase = PHASE_BACKOFF
        try:
            await task
        except asyncio.CancelledError:
            self._check_worker_cancelled(handle)
        except Exception as exc:
            # The injected sleep failed: say so, and retry without the pause.
            self._report(f"backoff sleep of {handle!r} failed", exc, handle)
        if handle._cancel_requested:
            await self._settle_interrupted(handle)
            return False
        handle._phase = PHASE_RUN
        return True

    async def _settle_interrupted(self, handle: TaskHandle[Any]) -> None:
        """An attempt (or pause) ended cancelled: run the right hook, then finish."""
        job = handle.job
        if handle._timed_out and not handle._force:
            outcome = Outcome.TIMEOUT
            hook = "on_timeout"
        elif handle._cancel_requested:
            outcome = Outcome.CANCELLED
            hook = None if handle._force else "on_cancel"
        else:
            # The job raised CancelledError by itself: nobody asked, no hook.
            outcome = Outcome.CANCELLED
            hook = None
        if hook is not None and job._has_hook(hook):
            await self._run_hook(handle, hook)
            if handle._force:  # cancel(force=True) interrupted the hook
                outcome = Outcome.CANCELLED
        final = job._final
        if final is not _UNSET:
            self._finish(handle, outcome, final, None)
        elif outcome is Outcome.TIMEOUT:
            error = TimeoutError(f"job {handle.uid} timed out after {handle._timeout} s")
            self._finish(handle, outcome, None, error)
        else:
            self._finish(handle, outcome, _NO_RESULT, None)

    async def _run_hook(self, handle: TaskHandle[Any], hook: str) -> None:
        loop = self._loop_or_raise()
        task = loop.create_task(_call(getattr(handle.job, hook)))
        handle._task = task
        handle._phase = PHASE_HOOK
        overran: list[bool] = []

        def expire() -> None:
            overran.append(True)
            task.cancel()

        timer = loop.call_later(self._hook_timeout, expire)
        try:
            await task
        except asyncio.CancelledError:
            self._check_worker_cancelled(handle)
            if overran and not handle._force:
                self._report(
                    f"{hook} hook of {handle!r} did not finish within {self._hook_timeout} s",
                    TimeoutError(f"{hook} hook timed out"),
                    handle,
                )
        except Exception as exc:
            self._report(f"{hook} hook of {handle!r} failed", exc, handle)
        finally:
            timer.cancel()

    def _check_worker_cancelled(self, handle: TaskHandle[Any]) -> None:
        """Re-raise if the worker itself is being cancelled (from outside the
        runner); the handle is then settled as CANCELLED, without hooks."""
        worker = asyncio.current_task()
        if worker is not None and worker.cancelling():
            if handle._task is not None and not handle._task.done():
                handle._task.cancel()
            if handle._state is not _DONE:
                self._finish(handle, Outcome.CANCELLED, _NO_RESULT, None)
            raise asyncio.CancelledError()

    # --- transitions --------------------------------------------------------

    def _cancel(self, handle: TaskHandle[Any], force: bool) -> bool:
        state = handle._state
        if state is _DONE:
            return False
        if state is _PENDING:
            self._queue.discard(handle)
            self._finish(handle, Outcome.CANCELLED, _NO_RESULT, None)
            return True
        if handle._phase == PHASE_HOOK or handle._cancel_requested or handle._timed_out:
            # Cleanup is under way or about to be: only force can still cut it short.
            if not force or handle._force:
                return False
            handle._force = True
            handle._cancel_requested = True
            if handle._phase == PHASE_HOOK and handle._task is not None:
                handle._task.cancel()
            return True
        handle._cancel_requested = True
        handle._force = force
        if handle._task is not None:
            handle._task.cancel()
        return True

    def _cancel_everything(self) -> None:
        for handle in self._queue.drain():
            self._finish(handle, Outcome.CANCELLED, _NO_RESULT, None)
        for handle in self._current:
            if handle is not None:
                handle.cancel()

    def _finish(
        self, handle: TaskHandle[Any], outcome: Outcome, result: Any, error: BaseException | None
    ) -> None:
        if handle._state is _RUNNING:
            self._running -= 1
        now = self._clock()
        # One native call sets state, outcome, result, error (and its traceback),
        # finish time, drops the task, and hands back the waiters to wake.
        waiters = handle._settle(_DONE, PHASE_DONE, outcome, result, error, now)
        done = self._done
        if outcome is _COMPLETED:
            done[0] += 1
        elif outcome is _FAILED:
            done[1] += 1
        elif outcome is _TIMEOUT:
            done[2] += 1
        else:
            done[3] += 1
        self._window_add((now, now - handle._created))
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        if self._on_event is not None:
            self._emit(EventKind.FINISHED, handle, outcome=outcome, error=error)
        self._unfinished -= 1
        if not self._unfinished and self._idle:
            idle, self._idle = self._idle, []
            for waiter in idle:
                if not waiter.done():
                    waiter.set_result(None)

    # --- helpers ------------------------------------------------------------

    def _emit(self, kind: EventKind, handle: TaskHandle[Any], **extra: Any) -> None:
        hook = self._on_event
        if hook is None:
            return
        event = TaskEvent(
            kind, handle.uid, handle.name, self._clock(), handle._attempts, handle, **extra
        )
        try:
            hook(event)
        except Exception as exc:
            self._report(f"on_event hook failed on {kind.value} of {handle!r}", exc, handle)

    def _report(
        self, message: str, exc: BaseException, handle: TaskHandle[Any] | None = None
    ) -> None:
        context: dict[str, Any] = {"message": message, "exception": exc, "runner": self}
        if handle is not None:
            context["task_handle"] = handle
        self._loop_or_raise().call_exception_handler(context)

    def _inside_job(self) -> bool:
        me = asyncio.current_task()
        return me is not None and any(h is not None and h._task is me for h in self._current)

    def _loop_or_raise(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("TaskRunner is not started (use 'async with' or start())")
        return self._loop


def _expire(handle: TaskHandle[Any], task: asyncio.Future[Any]) -> None:
    """The attempt's timer: cancel the attempt unless it ended or a cancel beat us."""
    if handle._task is task and not task.done() and not handle._cancel_requested:
        handle._timed_out = True
        task.cancel()


async def _pause(sleep: Callable[[float], Awaitable[Any]], delay: float) -> None:
    await sleep(delay)


async def _call(hook: Callable[[], Awaitable[None]]) -> None:
    """A hook inside a coroutine of ours, so a hook that is not ``async def``
    fails in its task (and is reported) instead of in the worker."""
    await hook()


def _no_clock() -> float:
    raise RuntimeError("TaskRunner is not started (use 'async with' or start())")


__all__ = ["TaskRunner"]
