"""The benchmark CLI runs end to end and reports what it measured (structure
only: speed is never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _bench(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyloop.bench", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=check,
    )


QUICK_PAIR = ("--quick", "--reps", "1", "--only", "call_soon", "memory_per_pending_task")


def test_bench_refuses_unknown_loops() -> None:
    proc = _bench(*QUICK_PAIR, "--loops", "asyncio,pyloop,no-such-loop", check=False)
    assert proc.returncode == 2
    assert "unknown loop(s): no-such-loop" in proc.stderr


def test_bench_quick_run_writes_table_and_json(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    proc = _bench(*QUICK_PAIR, "--loops", "asyncio,pyloop", "--json", str(out_json))
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| call_soon ")]
    assert len(rows) == 1 and rows[0].count("x |") == 1  # one ratio: no uvloop/rloop asked
    data = json.loads(out_json.read_text())
    assert set(data["benchmarks"]) == {"call_soon", "memory_per_pending_task"}
    for bench in data["benchmarks"].values():
        assert set(bench["samples"]) == {"asyncio", "pyloop"}
        assert all(len(s) == 1 and s[0] > 0 for s in bench["samples"].values())
        assert bench["ratios"]["vs_baseline"] > 0
    assert data["benchmarks"]["memory_per_pending_task"]["lower_is_better"] is True
    assert data["meta"]["quick"] is True


def test_bench_lists_runnable_and_pending_benchmarks() -> None:
    proc = _bench("--list")
    names = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    for micro in ("call_soon", "timers_fire", "tasks_create_await", "memory_per_pending_task"):
        assert micro in names
    assert "pending: needs native TCP transports" in proc.stdout
