"""The task runner (``pyloop.tasks``): trivial jobs through 16 workers.

``task_runner_100k`` is issue 9's figure: jobs submitted one by one into a
bounded queue (the submitter waits for room, so the backpressure path runs)
and drained by 16 workers, each job in a task of its own. The baseline rows
show what the runner adds: 16 workers pulling the same coroutine functions
from an ``asyncio.Queue``, awaiting each job in a task of its own
(``queue_workers_tasks``) or calling it inline in the worker (``queue_workers_inline``).
"""

from __future__ import annotations

import asyncio
from time import perf_counter

from ...tasks import TaskRunner
from .registry import register

WORKERS = 16
MAX_QUEUE = 1024  # room for 64 jobs per worker: the submitter rarely waits, but it can


async def _trivial() -> None:
    pass


@register("task_runner_100k", unit="jobs/s", full=100_000, quick=10_000)
async def task_runner_100k(n: int) -> float:
    started = perf_counter()
    async with TaskRunner(workers=WORKERS, max_queue=MAX_QUEUE) as runner:
        for _ in range(n):
            await runner.submit(_trivial)
    return n / (perf_counter() - started)


async def _queue_workers(n: int, per_job_task: bool) -> float:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(MAX_QUEUE)
    stop = object()

    async def worker() -> None:
        while True:
            func = await queue.get()
            if func is stop:
                return
            if per_job_task:
                await loop.create_task(func())  # type: ignore[operator]
            else:
                await func()  # type: ignore[operator]

    started = perf_counter()
    workers = [loop.create_task(worker()) for _ in range(WORKERS)]
    for _ in range(n):
        await queue.put(_trivial)
    for _ in range(WORKERS):
        await queue.put(stop)
    await asyncio.gather(*workers)
    return n / (perf_counter() - started)


@register("queue_workers_tasks", unit="jobs/s", full=100_000, quick=10_000, in_quick=False)
async def queue_workers_tasks(n: int) -> float:
    return await _queue_workers(n, per_job_task=True)


@register("queue_workers_inline", unit="jobs/s", full=100_000, quick=10_000, in_quick=False)
async def queue_workers_inline(n: int) -> float:
    return await _queue_workers(n, per_job_task=False)
