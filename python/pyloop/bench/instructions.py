"""Instructions per unit of work, counted by valgrind's callgrind: a measure that
does not swing with the load of a shared machine, as timings do.

    python -m pyloop.bench.instructions [--loops pyloop,rloop,uvloop] [--n 1000]

Each scenario runs under callgrind with n and 3n units; the difference of the
two totals divided by 2n is the cost of one unit, with interpreter start-up and
imports cancelled out. Needs ``valgrind`` on PATH. Slow (a minute or two).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import re
import shutil
import subprocess
import sys

SCENARIOS = ("gather_sleep0", "create_await", "task_chain", "future_roundtrip")


async def _scenario(name: str, n: int) -> None:
    loop = asyncio.get_running_loop()

    async def yielder() -> None:
        for _ in range(10):
            await asyncio.sleep(0)

    async def trivial() -> None:
        pass

    async def link(level: int) -> int:
        if level == 0:
            return 0
        return await loop.create_task(link(level - 1)) + 1

    if name == "gather_sleep0":
        await asyncio.gather(*(yielder() for _ in range(n)))
    elif name == "create_await":
        for task in [loop.create_task(trivial()) for _ in range(n)]:
            await task
    elif name == "task_chain":
        for _ in range(n // 100):
            await link(100)
    elif name == "future_roundtrip":
        for i in range(n):
            fut = loop.create_future()
            loop.call_soon(fut.set_result, i)
            await fut


def _child(loop_name: str, scenario: str, n: int) -> None:
    if loop_name == "asyncio":
        loop = asyncio.new_event_loop()
    else:
        loop = importlib.import_module(loop_name).new_event_loop()
    loop.run_until_complete(_scenario(scenario, n))
    loop.close()


def _count(loop_name: str, scenario: str, n: int) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
           "-m", "pyloop.bench.instructions", "--child", loop_name, scenario, str(n)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    match = re.search(r"Collected : (\d+)", out)
    if match is None:
        raise RuntimeError(f"no callgrind total for {loop_name} {scenario}:\n{out}")
    return int(match.group(1))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        _child(argv[1], argv[2], int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--loops", default="pyloop,rloop,uvloop")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed", file=sys.stderr)
        return 2
    loops = args.loops.split(",")
    print("| scenario | " + " | ".join(loops) + " |")
    print("|---" * (len(loops) + 1) + "|")
    for scenario in SCENARIOS:
        cells = []
        for loop_name in loops:
            small = _count(loop_name, scenario, args.n)
            large = _count(loop_name, scenario, 3 * args.n)
            cells.append(f"{(large - small) / (2 * args.n):,.0f}")
        print(f"| {scenario} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
