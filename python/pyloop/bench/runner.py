"""Schedules the children and collects their samples.

Every repetition runs each loop once, in turn (A B C D A B C D ...), each in a
fresh interpreter, so drift on a shared machine (other jobs, CPU frequency,
thermal state) spreads over all loops instead of landing on one, and no loop
inherits another's heap or imported modules. A child that
fails gives its loop an error for that benchmark and the remaining repetitions
of that pair are skipped; the run goes on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .scenarios import SCENARIOS

# Seconds before a child is killed and reported as hung: far above any healthy
# run (the slowest full-size child takes a few seconds on a 2-core VM).
TIMEOUT = {False: 300.0, True: 60.0}  # keyed by quick
PROBE_TIMEOUT = 60.0

# The directory holding the ``pyloop`` package, so children import the same copy.
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Results:
    loops: list[str]
    reps: int
    quick: bool
    # benchmark -> loop -> samples, in the order they were taken
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # benchmark -> loop -> one-line reason it failed
    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(_PACKAGE_ROOT) + (os.pathsep + path if path else "")
    return env


def spawn(args: list[str], timeout: float) -> dict[str, object]:
    """Run ``python -m pyloop.bench.child ARGS``; its JSON answer, or ``{"error": ...}``."""
    command = [sys.executable, "-m", "pyloop.bench.child", *args]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=_child_env()
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                answer = json.loads(line)
            except ValueError:
                break
            if isinstance(answer, dict):
                return answer
            break
    return {"error": _why_no_answer(proc)}


def _why_no_answer(proc: subprocess.CompletedProcess[str]) -> str:
    if proc.returncode < 0:
        try:
            return f"killed by {signal.Signals(-proc.returncode).name}"
        except ValueError:
            return f"killed by signal {-proc.returncode}"
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit status {proc.returncode}, no answer"


def probe(loop: str) -> tuple[str | None, str | None]:
    """(version, None) if the loop can run here, else (None, why not)."""
    answer = spawn(["probe", loop], PROBE_TIMEOUT)
    if "version" in answer:
        return str(answer["version"]), None
    return None, str(answer.get("error", "no answer"))


def progress(line: str) -> None:
    """One status line on stderr: rewritten in place on a terminal, appended in a log."""
    if sys.stderr.isatty():
        print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def note(line: str) -> None:
    """A line on stderr that stays, after any in-place progress line."""
    print(("\n" if sys.stderr.isatty() else "") + line, file=sys.stderr, flush=True)


def run_all(benches: list[str], loops: list[str], reps: int, quick: bool) -> Results:
    """Every runnable benchmark in ``benches`` on every loop, ``reps`` times, interleaved."""
    results = Results(loops=loops, reps=reps, quick=quick)
    runnable = [name for name in benches if not SCENARIOS[name].pending]
    total = len(runnable) * len(loops) * reps
    done = 0
    try:
        for name in runnable:
            spec = SCENARIOS[name]
            size, warmup = spec.size(quick), spec.warmup_size(quick)
            results.sizes[name] = size
            samples = results.samples.setdefault(name, {loop: [] for loop in loops})
            errors = results.errors.setdefault(name, {})
            for rep in range(1, reps + 1):
                for loop in loops:
                    done += 1
                    progress(f"[{done}/{total}] {name} on {loop} rep {rep}/{reps}")
                    if loop in errors:
                        continue
                    answer = spawn(["run", loop, name, str(size), str(warmup)], TIMEOUT[quick])
                    if "value" in answer:
                        samples[loop].append(float(answer["value"]))  # type: ignore[arg-type]
                    else:
                        errors[loop] = str(answer.get("error", "no answer"))
    except KeyboardInterrupt:
        results.interrupted = True
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return results
