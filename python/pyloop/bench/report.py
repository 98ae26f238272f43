"""What the user reads: the markdown table, the headline under it, and the JSON file.

Table: one row per benchmark, one column per loop (median, then min-max over
the repetitions), then pyloop's two ratios. Pending benchmarks get a row saying
what they wait for. The plot is in ``plot``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from . import memory
from .loops import BASELINE, RIVALS, SUBJECT
from .runner import Results
from .scenarios import SCENARIOS
from .stats import Summary, best_of, geometric_mean, ratio, summarize

VS_BASELINE = f"{SUBJECT}/{BASELINE}"
VS_BEST = f"{SUBJECT}/best-of({','.join(RIVALS)})"


@dataclass(frozen=True)
class Ratios:
    vs_baseline: float | None
    vs_best: float | None
    best: str | None  # which rival was the faster in this run


def summaries(results: Results) -> dict[str, dict[str, Summary]]:
    out: dict[str, dict[str, Summary]] = {}
    for name, per_loop in results.samples.items():
        out[name] = {}
        for loop, samples in per_loop.items():
            summary = summarize(samples)
            if summary is not None and loop not in results.errors.get(name, {}):
                out[name][loop] = summary
    return out


def pyloop_ratios(results: Results) -> dict[str, Ratios]:
    """pyloop against asyncio and against the better rival, per benchmark (> 1: pyloop better)."""
    out: dict[str, Ratios] = {}
    for name, per_loop in summaries(results).items():
        medians = {loop: s.median for loop, s in per_loop.items()}
        if SUBJECT not in medians:
            continue
        lower = SCENARIOS[name].lower_is_better
        mine = medians[SUBJECT]
        vs_baseline = ratio(mine, medians[BASELINE], lower) if BASELINE in medians else None
        best = best_of(medians, RIVALS, lower)
        vs_best = ratio(mine, medians[best], lower) if best else None
        out[name] = Ratios(vs_baseline, vs_best, best)
    return out


def _number(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:.2f}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def _count(n: int) -> str:
    """A work size: 300k, 1.5M, 10."""
    for factor, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= factor:
            return f"{n / factor:g}{suffix}"
    return str(n)


def _cell(text: str) -> str:
    """Keep one cell on one line and inside its column."""
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= 90 else text[:87] + "..."


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(results: Results, benches: list[str]) -> str:
    loops = results.loops
    with_ratios = SUBJECT in loops
    head = ["benchmark", "n", "unit", *loops]
    if with_ratios:
        head += [VS_BASELINE, VS_BEST]
    lines = [_row(head), _row(["---"] * len(head))]
    stats = summaries(results)
    ratios = pyloop_ratios(results)
    for name in benches:
        spec = SCENARIOS[name]
        if spec.pending:
            cells = [name, "", spec.unit, f"pending: needs {spec.needs}"]
            lines.append(_row(cells + [""] * (len(head) - len(cells))))
            continue
        unit = spec.unit + (" (lower is better)" if spec.lower_is_better else "")
        size = results.sizes.get(name)
        cells = [name, _count(size) if size else "", unit]
        for loop in loops:
            error = results.errors.get(name, {}).get(loop)
            summary = stats.get(name, {}).get(loop)
            if error:
                cells.append(_cell(f"error: {error}"))
            elif summary:
                spread = f"{_number(summary.low)}-{_number(summary.high)}"
                cells.append(f"{_number(summary.median)} ({spread})")
            else:
                cells.append("not run")
        if with_ratios:
            cells += _ratio_cells(ratios.get(name), spec.lower_is_better)
        lines.append(_row(cells))
    return "\n".join(lines)


def _ratio_cells(ratios: Ratios | None, inverted: bool) -> list[str]:
    mark = "*" if inverted else ""
    if ratios is None:
        return ["-", "-"]
    first = f"{ratios.vs_baseline:.2f}x{mark}" if ratios.vs_baseline is not None else "-"
    second = "-"
    if ratios.vs_best is not None:
        second = f"{ratios.vs_best:.2f}x{mark} ({ratios.best})"
    return [first, second]


def legend(results: Results) -> str:
    lines = [
        f"Cells: median (min-max) over {results.reps} runs, each in a fresh interpreter; "
        "loops interleaved."
    ]
    if SUBJECT not in results.loops:
        return lines[0]
    lines += [
        f"Ratios: > 1 means {SUBJECT} is better. Throughput rows: {SUBJECT} / other. "
        f"Rows marked * (lower is better): other / {SUBJECT}, i.e. inverted.",
        f"best-of: the rival among {', '.join(RIVALS)} with the better median in this run, "
        "named in brackets.",
    ]
    return "\n".join(lines)


def headline(results: Results) -> str | None:
    """Geometric means of the two ratio columns over the benchmarks that have them."""
    ratios = pyloop_ratios(results).values()
    vs_baseline = [r.vs_baseline for r in ratios if r.vs_baseline is not None]
    vs_best = [r.vs_best for r in ratios if r.vs_best is not None]
    parts = []
    mean = geometric_mean(vs_baseline)
    if mean is not None:
        parts.append(f"{mean:.2f}x {BASELINE} (over {len(vs_baseline)} benchmarks)")
    mean = geometric_mean(vs_best)
    if mean is not None:
        parts.append(f"{mean:.2f}x best-of({', '.join(RIVALS)}) (over {len(vs_best)})")
    if not parts:
        return None
    return f"Headline, geometric mean of {SUBJECT}'s ratios: " + "; ".join(parts) + "."


def metadata(
    results: Results, versions: dict[str, str], skipped: dict[str, str], argv: list[str]
) -> dict[str, object]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": sys.version,
        "python_executable": sys.executable,
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loops": versions,
        "skipped_loops": skipped,
        "repetitions": results.reps,
        "quick": results.quick,
        "interrupted": results.interrupted,
        "memory_method": memory.METHOD,
        "argv": argv,
    }


def write_json(path: Path, results: Results, meta: dict[str, object]) -> None:
    """Every raw sample, plus what is needed to judge them later."""
    benches = {}
    ratios = pyloop_ratios(results)
    stats = summaries(results)
    for name, per_loop in results.samples.items():
        spec = SCENARIOS[name]
        benches[name] = {
            "unit": spec.unit,
            "lower_is_better": spec.lower_is_better,
            "size": results.sizes.get(name),
            "samples": per_loop,
            "errors": results.errors.get(name, {}),
            "summary": {loop: asdict(s) for loop, s in stats.get(name, {}).items()},
            "ratios": asdict(ratios[name]) if name in ratios else None,
        }
    pending = {name: s.needs for name, s in SCENARIOS.items() if s.pending}
    payload = {"meta": meta, "benchmarks": benches, "pending": pending}
    path.write_text(json.dumps(payload, indent=2) + "\n")
