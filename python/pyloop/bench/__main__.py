"""Command line: ``python -m pyloop.bench [--loops ...] [--only ...] [--quick]
[--json FILE] [--plot FILE.png]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .loops import LOOPS, available
from .report import metadata, table, write_json, write_plot
from .runner import run_all
from .scenarios import SCENARIOS


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pyloop.bench", description=__doc__)
    parser.add_argument("--loops", default=",".join(LOOPS), help="comma-separated loop names")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="benchmarks to run")
    parser.add_argument("--quick", action="store_true", help="3 repetitions, smaller sizes")
    parser.add_argument("--reps", type=int, help="repetitions (default 5, quick 3)")
    parser.add_argument("--json", type=Path, help="write every raw sample here")
    parser.add_argument("--plot", type=Path, help="write a PNG bar chart of the ratios")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    wanted = [name.strip() for name in args.loops.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in LOOPS]
    if unknown:
        print(f"unknown loop(s): {', '.join(unknown)}; known: {', '.join(LOOPS)}", file=sys.stderr)
        return 2
    loops = []
    for name in wanted:
        reason = available(name)
        if reason is None:
            loops.append(name)
        else:
            print(f"note: skipping {name}: {reason}", file=sys.stderr)
    reps = args.reps or (3 if args.quick else 5)
    scenarios = args.only or list(SCENARIOS)
    print(
        f"pyloop.bench: {len(scenarios)} benchmarks x {len(loops)} loops x {reps} reps"
        f"{' (quick sizes)' if args.quick else ''}; fresh process per run, median shown",
        file=sys.stderr,
    )
    results = run_all(scenarios, loops, reps, args.quick)
    meta = metadata(loops, reps, args.quick)
    print(f"\n{meta['date']}, {meta['machine']}, {meta['cpus']} CPUs, loops: {meta['loops']}\n")
    print(table(results, loops))
    if args.json:
        write_json(args.json, results, meta)
        print(f"\nraw samples: {args.json}")
    if args.plot:
        problem = write_plot(args.plot, results)
        if problem:
            print(f"\nno plot: {problem}", file=sys.stderr)
            return 1
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
