"""``python -m pyloop.tasks demo``: a mixed workload through a TaskRunner, with a
live progress line and the final stats table, for people who would rather look
than read. Sleeping, CPU-in-a-thread, flaky (retried), failing, timing-out
(partial results from on_timeout) and cancelled (on_cancel) jobs."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys
from typing import Any, TextIO

from ._events import EventKind, TaskEvent
from ._handle import TaskHandle
from ._job import Job
from ._policies import Backoff, SubmitPolicy
from ._runner import TaskRunner
from ._states import Outcome
from ._stats import RunnerStats

PROGRESS_EVERY = 0.1  # seconds between progress-line redraws: readable, not flickering
BAR_WIDTH = 24


def _crunch(rounds: int) -> str:
    """CPU work for a thread: a hash chain (hashlib releases the GIL on big inputs only,
    so this mostly shows that the loop stays responsive while a thread computes)."""
    digest = b"pyloop"
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:12]


async def _sleepy(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"slept {seconds * 1000:.1f} ms"


async def _cpu(rounds: int) -> str:
    return await asyncio.to_thread(_crunch, rounds)


class Flaky(Job[str]):
    """Fails half of its attempts; submitted with retries, so most end well."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    async def run(self) -> str:
        await asyncio.sleep(0.001)
        if self.rng.random() < 0.5:
            raise ConnectionError(f"upstream hiccup on attempt {self.attempt}")
        return f"ok on attempt {self.attempt}"


async def _doomed() -> None:
    await asyncio.sleep(0.001)
    raise ValueError("bad record")


class Scan(Job[str]):
    """Scans items one by one; a timeout keeps what was scanned as a partial result."""

    def __init__(self, items: int, per_item: float) -> None:
        self.items = items
        self.per_item = per_item
        self.scanned = 0

    async def run(self) -> str:
        for _ in range(self.items):
            await asyncio.sleep(self.per_item)
            self.scanned += 1
        return f"scanned {self.scanned}/{self.items}"

    async def on_timeout(self) -> None:
        self.set_result(f"partial: scanned {self.scanned}/{self.items}")

    async def on_cancel(self) -> None:
        self.set_result(f"cancelled after {self.scanned}/{self.items}")


