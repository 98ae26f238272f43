"""Submit policies on a full queue, priority order, retries with backoff (an
injected sleep and random source: no real waiting), on_event and stats()."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from task_runner_support import GateJob, ManualClock, call_log, reports, run, settle

from pyloop.tasks import (
    REJECT,
    WAIT,
    Backoff,
    EventKind,
    Outcome,
    QueueFull,
    RunnerClosedError,
    SubmitPolicy,
    TaskEvent,
    TaskRunner,
)


async def _noop() -> None:
    pass


async def _fill(runner: TaskRunner, size: int) -> GateJob:
    """Occupy the single worker with a gate job, then fill the queue to ``size``."""
    blocker = GateJob("blocker")
    await runner.submit(blocker)
    await blocker.entered.wait()
    for _ in range(size):
        await runner.submit(_noop)
    return blocker


def test_reject_raises_queue_full_and_leaves_no_trace(loop: asyncio.AbstractEventLoop) -> None:
    events: list[TaskEvent] = []

    async def main() -> None:
        async with TaskRunner(
            workers=1, max_queue=2, submit_policy=REJECT, on_event=events.append
        ) as runner:
            blocker = await _fill(runner, 2)
            before = runner.stats()
            seen = len(events)
            with pytest.raises(QueueFull, match="queue is full") as info:
                await runner.submit(_noop, name="refused")
            assert isinstance(info.value, asyncio.QueueFull)
            assert runner.stats() == before
            assert len(events) == seen
            blocker.gate.set()
        assert runner.stats().submitted == 3
        assert "refused" not in {event.name for event in events}

    run(loop, main())


def test_wait_policy_waits_for_room(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(workers=1, max_queue=1, submit_policy=WAIT) as runner:
            blocker = await _fill(runner, 1)
            submitting = asyncio.ensure_future(runner.submit(_noop, name="waiter"))
            await settle()
            assert not submitting.done()  # backpressure: no room yet
            assert runner.stats().submitted == 2
            blocker.gate.set()
            handle = await submitting
            assert handle.name == "waiter"
            await handle

    run(loop, main())


def test_bounded_wait_gives_up_with_queue_full(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(
            workers=1, max_queue=1, submit_policy=SubmitPolicy.wait(timeout=0.001)
        ) as runner:
            blocker = await _fill(runner, 1)
            before = runner.stats()
            with pytest.raises(QueueFull, match="stayed full"):
                await runner.submit(_noop)
            assert runner.stats() == before
            # The same runner, a per-call policy: wait without a bound.
            submitting = asyncio.ensure_future(runner.submit(_noop, policy=WAIT))
            await settle()
            blocker.gate.set()
            await (await submitting)

    run(loop, main())


def test_bounded_wait_succeeds_when_room_comes_in_time(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(
            workers=1, max_queue=1, submit_policy=SubmitPolicy.wait(timeout=60)
        ) as runner:
            blocker = await _fill(runner, 1)
            submitting = asyncio.ensure_future(runner.submit(_noop))
            await settle()
            blocker.gate.set()
            assert (await (await submitting)) is None

    run(loop, main())


def test_cancelled_waiting_submitter_passes_room_on(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with TaskRunner(workers=1, max_queue=1) as runner:
            blocker = await _fill(runner, 1)
            first = asyncio.ensure_future(runner.submit(_noop, name="first"))
            second = asyncio.ensure_future(runner.submit(_noop, name="second"))
            await settle()
            first.cancel()
            blocker.gate.set()
            handle = await second
            assert handle.name == "second"
            with pytest.raises(asyncio.CancelledError):
                await first
        assert runner.stats().submitted == 3  # blocker, the filler, second

    run(loop, main())


def test_policy_values() -> None:
    assert repr(SubmitPolicy.wait(timeout=2.5)) == "SubmitPolicy.wait(timeout=2.5)"
    assert SubmitPolicy.wait() == WAIT and repr(REJECT) == "SubmitPolicy.REJECT"
    with pytest.raises(ValueError):
        SubmitPolicy.wait(timeout=-1)
    with pytest.raises(ValueError):
        TaskRunner(max_queue=0)
    with pytest.raises(ValueError):
        TaskRunner(workers=0)


def test_priority_order_and_fifo_within_a_priority(loop: asyncio.AbstractEventLoop) -> None:
    log, job = call_log()

    async def main() -> None:
        async with TaskRunner(workers=1) as runner:
            blocker = GateJob()
            await runner.submit(blocker)
            await blocker.entered.wait()
            for name, priority in [("low1", -1), ("mid1", 0), ("high1", 5), ("mid2", 0)]:
                await runner.submit(job, name, priority=priority)
            await runner.submit(job, "high2", priority=5)
            await runner.submit(job, "low2", priority=-1)
            blocker.gate.set()
        assert log == ["high1", "high2", "mid1", "mid2", "low1", "low2"]

    run(loop, main())


def test_priority_out_of_range_is_refused_without_trace(loop: asyncio.AbstractEventLoop) -> None:
    """The native queue keeps priorities as 64-bit ints: anything else is
    refused before the job is admitted (no count, no uid used)."""
    log, job = call_log()

    async def main() -> None:
        async with TaskRunner(workers=1) as runner:
            with pytest.raises(ValueError, match="64 bits"):
                await runner.submit(job, "big", priority=2**63)
            with pytest.raises(TypeError, match="priority must be an int"):
                await runner.submit(job, "float", priority=1.5)  # type: ignore[arg-type]
            assert runner.stats().submitted == 0
            await runner.submit(job, "edge", priority=-(2**63))
        assert log == ["edge"]

    run(loop, main())


def test_retries_use_exponential_backoff_with_injected_sleep(
    loop: asyncio.AbstractEventLoop,
) -> None:
    delays: list[float] = []
    attempts: list[int] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    async def flaky() -> str:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 4:
            raise ConnectionError(f"attempt {len(attempts)}")
        return "fourth time lucky"

    async def main() -> None:
        backoff = Backoff(base=0.5, factor=3.0, max_delay=4.0, jitter=0.0)
        async with TaskRunner(sleep=fake_sleep, backoff=backoff) as runner:
            handle = await runner.submit(flaky, retries=5)
            assert await handle == "fourth time lucky"
            assert handle.attempts == 4
        assert delays == [0.5, 1.5, 4.0]  # 0.5, 0.5*3, min(4.0, 0.5*9)

    run(loop, main())


def test_retries_run_out_and_the_last_error_stays(loop: asyncio.AbstractEventLoop) -> None:
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    calls = 0

    async def always_fails() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError(f"failure {calls}")

    async def main() -> None:
        async with TaskRunner(sleep=fake_sleep, backoff=Backoff(jitter=0.0)) as runner:
            handle = await runner.submit(always_fails, retries=2)
            await handle.wait()
        assert handle.outcome is Outcome.FAILED and handle.attempts == 3
        assert str(handle.exception()) == "failure 3"
        assert delays == [0.1, 0.2]

    run(loop, main())


def test_jitter_is_bounded_and_repeatable_with_a_seed(loop: asyncio.AbstractEventLoop) -> None:
    async def delays_with(seed: int) -> list[float]:
        seen: list[float] = []

        async def fake_sleep(delay: float) -> None:
            seen.append(delay)

        async def fails() -> None:
            raise OSError("down")

        backoff = Backoff(base=1.0, factor=2.0, max_delay=100.0, jitter=0.5)
        async with TaskRunner(sleep=fake_sleep, random=random.Random(seed)) as runner:
            await (await runner.submit(fails, retries=4, backoff=backoff)).wait()
        return seen

    async def main() -> None:
        first, again, other = await delays_with(7), await delays_with(7), await delays_with(8)
        assert first == again and first != other
        for k, delay in enumerate(first):
            assert 0.5 * 2**k <= delay <= 1.5 * 2**k
        assert first != [1.0, 2.0, 4.0, 8.0]

    run(loop, main())


def test_on_event_sees_submitted_started_retried_finished(
    loop: asyncio.AbstractEventLoop,
) -> None:
    events: list[TaskEvent] = []
    clock = ManualClock(1.0)

    async def no_sleep(delay: float) -> None:
        pass

    fails_once = iter([True, False])

    async def job() -> str:
        if next(fails_once):
            raise KeyError("once")
        return "ok"

    async def main() -> None:
        async with TaskRunner(
            on_event=events.append, sleep=no_sleep, clock=clock, backoff=Backoff(jitter=0)
        ) as runner:
            handle = await runner.submit(job, name="j", retries=1)
            await handle
        kinds = [e.kind for e in events]
        assert kinds == [
            EventKind.SUBMITTED,
            EventKind.STARTED,
            EventKind.RETRIED,
            EventKind.STARTED,
            EventKind.FINISHED,
        ]
        assert all(e.uid == handle.uid and e.name == "j" and e.time == 1.0 for e in events)
        retried = events[2]
        assert isinstance(retried.error, KeyError) and retried.delay == 0.1
        assert [e.attempt for e in events] == [0, 1, 1, 2, 2]
        assert events[-1].outcome is Outcome.COMPLETED and events[-1].error is None

    run(loop, main())


def test_a_failing_event_hook_is_reported_not_fatal(loop: asyncio.AbstractEventLoop) -> None:
    def bad_hook(event: TaskEvent) -> None:
        if event.kind is EventKind.STARTED:
            raise ZeroDivisionError("hook bug")

    async def main() -> Any:
        async with TaskRunner(on_event=bad_hook) as runner:
            return await (await runner.submit(_noop))

    with reports(loop) as seen:
        assert run(loop, main()) is None
    assert len(seen) == 1
    assert "on_event hook failed on started" in seen[0]["message"]
    assert isinstance(seen[0]["exception"], ZeroDivisionError)


def test_stats_counts_and_window_figures_with_a_manual_clock(
    loop: asyncio.AbstractEventLoop,
) -> None:
    clock = ManualClock(100.0)

    async def fails() -> None:
        raise ValueError

    async def main() -> None:
        async with TaskRunner(workers=1, clock=clock, stats_window=10.0) as runner:
            empty = runner.stats()
            assert (empty.queued, empty.running, empty.finished, empty.throughput) == (0, 0, 0, 0)
            assert empty.latency_p50 is None
            jobs = [GateJob(str(i)) for i in range(4)]
            handles = [await runner.submit(job) for job in jobs]
            failing = await runner.submit(fails)
            queued = await runner.submit(_noop)
            await jobs[0].entered.wait()
            stats = runner.stats()
            assert (stats.queued, stats.running, stats.submitted) == (5, 1, 6)
            # Finish job i at 100 + i + 1: latencies 1, 2, 3, 4 seconds.
            for i, job in enumerate(jobs):
                clock.now = 101.0 + i
                job.gate.set()
                await handles[i]
                if i + 1 < len(jobs):
                    await jobs[i + 1].entered.wait()
            await failing.wait()
            await queued.wait()  # both ran at 104, right after the last gate job
            stats = runner.stats()
            assert (stats.completed, stats.failed, stats.timed_out, stats.cancelled) == (5, 1, 0, 0)
            assert (stats.queued, stats.running, stats.finished) == (0, 0, 6)
            assert stats.samples == 6
            # 6 finishes between 100 (start) and 104: 1.5 jobs/s.
            assert stats.throughput == pytest.approx(6 / 4.0)
            # Latencies (submitted at 100) 1, 2, 3, 4, 4, 4; nearest-rank percentiles.
            assert (stats.latency_p50, stats.latency_p90, stats.latency_p99) == (3.0, 4.0, 4.0)
            clock.now = 130.0  # everything slid out of the 10 s window
            late = runner.stats()
            assert (late.samples, late.throughput, late.latency_p90) == (0, 0.0, None)
            assert late.finished == 6  # totals never expire

    run(loop, main())


def test_stats_window_caps_its_samples(loop: asyncio.AbstractEventLoop) -> None:
    clock = ManualClock(0.0)

    async def main() -> None:
        async with TaskRunner(workers=1, clock=clock, stats_samples=3) as runner:
            for i in range(1, 6):
                clock.now = float(i)
                await (await runner.submit(_noop))
            stats = runner.stats()
            assert stats.samples == 3 and stats.finished == 5
            assert stats.throughput == pytest.approx(3 / 2.0)  # 3 finishes over [3, 5]

    run(loop, main())


def test_waiting_submitter_gets_closed_error_at_shutdown(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        runner = TaskRunner(workers=1, max_queue=1)
        runner.start()
        blocker = await _fill(runner, 1)
        submitting = asyncio.ensure_future(runner.submit(_noop))
        await settle()
        shutting = asyncio.ensure_future(runner.shutdown(drain=True))
        await settle()
        with pytest.raises(RunnerClosedError):
            await submitting
        blocker.gate.set()
        await shutting
        stats = runner.stats()
        assert (stats.submitted, stats.finished, stats.queued) == (2, 2, 0)

    run(loop, main())


class _Entry:
    def __init__(self, name: str) -> None:
        self.name = name


def test_job_queue_levels_fifo_discard_and_room() -> None:
    """The queue structure alone (no loop): priority levels come and go, FIFO
    holds within a level, and a discarded entry frees its room at once."""
    from pyloop.tasks._queue import JobQueue

    queue = JobQueue(maxsize=4)
    entries = {name: _Entry(name) for name in ("a", "b", "c", "d", "e")}
    for name, priority in [("a", 0), ("b", 7), ("c", 0), ("d", 7)]:
        queue.put(entries[name], priority)
    assert queue.full() and len(queue) == 4
    assert queue.discard(entries["b"]) is True
    assert not queue.full() and len(queue) == 3
    assert queue.discard(entries["b"]) is False  # already gone: nothing changes
    assert len(queue) == 3
    queue.put(entries["e"], -3)
    popped = [queue.pop().name for _ in range(4)]
    assert popped == ["d", "a", "c", "e"]
    assert queue.pop() is None and len(queue) == 0
    assert not any(queue.discard(entry) for entry in entries.values())
    again = _Entry("again")
    queue.put(again, 7)  # a level used again after it emptied
    assert queue.pop() is again
