"""TaskHandle: each state transition, the result/exception accessors, records,
uids and waiting. Every test runs on asyncio and on pyloop (the `loop` fixture)."""

from __future__ import annotations

import asyncio

import pytest
from task_runner_support import GateJob, ManualClock, call_log, run, settle

from pyloop.tasks import (
    InvalidStateError,
    Job,
    Outcome,
    RunnerClosedError,
    State,
    TaskRecord,
    TaskRunner,
)


async def _double(x: int) -> int:
    return 2 * x


async def _fail() -> None:
    raise ValueError("bad input")


def test_pending_running_done_completed(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(workers=1) as runner:
            blocker = GateJob("first")
            first = await runner.submit(blocker)
            second = await runner.submit(_double, 21)
            assert first.state is State.PENDING and second.state is State.PENDING
            await blocker.entered.wait()
            assert first.state is State.RUNNING and first.outcome is None
            assert second.state is State.PENDING  # one worker, and it is busy
            blocker.gate.set()
            assert await first == "first"
            assert await second == 42
            assert (second.state, second.outcome) == (State.DONE, Outcome.COMPLETED)
            assert second.result() == 42 and second.exception() is None
            assert second.done() and not second.cancelled()

    run(loop, main())


def test_failed_job_keeps_its_error(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(workers=2) as runner:
            handle = await runner.submit(_fail)
            assert await handle.wait() is True
            assert handle.outcome is Outcome.FAILED
            error = handle.exception()
            assert isinstance(error, ValueError) and str(error) == "bad input"
            with pytest.raises(ValueError, match="bad input"):
                handle.result()
            with pytest.raises(ValueError, match="bad input"):
                await handle
            assert handle.attempts == 1
            depths = []
            for _ in range(3):
                with pytest.raises(ValueError) as info:
                    handle.result()
                depths.append(len(info.traceback))
            assert depths[0] == depths[1] == depths[2]  # reading does not grow the traceback

    run(loop, main())


def test_result_and_exception_before_done_raise_invalid_state(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> None:
        async with TaskRunner(workers=1) as runner:
            job = GateJob()
            handle = await runner.submit(job)
            for read in (handle.result, handle.exception):
                with pytest.raises(InvalidStateError, match="is not done"):
                    read()
                with pytest.raises(asyncio.InvalidStateError):  # asyncio's clause still works
                    read()
            job.gate.set()
            await handle

    run(loop, main())


def test_wait_with_timeout_does_not_cancel_the_job(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(workers=1) as runner:
            job = GateJob("late")
            handle = await runner.submit(job)
            assert await handle.wait(timeout=0.001) is False
            assert handle.state is State.RUNNING
            job.gate.set()
            assert await handle.wait(timeout=60) is True
            assert handle.result() == "late"

    run(loop, main())


def test_uids_are_unique_stable_and_printable(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(workers=2) as a, TaskRunner(workers=2) as b:
            handles = [await a.submit(_double, i) for i in range(5)]
            handles += [await b.submit(_double, i) for i in range(5)]
            uids = [h.uid for h in handles]
            assert len(set(uids)) == 10
            assert all(isinstance(u, str) and u.isprintable() and u for u in uids)
            await asyncio.gather(*handles)
            assert [h.uid for h in handles] == uids
            assert all(h.uid in repr(h) for h in handles)

    run(loop, main())


def test_record_is_a_frozen_snapshot_with_times(loop: asyncio.AbstractEventLoop) -> None:
    clock = ManualClock(10.0)

    async def main() -> None:
        async with TaskRunner(workers=1, clock=clock) as runner:
            job = GateJob("v")
            handle = await runner.submit(job, name="report")
            queued = handle.record()
            clock.now = 11.0
            await job.entered.wait()
            running = handle.record()
            clock.now = 13.5
            job.gate.set()
            await handle
            done = handle.record()
        assert isinstance(done, TaskRecord)
        assert queued == TaskRecord(
            handle.uid, "report", State.PENDING, None, 0, 10.0, None, None, 0, None, None
        )
        assert (running.state, running.started, running.attempts) == (State.RUNNING, 11.0, 1)
        assert (done.state, done.outcome, done.result, done.error) == (
            State.DONE,
            Outcome.COMPLETED,
            "v",
            None,
        )
        assert (done.created, done.started, done.finished) == (10.0, 11.0, 13.5)
        with pytest.raises(AttributeError):
            done.result = "changed"  # type: ignore[misc]

    run(loop, main())


def test_default_name_is_the_uid_and_name_is_kept(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner() as runner:
            unnamed = await runner.submit(_double, 1)
            named = await runner.submit(_double, 2, name="double-two")
            await asyncio.gather(unnamed, named)
            assert unnamed.name == unnamed.uid
            assert named.name == "double-two"

    run(loop, main())


def test_job_subclass_and_function_each_run_once_per_attempt(
    loop: asyncio.AbstractEventLoop,
) -> None:
    log, job = call_log()

    class Counting(Job[int]):
        runs = 0

        async def run(self) -> int:
            type(self).runs += 1
            return self.attempt

    async def main() -> None:
        async with TaskRunner(workers=3) as runner:
            handles = [await runner.submit(job, i) for i in range(6)]
            counted = await runner.submit(Counting())
            assert [await h for h in handles] == list(range(6))
            assert await counted == 1
        assert sorted(log) == list(range(6)) and Counting.runs == 1
        assert counted.job.handle is counted

    run(loop, main())


def test_submit_rejects_bad_input_without_a_trace(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner() as runner:
            coro = _double(1)
            with pytest.raises(TypeError, match="coroutine function"):
                await runner.submit(coro)  # type: ignore[call-overload]
            with pytest.raises(ValueError, match="timeout"):
                await runner.submit(_double, 1, timeout=0)
            with pytest.raises(ValueError, match="retries"):
                await runner.submit(_double, 1, retries=-1)
            job = GateJob()
            job.gate.set()
            await runner.submit(job)
            with pytest.raises(ValueError, match="already submitted"):
                await runner.submit(job)
            assert runner.stats().submitted == 1

    run(loop, main())  # and no 'coroutine was never awaited' warning (warnings are errors)


def test_submit_outside_the_runner_lifetime(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        runner = TaskRunner()
        with pytest.raises(RuntimeError, match="not started"):
            await runner.submit(_double, 1)
        async with runner:
            pass
        with pytest.raises(RunnerClosedError, match="shut down"):
            await runner.submit(_double, 1)

    run(loop, main())


def test_a_job_returning_an_awaitable_that_is_not_a_coroutine(
    loop: asyncio.AbstractEventLoop,
) -> None:
    def future_job() -> asyncio.Future[str]:
        fut = asyncio.get_running_loop().create_future()
        fut.set_result("from a future")
        return fut

    async def main() -> None:
        async with TaskRunner() as runner:
            handle = await runner.submit(future_job)  # type: ignore[arg-type]
            assert await handle == "from a future"

    run(loop, main())


def test_join_waits_for_idle_and_keeps_the_runner_open(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(workers=2) as runner:
            handles = [await runner.submit(_double, i) for i in range(10)]
            await runner.join()
            assert all(h.done() for h in handles)
            assert not runner.closed
            again = await runner.submit(_double, 5)
            await settle()
            assert await again == 10

    run(loop, main())


class _Holder(Job[None]):
    async def run(self) -> None:
        pass


def test_finished_handle_and_job_cycle_is_collected(loop: asyncio.AbstractEventLoop) -> None:
    """A Job and its handle point at each other (job.handle, handle.job): the
    native handle must show its references to the GC, or the pair leaks."""
    import gc
    import weakref

    async def main() -> weakref.ref[_Holder]:
        async with TaskRunner(workers=1) as runner:
            job = _Holder()
            handle = await runner.submit(job)
            await handle
        return weakref.ref(job)

    gc.collect()
    job_ref = run(loop, main())
    gc.collect()
    assert job_ref() is None


def test_function_job_is_made_on_demand_and_kept(loop: asyncio.AbstractEventLoop) -> None:
    """A coroutine function's FunctionJob is built only when handle.job is
    read, once: a result set through it before a timeout is the job's result."""

    async def main() -> None:
        never = asyncio.Event()
        async with TaskRunner(workers=1) as runner:
            handle = await runner.submit(never.wait, timeout=0.001)
            job = handle.job
            assert handle.job is job and job.handle is None
            job.set_result("partial")
            assert await handle == "partial"
            assert handle.outcome is Outcome.TIMEOUT and handle.job is job

    run(loop, main())