class Progress:
    """Redraws one status line from runner events, at most every PROGRESS_EVERY s."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = total
        self.out = out
        self.tty = out.isatty()
        self.runner: TaskRunner | None = None
        self.last = float("-inf")
        self.last_tenth = -1

    def __call__(self, event: TaskEvent) -> None:
        if event.kind is not EventKind.FINISHED or self.runner is None:
            return
        stats = self.runner.stats()
        if self.tty:
            if event.time - self.last >= PROGRESS_EVERY or stats.finished == self.total:
                self.last = event.time
                self.out.write("\r" + self.line(stats))
                self.out.flush()
        else:
            tenth = stats.finished * 10 // self.total
            if tenth != self.last_tenth:
                self.last_tenth = tenth
                print(self.line(stats), file=self.out)

    def line(self, stats: RunnerStats) -> str:
        filled = BAR_WIDTH * stats.finished // max(1, self.total)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return (
            f"[{bar}] {stats.finished}/{self.total} done | running {stats.running} "
            f"queued {stats.queued} | ok {stats.completed} failed {stats.failed} "
            f"timeout {stats.timed_out} cancelled {stats.cancelled} | "
            f"{stats.throughput:.0f} jobs/s"
        )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def format_stats(stats: RunnerStats) -> str:
    """The final stats as a small table."""
    rows = [("submitted", str(stats.submitted))]
    rows += [(outcome.value, str(stats.done[outcome])) for outcome in Outcome]
    rows += [
        ("queued / running", f"{stats.queued} / {stats.running}"),
        (f"throughput ({stats.window:.0f} s window)", f"{stats.throughput:.1f} jobs/s"),
        (
            "latency p50 / p90 / p99",
            f"{_ms(stats.latency_p50)} / {_ms(stats.latency_p90)} / {_ms(stats.latency_p99)} ms",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    value_width = max(len(value) for _, value in rows)
    lines = [f"| {'stat'.ljust(width)} | {'value'.ljust(value_width)} |"]
    lines.append(f"| {'-' * width} | {'-' * value_width} |")
    lines += [f"| {name.ljust(width)} | {value.ljust(value_width)} |" for name, value in rows]
    return "\n".join(lines)


def _describe(handle: TaskHandle[Any]) -> str:
    record = handle.record()
    outcome = record.outcome.value if record.outcome else record.state.value
    shown = repr(record.result) if record.error is None else f"{type(record.error).__name__}"
    if record.error is not None and str(record.error):
        shown += f": {record.error}"
    return f"  {record.uid:<10} {record.name:<12} {outcome:<9} attempts={record.attempts}  {shown}"


async def demo(jobs: int, workers: int, seed: int, out: TextIO) -> RunnerStats:
    rng = random.Random(seed)
    progress = Progress(jobs, out)
    runner = TaskRunner(
        workers=workers,
        max_queue=workers * 4,  # small, so the submitter feels the backpressure
        submit_policy=SubmitPolicy.WAIT,
        hook_timeout=1.0,
        backoff=Backoff(base=0.005, factor=2.0, jitter=0.2),
        on_event=progress,
        random=rng,
    )
    progress.runner = runner
    print(f"{jobs} jobs, {workers} workers, queue of {workers * 4}, on {_loop_name()}", file=out)
    to_cancel: list[TaskHandle[Any]] = []
    handles: list[TaskHandle[Any]] = []
    examples: dict[tuple[str, Outcome | None], TaskHandle[Any]] = {}
    async with runner:
        for i in range(jobs):
            kind = i % 10
            handle: TaskHandle[Any]
            if i % 25 == 24:
                handle = await runner.submit(Scan(1000, 0.01), name="long-scan")
                to_cancel.append(handle)
            elif kind < 4:
                handle = await runner.submit(_sleepy, rng.uniform(0.002, 0.03), name="sleep")
            elif kind < 6:
                handle = await runner.submit(_cpu, 2_000, name="cpu-thread")
            elif kind < 8:
                handle = await runner.submit(Flaky(rng), name="flaky", retries=2)
            elif kind == 8:
                handle = await runner.submit(Scan(50, 0.002), name="scan", timeout=0.03)
            else:
                handle = await runner.submit(_doomed, name="doomed")
            handles.append(handle)
        for handle in to_cancel:
            handle.cancel()
    if progress.tty:
        out.write("\n")
    stats = runner.stats()
    for handle in handles:
        examples.setdefault((handle.name, handle.outcome), handle)
    print("\nOne job of each kind and outcome:", file=out)
    for handle in examples.values():
        print(_describe(handle), file=out)
    print("\n" + format_stats(stats), file=out)
    return stats


def _loop_name() -> str:
    loop = asyncio.get_running_loop()
    return f"{type(loop).__module__.split('.')[0]} ({type(loop).__name__})"


def main(argv: list[str], out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pyloop.tasks", description="pyloop's task runner, shown at work."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run_demo = sub.add_parser("demo", help="run a mixed workload and show live progress + stats")
    run_demo.add_argument("--jobs", type=int, default=200, help="jobs to submit (default 200)")
    run_demo.add_argument("--workers", type=int, default=8, help="workers (default 8)")
    run_demo.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    run_demo.add_argument(
        "--loop", choices=("pyloop", "asyncio", "uvloop"), default="pyloop", help="event loop"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.workers < 1:
        parser.error("--jobs and --workers must be >= 1")
    coro = demo(args.jobs, args.workers, args.seed, out)
    if args.loop == "pyloop":
        import pyloop

        pyloop.run(coro)
    elif args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            coro.close()
            parser.error("uvloop is not installed")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coro)
    else:
        asyncio.run(coro)
    return 0
