"""The benchmark CLI runs end to end and reports what it measured (structure
only: speed is never asserted)."""

from __future__ import annotations

import importlib.util
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


ECHO_ROWS = (
    "tcp_echo_protocol_1k",
    "tcp_echo_protocol_10k",
    "tcp_echo_protocol_100k",
    "tcp_echo_protocol_1k_16c",
    "tcp_echo_streams_1k",
    "tcp_echo_streams_100k",
    "tcp_echo_streams_1k_16c",
    "tcp_echo_buffered_1k",
    "tcp_echo_buffered_100k",
    "unix_echo_1k",
)
# Issue 7's rows: datagram echo and child processes.
ISSUE7_ROWS = ("udp_echo", "udp_echo_16c", "subprocess_spawn_wait", "subprocess_pipe")
# Issue 8's rows: TLS echo and sending a file.
ISSUE8_ROWS = (
    "tls_echo_protocol_1k",
    "tls_echo_protocol_100k",
    "sendfile_64m",
    "file_copy_64m",
    "sendfile_tls_64m",
)


def test_bench_lists_runnable_and_pending_benchmarks() -> None:
    proc = _bench("--list")
    names = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    for micro in ("call_soon", "timers_fire", "tasks_create_await", "memory_per_pending_task"):
        assert micro in names
    for row in (*ECHO_ROWS, *ISSUE7_ROWS, *ISSUE8_ROWS, "aiohttp_hello_world"):
        assert row in names
    quick_only_with_only = [line for line in proc.stdout.splitlines() if "plain --quick" in line]
    assert any(line.startswith("tcp_echo_buffered_1k ") for line in quick_only_with_only)
    assert any(line.startswith("udp_echo_16c ") for line in quick_only_with_only)
    listed = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert not any("pending" in listed[row] for row in ISSUE7_ROWS)


def test_bench_echo_rows_run_on_asyncio(tmp_path: Path) -> None:
    """Each echo, subprocess, TLS and file row (and aiohttp's, where installed)
    completes on the oracle loop."""
    out_json = tmp_path / "bench.json"
    rows = [*ECHO_ROWS, *ISSUE7_ROWS, *ISSUE8_ROWS]
    if importlib.util.find_spec("aiohttp") is not None:
        rows.append("aiohttp_hello_world")
    _bench("--quick", "--reps", "1", "--loops", "asyncio", "--json", str(out_json), "--only", *rows)
    data = json.loads(out_json.read_text())
    assert set(data["benchmarks"]) == set(rows)
    for bench in data["benchmarks"].values():
        assert bench["errors"] == {}
        assert len(bench["samples"]["asyncio"]) == 1 and bench["samples"]["asyncio"][0] > 0


def test_bench_lists_aiohttp_as_pending_without_aiohttp() -> None:
    """With aiohttp unimportable the row is pending, not an error on every loop."""
    hide_aiohttp = (
        "import sys; sys.modules['aiohttp'] = None; "  # what `import aiohttp` then refuses
        "from pyloop.bench.__main__ import main; main(['--list'])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", hide_aiohttp], capture_output=True, text=True, timeout=60, check=True
    )
    line = next(row for row in proc.stdout.splitlines() if row.startswith("aiohttp_hello_world"))
    assert "pending: needs aiohttp installed" in line
