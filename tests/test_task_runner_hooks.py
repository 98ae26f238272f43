"""Timeouts, cancellation and the cleanup hooks: each hook, force, the hooks'
own time bound, and cancellation races (while queued, while running, during a
backoff pause, while a cleanup hook runs). Timeouts are tiny, against jobs that
wait on events nobody sets, so nothing depends on the machine's speed."""

from __future__ import annotations

import asyncio

import pytest
from task_runner_support import GateJob, reports, run, settle

from pyloop.tasks import Job, Outcome, State, TaskRunner

TINY = 0.001  # a timeout that must fire: the job waits on an event that is never set


async def _forever() -> None:
    await asyncio.Event().wait()


def test_timeout_runs_on_timeout_which_sets_a_partial_result(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> None:
        async with TaskRunner() as runner:
            job = GateJob("report")
            handle = await runner.submit(job, timeout=TINY, retries=3)
            assert await handle == "partial:report"
        assert (handle.outcome, handle.attempts, job.hooks) == (Outcome.TIMEOUT, 1, ["on_timeout"])
        assert handle.exception() is None and handle.record().result == "partial:report"

    run(loop, main())


def test_timeout_without_hook_raises_timeout_error_and_is_not_retried(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> None:
        async with TaskRunner() as runner:
            handle = await runner.submit(_forever, timeout=TINY, retries=2)
            with pytest.raises(TimeoutError, match="timed out after"):
                await handle
        assert (handle.outcome, handle.attempts) == (Outcome.TIMEOUT, 1)
        assert isinstance(handle.exception(), TimeoutError)
        assert isinstance(handle.record().error, TimeoutError)

    run(loop, main())


def test_run_can_leave_a_partial_result_for_a_timeout(loop: asyncio.AbstractEventLoop) -> None:
    class Progress(Job[list[int]]):
        async def run(self) -> list[int]:
            done: list[int] = []
            for i in range(3):
                done.append(i)
                self.set_result(list(done))
            await asyncio.Event().wait()
            return done

    async def main() -> None:
        async with TaskRunner() as runner:
            assert await (await runner.submit(Progress(), timeout=TINY)) == [0, 1, 2]

    run(loop, main())


def test_cancel_while_queued_runs_no_hook(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(workers=1) as runner:
            blocker = GateJob("blocker")
            await runner.submit(blocker)
            await blocker.entered.wait()
            queued_job = GateJob("queued")
            handle = await runner.submit(queued_job)
            assert handle.cancel() is True
            assert (handle.state, handle.outcome) == (State.DONE, Outcome.CANCELLED)
            assert handle.cancel() is False  # already done
            assert runner.stats().queued == 0
            blocker.gate.set()
        assert not queued_job.entered.is_set() and queued_job.hooks == []
        assert handle.started is None and handle.attempts == 0
        with pytest.raises(asyncio.CancelledError):
            handle.result()
        with pytest.raises(asyncio.CancelledError):
            handle.exception()
        assert isinstance(handle.record().error, asyncio.CancelledError)

    run(loop, main())


def test_cancel_while_running_runs_on_cancel(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner() as runner:
            job = GateJob("x")
            handle = await runner.submit(job, retries=5)
            await job.entered.wait()
            assert handle.cancel() is True
            assert await handle == "cancelled:x"  # the hook's result
        assert (handle.outcome, handle.attempts, job.hooks) == (Outcome.CANCELLED, 1, ["on_cancel"])
        assert handle.cancelled()

    run(loop, main())


def test_forced_cancel_skips_the_hook(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner() as runner:
            job = GateJob("x")
            handle = await runner.submit(job)
            await job.entered.wait()
            assert handle.cancel(force=True) is True
            with pytest.raises(asyncio.CancelledError):
                await handle
        assert job.hooks == [] and handle.outcome is Outcome.CANCELLED

    run(loop, main())


def test_cancel_during_the_cancel_hook_lets_it_finish(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner() as runner:
            job = GateJob("x", hang_hooks=True)
            handle = await runner.submit(job)
            await job.entered.wait()
            handle.cancel()
            await job.hook_entered.wait()
            assert handle.state is State.RUNNING
            assert handle.cancel() is False  # cleanup is under way already
            job.hook_gate.set()
            assert await handle == "cancelled:x"
        assert not job.hook_saw_cancel

    run(loop, main())


def test_forced_cancel_interrupts_a_running_hook(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner() as runner:
            job = GateJob("x", hang_hooks=True)
            handle = await runner.submit(job, timeout=TINY)
            await job.hook_entered.wait()
            assert job.hooks == ["on_timeout"]
            assert handle.cancel(force=True) is True
            assert handle.cancel(force=True) is False  # nothing left to force
            await handle.wait()
        assert job.hook_saw_cancel
        assert handle.outcome is Outcome.CANCELLED  # forced: the timeout's cleanup never ended
        with pytest.raises(asyncio.CancelledError):
            handle.result()

    run(loop, main())


def test_hooks_are_bounded_by_hook_timeout_and_reported(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(hook_timeout=TINY) as runner:
            job = GateJob("x", hang_hooks=True)
            handle = await runner.submit(job)
            await job.entered.wait()
            handle.cancel()
            await handle.wait()
        assert job.hook_saw_cancel and handle.outcome is Outcome.CANCELLED

    with reports(loop) as seen:
        run(loop, main())
    assert len(seen) == 1
    assert "on_cancel hook of" in seen[0]["message"] and "did not finish" in seen[0]["message"]
    assert isinstance(seen[0]["exception"], TimeoutError)
    assert seen[0]["task_handle"].outcome is Outcome.CANCELLED


def test_a_failing_hook_is_reported_and_the_job_still_settles(
    loop: asyncio.AbstractEventLoop,
) -> None:
    class BadCleanup(Job[None]):
        async def run(self) -> None:
            await asyncio.Event().wait()

        async def on_timeout(self) -> None:
            raise OSError("cleanup failed")

    async def main() -> None:
        async with TaskRunner() as runner:
            handle = await runner.submit(BadCleanup(), timeout=TINY)
            await handle.wait()
        assert handle.outcome is Outcome.TIMEOUT
        assert isinstance(handle.exception(), TimeoutError)

    with reports(loop) as seen:
        run(loop, main())
    assert [type(c["exception"]) for c in seen] == [OSError]
    assert "on_timeout hook of" in seen[0]["message"]


def test_cancel_during_backoff_stops_retries(loop: asyncio.AbstractEventLoop) -> None:
    pausing = asyncio.Event()
    attempts = 0

    async def stuck_sleep(delay: float) -> None:
        pausing.set()
        await asyncio.Event().wait()

    class Flaky(GateJob):
        async def run(self) -> str:
            nonlocal attempts
            attempts += 1
            raise ConnectionError("down")

    async def main() -> None:
        async with TaskRunner(sleep=stuck_sleep) as runner:
            job = Flaky("f")
            handle = await runner.submit(job, retries=3)
            await pausing.wait()
            assert handle.state is State.RUNNING
            assert handle.cancel() is True
            assert await handle == "cancelled:f"  # a started job gets its cancel hook
        assert attempts == 1 and handle.outcome is Outcome.CANCELLED

    run(loop, main())


def test_a_job_cancelling_itself_is_not_retried_and_gets_no_hook(
    loop: asyncio.AbstractEventLoop,
) -> None:
    class SelfCancel(GateJob):
        async def run(self) -> str:
            raise asyncio.CancelledError()

    async def main() -> None:
        async with TaskRunner() as runner:
            job = SelfCancel()
            handle = await runner.submit(job, retries=3)
            await handle.wait()
        assert (handle.outcome, handle.attempts, job.hooks) == (Outcome.CANCELLED, 1, [])

    run(loop, main())


def test_cancel_racing_the_timeout(loop: asyncio.AbstractEventLoop) -> None:
    """A cancel that lands after the timeout fired, before the cleanup started,
    cannot turn the timeout into a cancellation; a forced one can (no hook)."""
    answers: dict[str, bool] = {}

    class CancelsOnTimeout(GateJob):
        def __init__(self, value: str, force: bool) -> None:
            super().__init__(value)
            self.force = force

        async def run(self) -> str:
            try:
                return await super().run()
            except asyncio.CancelledError:
                # The timeout has just cancelled this attempt: cancel() now.
                assert self.handle is not None
                answers[self.value] = self.handle.cancel(force=self.force)
                raise

    async def main() -> None:
        async with TaskRunner() as runner:
            gentle, forced = CancelsOnTimeout("g", False), CancelsOnTimeout("f", True)
            handles = [await runner.submit(job, timeout=TINY) for job in (gentle, forced)]
            await asyncio.gather(*(h.wait() for h in handles))
        assert answers == {"g": False, "f": True}
        assert (handles[0].outcome, gentle.hooks) == (Outcome.TIMEOUT, ["on_timeout"])
        assert (handles[1].outcome, forced.hooks) == (Outcome.CANCELLED, [])

    run(loop, main())


def test_cancel_done_handle_returns_false(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner() as runner:
            job = GateJob()
            job.gate.set()
            handle = await runner.submit(job)
            await handle
            await settle()
            assert handle.cancel() is False and handle.cancel(force=True) is False
            assert handle.outcome is Outcome.COMPLETED

    run(loop, main())


def test_jobs_that_cannot_start_fail_without_killing_a_worker(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def takes_one(x: int) -> int:
        return x

    def not_async() -> int:
        return 5

    class SyncRun(Job[int]):
        def run(self) -> int:  # type: ignore[override]
            return 1

    async def main() -> None:
        async with TaskRunner(workers=1) as runner:
            wrong_args = await runner.submit(takes_one, 1, 2)
            plain = await runner.submit(not_async)  # type: ignore[arg-type]
            sync_job = await runner.submit(SyncRun())
            timed = await runner.submit(takes_one, timeout=5.0)
            after = await runner.submit(takes_one, 7)
            assert await after == 7  # the one worker survived all of them
        for handle in (wrong_args, plain, sync_job, timed):
            assert handle.outcome is Outcome.FAILED
            assert isinstance(handle.exception(), TypeError)

    run(loop, main())


def test_broken_hooks_and_backoff_sleep_are_reported(loop: asyncio.AbstractEventLoop) -> None:
    async def broken_sleep(delay: float) -> None:
        raise RuntimeError("no sleep today")

    calls = 0

    async def fails_once() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("first")
        return "second"

    class SyncHook(GateJob):
        def on_cancel(self) -> None:  # type: ignore[override]
            self.hooks.append("sync on_cancel")

    async def main() -> None:
        async with TaskRunner(sleep=broken_sleep) as runner:
            assert await (await runner.submit(fails_once, retries=1)) == "second"
            job = SyncHook()
            handle = await runner.submit(job)
            await job.entered.wait()
            handle.cancel()
            await handle.wait()
            assert handle.outcome is Outcome.CANCELLED and job.hooks == ["sync on_cancel"]

    with reports(loop) as seen:
        run(loop, main())
    assert [type(c["exception"]) for c in seen] == [RuntimeError, TypeError]
    assert "backoff sleep of" in seen[0]["message"] and "on_cancel hook of" in seen[1]["message"]


def test_backoff_caps_huge_retry_counts() -> None:
    import random

    from pyloop.tasks import Backoff

    assert Backoff(base=1.0, factor=10.0, max_delay=9.0, jitter=0).delay(5000, random.Random()) == 9
