"""The child side: one benchmark on one loop in this fresh interpreter.

    python -m pyloop.bench.child run LOOP BENCHMARK SIZE WARMUP_SIZE
    python -m pyloop.bench.child probe LOOP

Prints exactly one JSON line: ``{"value": ...}`` or ``{"version": ...}``, or
``{"error": "one line"}`` with exit status 1. The loop is made current with
``asyncio.set_event_loop`` and the benchmark runs under ``run_until_complete``;
the benchmark times itself, so interpreter start-up and loop creation are not
in the figure.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys

from .loops import factory, version
from .scenarios import SCENARIOS

USAGE = "usage: child run LOOP BENCHMARK SIZE WARMUP_SIZE | child probe LOOP"


def run(loop_name: str, bench: str, size: int, warmup_size: int) -> dict[str, object]:
    func = SCENARIOS[bench].func
    if func is None:
        raise ValueError(f"{bench} is pending, not runnable")
    loop = factory(loop_name)()
    asyncio.set_event_loop(loop)
    try:
        if warmup_size:
            loop.run_until_complete(func(warmup_size))
        gc.collect()
        value = loop.run_until_complete(func(size))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return {"value": value}


def probe(loop_name: str) -> dict[str, object]:
    """Can this loop be built and run here? Answers with its version."""
    loop = factory(loop_name)()
    try:
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    return {"version": version(loop_name)}


def one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0] if text else type(exc).__name__


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["run"] and len(argv) == 5:
            result = run(argv[1], argv[2], int(argv[3]), int(argv[4]))
        elif argv[:1] == ["probe"] and len(argv) == 2:
            result = probe(argv[1])
        else:
            result = {"error": USAGE}
    except Exception as exc:
        result = {"error": one_line(exc)}
    print(json.dumps(result), flush=True)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
