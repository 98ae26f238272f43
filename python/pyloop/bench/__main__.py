"""Command line: compare event loops on the benchmarks in ``scenarios``.

    python -m pyloop.bench [--loops asyncio,uvloop,rloop,pyloop] [--only NAME ...]
                           [--quick] [--reps N] [--json FILE] [--plot FILE.png] [--list]

Progress goes to stderr, the markdown table to stdout.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

from .loops import LOOPS
from .plot import write_plot
from .report import headline, legend, metadata, table, write_json
from .runner import note, probe, progress, run_all
from .scenarios import SCENARIOS

REPS = 5
QUICK_REPS = 3


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pyloop.bench",
        description="pyloop against asyncio, uvloop and rloop; > 1 means pyloop is better.",
    )
    parser.add_argument(
        "--loops", default=",".join(LOOPS), help="comma-separated, from: " + ", ".join(LOOPS)
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", choices=list(SCENARIOS), help="these benchmarks"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_REPS} repetitions, smaller sizes, fewer benchmarks",
    )
    parser.add_argument(
        "--reps", type=int, help=f"repetitions (default {REPS}, quick {QUICK_REPS})"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every raw sample here")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="bar chart of the ratios")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def list_benchmarks() -> None:
    for name, spec in SCENARIOS.items():
        if spec.pending:
            print(f"{name:28} pending: needs {spec.needs}")
        else:
            better = "lower" if spec.lower_is_better else "higher"
            sizes = f"n={spec.full}, quick n={spec.quick}"
            if not spec.in_quick:
                sizes += " (not in a plain --quick run)"
            print(f"{name:28} {spec.unit} ({better} is better), {sizes}")


def choose_loops(wanted: list[str]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """(usable loops in order, their versions, skipped loop -> why)."""
    usable, versions, skipped = [], {}, {}
    for name in wanted:
        progress(f"checking {name} ...")
        found, why = probe(name)
        if found is None:
            skipped[name] = why or "unknown reason"
            note(f"note: skipping {name}: {skipped[name]}")
        else:
            usable.append(name)
            versions[name] = found
    return usable, versions, skipped


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.list:
        list_benchmarks()
        return 0
    wanted = list(dict.fromkeys(n.strip() for n in args.loops.split(",") if n.strip()))
    unknown = [name for name in wanted if name not in LOOPS]
    if unknown or not wanted:
        print(f"unknown loop(s): {', '.join(unknown)}; known: {', '.join(LOOPS)}", file=sys.stderr)
        return 2
    loops, versions, skipped = choose_loops(wanted)
    if not loops:
        print("no loop could be started; nothing to measure", file=sys.stderr)
        return 1
    reps = args.reps or (QUICK_REPS if args.quick else REPS)
    benches = args.only or [
        name for name, spec in SCENARIOS.items() if spec.in_quick or not args.quick
    ]
    left_out = len(SCENARIOS) - len(benches) if not args.only else 0
    results = run_all(benches, loops, reps, args.quick)
    meta = metadata(results, versions, skipped, argv)

    print(
        f"pyloop.bench, {meta['date']}, CPython {platform.python_version()}, "
        f"{meta['machine']}, {meta['cpu_count']} CPUs"
    )
    print("loops: " + ", ".join(f"{name} {v}" for name, v in versions.items()))
    if args.quick:
        print(f"quick mode: {reps} repetitions and smaller sizes; indicative only.")
        if left_out:
            print(f"{left_out} benchmarks run only in a full run (see --list).")
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    if results.interrupted:
        print("interrupted: the table holds what was measured before Ctrl-C.")
    print()
    print(table(results, benches))
    print()
    print(legend(results))
    summary = headline(results)
    if summary:
        print(summary)

    status = 130 if results.interrupted else 0
    if args.json:
        write_json(args.json, results, meta)
        print(f"raw samples: {args.json}")
    if args.plot:
        problem = write_plot(args.plot, results)
        if problem:
            print(f"no plot: {problem}", file=sys.stderr)
            return status or 1
        print(f"plot: {args.plot}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
