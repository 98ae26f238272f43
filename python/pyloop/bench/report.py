"""Turns samples into the markdown table, the JSON file and the plot."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
from pathlib import Path

from .loops import version
from .runner import Results
from .scenarios import PENDING, SCENARIOS

RIVALS = ("uvloop", "rloop")


def _fmt(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def ratio(scenario: str, pyloop: float, other: float) -> float:
    """> 1 means pyloop is better, for throughput and for memory alike."""
    if SCENARIOS[scenario].higher_is_better:
        return pyloop / other
    return other / pyloop


def medians(results: Results) -> dict[str, dict[str, float]]:
    return {
        scenario: {loop: statistics.median(s) for loop, s in per_loop.items() if s}
        for scenario, per_loop in results.samples.items()
    }


def table(results: Results, loops: list[str]) -> str:
    meds = medians(results)
    head = ["benchmark", "unit", *loops]
    if "pyloop" in loops:
        head += ["pyloop/asyncio", "pyloop/best(uvloop,rloop)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario, per_loop in results.samples.items():
        spec = SCENARIOS[scenario]
        unit = spec.unit + ("" if spec.higher_is_better else " (lower is better)")
        row = [scenario, unit]
        for loop in loops:
            samples = per_loop.get(loop) or []
            error = results.errors.get(scenario, {}).get(loop)
            if error:
                row.append(f"error: {error}")
            elif samples:
                med = meds[scenario][loop]
                row.append(f"{_fmt(med)} ({_fmt(min(samples))}-{_fmt(max(samples))})")
            else:
                row.append("-")
        if "pyloop" in loops:
            row += _ratio_cells(scenario, meds[scenario])
        lines.append("| " + " | ".join(row) + " |")
    for name, reason in PENDING.items():
        cells = [name, f"pending: needs {reason}"] + [""] * (len(head) - 2)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio_cells(scenario: str, med: dict[str, float]) -> list[str]:
    if "pyloop" not in med:
        return ["-", "-"]
    cells = ["-"]
    if "asyncio" in med:
        cells[0] = f"{ratio(scenario, med['pyloop'], med['asyncio']):.2f}x"
    rivals = [med[r] for r in RIVALS if r in med]
    if rivals:
        best = max(rivals) if SCENARIOS[scenario].higher_is_better else min(rivals)
        cells.append(f"{ratio(scenario, med['pyloop'], best):.2f}x")
    else:
        cells.append("-")
    return cells


def metadata(loops: list[str], reps: int, quick: bool) -> dict[str, object]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": sys.version,
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "loops": {loop: version(loop) for loop in loops},
        "repetitions": reps,
        "quick": quick,
    }


def write_json(path: Path, results: Results, meta: dict[str, object]) -> None:
    payload = {
        "meta": meta,
        "samples": results.samples,
        "errors": results.errors,
        "medians": medians(results),
    }
    path.write_text(json.dumps(payload, indent=2))


def write_plot(path: Path, results: Results) -> str | None:
    """Bar chart of pyloop's ratios; returns why not if it cannot be drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'pyloop[plot]')"
    meds = medians(results)
    names, vs_asyncio, vs_best = [], [], []
    for scenario, med in meds.items():
        if "pyloop" not in med or "asyncio" not in med:
            continue
        rivals = [med[r] for r in RIVALS if r in med]
        best = (max if SCENARIOS[scenario].higher_is_better else min)(rivals) if rivals else None
        names.append(scenario)
        vs_asyncio.append(ratio(scenario, med["pyloop"], med["asyncio"]))
        vs_best.append(ratio(scenario, med["pyloop"], best) if best else 0.0)
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(names) + 1.5))
    ys = range(len(names))
    ax.barh([y + 0.2 for y in ys], vs_asyncio, height=0.4, label="pyloop / asyncio")
    ax.barh([y - 0.2 for y in ys], vs_best, height=0.4, label="pyloop / best(uvloop, rloop)")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(list(ys), names)
    ax.set_xlabel("ratio (> 1: pyloop better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return None
