"""pyloop.tasks: a task runner with a bounded priority queue, backpressure,
per-attempt timeouts, cleanup hooks, retries with backoff and stats.

    async with TaskRunner(workers=8, max_queue=100) as runner:
        handle = await runner.submit(fetch, url, timeout=5.0, retries=2)
        page = await handle

It uses only the public API of the running loop, so it works on stock asyncio
and uvloop too; on pyloop its tasks and futures are pyloop's native ones.
``python -m pyloop.tasks demo`` shows it at work.
"""

from __future__ import annotations

from ._errors import InvalidStateError, QueueFull, RunnerClosedError
from ._events import EventKind, TaskEvent, TaskRecord
from ._handle import TaskHandle
from ._job import Job
from ._policies import Backoff, SubmitPolicy
from ._runner import TaskRunner
from ._states import Outcome, State
from ._stats import RunnerStats

REJECT = SubmitPolicy.REJECT
WAIT = SubmitPolicy.WAIT

__all__ = [
    "REJECT",
    "WAIT",
    "Backoff",
    "EventKind",
    "InvalidStateError",
    "Job",
    "Outcome",
    "QueueFull",
    "RunnerClosedError",
    "RunnerStats",
    "State",
    "SubmitPolicy",
    "TaskEvent",
    "TaskHandle",
    "TaskRecord",
    "TaskRunner",
]
