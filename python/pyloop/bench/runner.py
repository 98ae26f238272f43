"""Schedules the runs: every repetition runs each loop once, in turn
(A B C D A B C D ...), each in a fresh interpreter, so drift on a shared
machine spreads over all loops instead of landing on one."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field

CHILD_TIMEOUT = 600  # seconds; a hung child is reported, not waited on forever


@dataclass
class Results:
    # scenario -> loop -> samples
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # scenario -> loop -> one-line reason it failed
    errors: dict[str, dict[str, str]] = field(default_factory=dict)


def run_child(loop: str, scenario: str, quick: bool) -> float:
    args = [sys.executable, "-m", "pyloop.bench.child", loop, scenario]
    if quick:
        args.append("--quick")
    proc = subprocess.run(args, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
        raise RuntimeError(lines[-1])
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["value"])


def _progress(line: str) -> None:
    """One rewritten status line on a terminal; plain lines in a log."""
    if sys.stderr.isatty():
        print(f"\r{line}".ljust(72), end="", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def run_all(scenarios: list[str], loops: list[str], reps: int, quick: bool) -> Results:
    results = Results()
    total = len(scenarios) * len(loops) * reps
    done = 0
    for scenario in scenarios:
        per_loop = results.samples.setdefault(scenario, {name: [] for name in loops})
        for rep in range(reps):
            for loop in loops:
                done += 1
                _progress(f"[{done}/{total}] {scenario} on {loop} rep {rep + 1}/{reps}")
                if loop in results.errors.get(scenario, {}):
                    continue
                try:
                    per_loop[loop].append(run_child(loop, scenario, quick))
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    results.errors.setdefault(scenario, {})[loop] = str(exc)[:120]
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return results
