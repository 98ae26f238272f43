"""Random interleavings of submit, cancel, release, timeouts and shutdown:
whatever the order, every handle ends DONE and stats() agrees with the handles
after every step. Derandomized, so CI sees the same examples on every run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from task_runner_support import GateJob, reports, settle

from pyloop.tasks import (
    REJECT,
    EventKind,
    Outcome,
    QueueFull,
    State,
    SubmitPolicy,
    TaskEvent,
    TaskHandle,
    TaskRunner,
)

TINY = 0.001


class PropertyJob(GateJob):
    """``gate``: waits for its gate; ``quick``: returns at once; ``fail``: raises."""

    def __init__(self, kind: str, value: str, hang_hooks: bool) -> None:
        super().__init__(value, hang_hooks=hang_hooks)
        self.kind = kind

    async def run(self) -> str:
        self.entered.set()
        if self.kind == "fail":
            raise ArithmeticError(self.value)
        if self.kind == "gate":
            await self.gate.wait()
        return self.value


@dataclass
class Submit:
    kind: str
    priority: int
    timeout: float | None
    retries: int
    hang_hooks: bool


@dataclass
class Cancel:
    index: int
    force: bool


@dataclass
class Release:
    index: int


@dataclass
class Step:
    rounds: int


@dataclass
class Wait:
    """Let real time pass on one handle (so TINY timeouts fire), at most WAIT_BOUND."""

    index: int


WAIT_BOUND = 0.005


submits = st.builds(
    Submit,
    kind=st.sampled_from(["gate", "quick", "fail"]),
    priority=st.integers(-2, 2),
    timeout=st.sampled_from([None, TINY]),
    retries=st.integers(0, 2),
    hang_hooks=st.booleans(),
)
operations = st.lists(
    st.one_of(
        submits,
        submits,  # twice: half of all operations submit
        st.builds(Cancel, index=st.integers(0, 40), force=st.booleans()),
        st.builds(Release, index=st.integers(0, 40)),
        st.builds(Step, rounds=st.integers(1, 4)),
        st.builds(Wait, index=st.integers(0, 40)),
    ),
    min_size=1,
    max_size=40,
)


def check_consistent(runner: TaskRunner, handles: list[TaskHandle[Any]]) -> None:
    stats = runner.stats()
    states = [h.state for h in handles]
    assert stats.submitted == len(handles)
    assert stats.queued == states.count(State.PENDING)
    assert stats.running == states.count(State.RUNNING)
    for outcome in Outcome:
        assert stats.done[outcome] == sum(1 for h in handles if h.outcome is outcome)
    for handle in handles:
        assert (handle.state is State.DONE) == (handle.outcome is not None)


async def scenario(
    ops: list[Any], workers: int, bounded: bool, drain: bool
) -> tuple[list[TaskHandle[Any]], list[PropertyJob], list[TaskEvent]]:
    events: list[TaskEvent] = []

    async def no_sleep(delay: float) -> None:
        pass

    runner = TaskRunner(
        workers=workers,
        max_queue=3 if bounded else None,
        submit_policy=REJECT if bounded else SubmitPolicy.WAIT,
        hook_timeout=TINY,
        on_event=events.append,
        sleep=no_sleep,
    )
    runner.start()
    handles: list[TaskHandle[Any]] = []
    jobs: list[PropertyJob] = []
    for op in ops:
        if isinstance(op, Submit):
            job = PropertyJob(op.kind, f"v{len(jobs)}", op.hang_hooks)
            try:
                handle = await runner.submit(
                    job, timeout=op.timeout, priority=op.priority, retries=op.retries
                )
            except QueueFull:
                assert bounded and job.handle is None
                continue
            handles.append(handle)
            jobs.append(job)
        elif isinstance(op, Cancel) and handles:
            handle = handles[op.index % len(handles)]
            was_done = handle.done()
            answer = handle.cancel(force=op.force)
            assert not (was_done and answer)
        elif isinstance(op, Release) and jobs:
            jobs[op.index % len(jobs)].gate.set()
        elif isinstance(op, Step):
            await settle(op.rounds)
        elif isinstance(op, Wait) and handles:
            await handles[op.index % len(handles)].wait(timeout=WAIT_BOUND)
        check_consistent(runner, handles)
    if drain:
        for job in jobs:
            job.gate.set()
    await runner.shutdown(drain=drain)
    check_consistent(runner, handles)
    return handles, jobs, events


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@example(  # one of each ending, whatever the generator favours
    ops=[
        Submit("gate", 0, TINY, 0, False),
        Submit("gate", 1, None, 0, True),
        Submit("fail", 0, None, 2, False),
        Submit("quick", -1, None, 0, False),
        Cancel(1, False),
        Wait(0),
        Step(2),
    ],
    workers=2,
    bounded=False,
    drain=True,
)
@given(
    ops=operations,
    workers=st.integers(1, 3),
    bounded=st.booleans(),
    drain=st.booleans(),
)
def test_every_handle_ends_done_and_stats_agree(
    loop_factory: Any, ops: list[Any], workers: int, bounded: bool, drain: bool
) -> None:
    loop = loop_factory()
    try:
        with reports(loop) as seen:
            handles, jobs, events = loop.run_until_complete(scenario(ops, workers, bounded, drain))
    finally:
        loop.close()
    assert all(h.done() for h in handles)
    for outcome in {h.outcome for h in handles}:
        event(f"some job ended {outcome}")  # shown by pytest --hypothesis-show-statistics
    for handle, job in zip(handles, jobs, strict=True):
        record = handle.record()
        assert record.finished is not None and record.state is State.DONE
        if handle.outcome is Outcome.COMPLETED:
            assert handle.result() == job.value and job.kind != "fail"
        elif handle.outcome is Outcome.FAILED:
            assert job.kind == "fail" and isinstance(handle.exception(), ArithmeticError)
        elif handle.outcome is Outcome.TIMEOUT:
            assert job.hooks[:1] == ["on_timeout"] and job.kind == "gate"
        if handle.outcome is not Outcome.FAILED and job.kind == "fail":
            assert handle.outcome is Outcome.CANCELLED  # cancelled before it could fail for good
        if handle.outcome is Outcome.CANCELLED:
            assert handle.attempts <= 1 or job.kind == "fail"
        kinds = [e.kind for e in events if e.uid == handle.uid]
        assert kinds.count(EventKind.SUBMITTED) == 1 and kinds.count(EventKind.FINISHED) == 1
        assert kinds.count(EventKind.STARTED) == handle.attempts
    # Only hung hooks that overran are reported, each once.
    assert all(isinstance(c["exception"], TimeoutError) for c in seen)
    assert len(seen) <= sum(1 for job in jobs if job.hang_hooks and job.hooks)
