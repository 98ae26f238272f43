"""Shutdown in both modes, the context manager's exits, and the promise that
nothing is left pending: every admitted job ends DONE, whatever stops the runner."""

from __future__ import annotations

import asyncio

import pytest
from task_runner_support import GateJob, call_log, reports, run, settle

from pyloop.tasks import Outcome, RunnerClosedError, State, TaskHandle, TaskRunner


async def _busy_runner(runner: TaskRunner) -> tuple[GateJob, list[GateJob], list[TaskHandle[str]]]:
    """One worker busy with a running job, three jobs queued behind it."""
    running = GateJob("running")
    queued = [GateJob(f"q{i}") for i in range(3)]
    handles = [await runner.submit(running)]
    await running.entered.wait()
    handles += [await runner.submit(job) for job in queued]
    return running, queued, handles


def test_drain_finishes_queued_work(loop: asyncio.AbstractEventLoop) -> None:
    log, job = call_log()

    async def main() -> None:
        runner = TaskRunner(workers=2)
        runner.start()
        handles = [await runner.submit(job, i) for i in range(20)]
        await runner.shutdown(drain=True)
        assert runner.closed
        assert [h.outcome for h in handles] == [Outcome.COMPLETED] * 20
        assert sorted(log) == list(range(20))
        await runner.shutdown()  # again: nothing left to do

    run(loop, main())


def test_no_drain_cancels_queued_and_hooks_the_running(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        runner = TaskRunner(workers=1)
        runner.start()
        running, queued, handles = await _busy_runner(runner)
        await runner.shutdown(drain=False)
        assert all(h.state is State.DONE for h in handles)
        assert [h.outcome for h in handles] == [Outcome.CANCELLED] * 4
        assert running.hooks == ["on_cancel"] and handles[0].result() == "cancelled:running"
        assert all(job.hooks == [] and not job.entered.is_set() for job in queued)
        stats = runner.stats()
        assert (stats.queued, stats.running, stats.cancelled) == (0, 0, 4)

    run(loop, main())


def test_context_exit_drains(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(workers=1) as runner:
            running, queued, handles = await _busy_runner(runner)
            for job in (running, *queued):
                job.gate.set()
        assert [h.result() for h in handles] == ["running", "q0", "q1", "q2"]

    run(loop, main())


def test_context_exit_with_an_error_cancels_everything(loop: asyncio.AbstractEventLoop) -> None:
    handles: list[TaskHandle[str]] = []

    async def main() -> None:
        async with TaskRunner(workers=1) as runner:
            _, _, started = await _busy_runner(runner)
            handles.extend(started)
            raise LookupError("caller failed")

    with pytest.raises(LookupError, match="caller failed"):
        run(loop, main())
    assert [h.outcome for h in handles] == [Outcome.CANCELLED] * 4


def test_cancelled_while_draining_still_leaves_nothing_pending(
    loop: asyncio.AbstractEventLoop,
) -> None:
    handles: list[TaskHandle[str]] = []
    draining = asyncio.Event()

    async def body() -> None:
        async with TaskRunner(workers=1) as runner:
            _, _, started = await _busy_runner(runner)
            handles.extend(started)
            draining.set()

    async def main() -> None:
        task = asyncio.ensure_future(body())
        await draining.wait()
        await settle()  # the block has exited and is draining (the gates never open)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(loop, main())
    assert all(h.done() for h in handles) and len(handles) == 4
    assert {h.outcome for h in handles} == {Outcome.CANCELLED}


def test_hung_hooks_cannot_hang_shutdown(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        runner = TaskRunner(workers=2, hook_timeout=0.001)
        runner.start()
        jobs = [GateJob(str(i), hang_hooks=True) for i in range(2)]
        handles = [await runner.submit(job) for job in jobs]
        for job in jobs:
            await job.entered.wait()
        await runner.shutdown(drain=False)
        assert [h.outcome for h in handles] == [Outcome.CANCELLED] * 2
        assert all(job.hook_saw_cancel for job in jobs)

    with reports(loop) as seen:
        run(loop, main())
    assert len(seen) == 2 and all(isinstance(c["exception"], TimeoutError) for c in seen)


def test_workers_cancelled_from_outside_settle_their_jobs(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """What asyncio.run does to tasks left running at exit: cancel them all.
    The handles still end DONE, and shutdown settles the queue behind them."""

    async def main() -> None:
        runner = TaskRunner(workers=1)
        runner.start()
        running, _, handles = await _busy_runner(runner)
        me = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not me:
                task.cancel()
        await settle()
        await runner.shutdown()
        assert all(h.done() for h in handles)
        assert {h.outcome for h in handles} == {Outcome.CANCELLED}
        assert running.hooks == []  # the worker itself was cancelled: no hook
        assert runner.stats().cancelled == 4

    run(loop, main())


def test_shutdown_from_inside_a_job_is_refused(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner() as runner:

            async def stops_runner() -> None:
                await runner.shutdown()

            handle = await runner.submit(stops_runner)
            await handle.wait()
            with pytest.raises(RuntimeError, match="would wait forever"):
                handle.result()
            assert not runner.closed  # refused before it changed anything
            assert await (await runner.submit(asyncio.sleep, 0, "still open")) == "still open"

    run(loop, main())


def test_submit_after_shutdown_and_start_twice(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        runner = TaskRunner()
        runner.start()
        with pytest.raises(RuntimeError, match="already started"):
            runner.start()
        await runner.shutdown()
        job = GateJob()
        with pytest.raises(RunnerClosedError):
            await runner.submit(job)
        assert job.handle is None
        with pytest.raises(RunnerClosedError):
            runner.start()

    run(loop, main())


def test_worker_cancelled_just_after_an_attempt_succeeded(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The worker's cancellation arrives after the attempt ended but before the
    worker resumed: the job keeps its result and the worker still stops (a
    worker that swallowed it would hang asyncio.run's final clean-up)."""

    async def main() -> None:
        runner = TaskRunner(workers=1, name="solo")
        runner.start()
        workers = [t for t in asyncio.all_tasks() if t.get_name() == "solo-worker-0"]
        assert len(workers) == 1

        async def cancels_its_worker() -> str:
            # Runs before the worker's wake-up, which this return schedules.
            asyncio.get_running_loop().call_soon(workers[0].cancel)
            return "kept"

        handle = await runner.submit(cancels_its_worker)
        await handle.wait()
        await runner.shutdown()
        assert handle.result() == "kept"
        assert workers[0].cancelled()

    run(loop, main())


def test_retry_after_the_inline_first_attempt_then_success(
    loop: asyncio.AbstractEventLoop,
) -> None:
    calls = 0

    async def no_sleep(delay: float) -> None:
        pass

    async def second_time() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("first")
        return calls

    async def main() -> None:
        async with TaskRunner(workers=1, sleep=no_sleep) as runner:
            handle = await runner.submit(second_time, retries=1)
            assert await handle == 2
            follow_up = await runner.submit(second_time)
            assert await follow_up == 3  # the worker carried on

    run(loop, main())
