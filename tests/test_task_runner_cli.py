"""``python -m pyloop.tasks demo`` and the runner's benchmark rows: they run
end to end and report what they measured (structure only, never speed)."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys

import pytest
from task_runner_support import run

from pyloop.bench.scenarios import SCENARIOS
from pyloop.bench.scenarios.task_runner import (
    queue_workers_inline,
    queue_workers_tasks,
    task_runner_100k,
)
from pyloop.tasks._demo import demo, format_stats


def _table(text: str) -> dict[str, str]:
    rows = re.findall(r"^\| ([^|]+?) +\| ([^|]+?) +\|$", text, flags=re.MULTILINE)
    return dict(rows)


def test_demo_in_process_shows_progress_examples_and_stats(
    loop: asyncio.AbstractEventLoop,
) -> None:
    out = io.StringIO()  # not a tty: progress comes as whole lines
    stats = run(loop, demo(60, 4, seed=3, out=out))
    text = out.getvalue()
    assert "60 jobs, 4 workers" in text
    assert re.search(r"\[#+\] 60/60 done \| running 0 queued 0", text)
    table = _table(text)
    assert table["submitted"] == "60"
    counts = {name: int(table[name]) for name in ("completed", "failed", "timeout", "cancelled")}
    assert sum(counts.values()) == 60 and all(counts.values())  # every ending shows up
    assert counts == {
        "completed": stats.completed,
        "failed": stats.failed,
        "timeout": stats.timed_out,
        "cancelled": stats.cancelled,
    }
    assert "partial: scanned" in text and "cancelled after" in text
    assert format_stats(stats) in text


@pytest.mark.parametrize("loop_name", ["asyncio", "pyloop"])
def test_demo_command_line(loop_name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pyloop.tasks", "demo", "--jobs", "30", "--loop", loop_name],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert proc.stderr == ""
    assert _table(proc.stdout)["submitted"] == "30"
    assert "30/30 done" in proc.stdout


def test_demo_command_line_usage_errors() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pyloop.tasks", "demo", "--jobs", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--jobs and --workers must be >= 1" in proc.stderr


def test_bench_rows_are_registered() -> None:
    row = SCENARIOS["task_runner_100k"]
    assert (row.unit, row.full, row.quick, row.in_quick) == ("jobs/s", 100_000, 10_000, True)
    for baseline in ("queue_workers_tasks", "queue_workers_inline"):
        assert SCENARIOS[baseline].unit == "jobs/s"


def test_bench_functions_run_on_each_loop(loop: asyncio.AbstractEventLoop) -> None:
    for bench in (task_runner_100k, queue_workers_tasks, queue_workers_inline):
        assert run(loop, bench(500)) > 0
