"""Runs CPython's own asyncio tests (``test.test_asyncio``) on pyloop.

    python tests/cpython/run_suite.py [--loop pyloop|asyncio] [--verbose] [module ...]

Each module runs in its own interpreter with a policy whose loops are the
chosen loop's. CPython's tests reset the policy to None in their tear-down;
the child maps that back to the chosen policy. It counts the loops the
policy built, so a module that makes its own loops (a mock or a test loop)
shows 0 and is not mistaken for a pyloop pass. A report, not a gate: the
exit code is 0 unless the runner itself breaks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

DEFAULT_MODULES = [
    "test_locks",
    "test_queues",
    "test_pep492",
    "test_context",
    "test_waitfor",
    "test_timeouts",
    "test_taskgroups",
    "test_runners",
]

# Modules that construct `asyncio.BaseEventLoop()` directly instead of asking
# the policy; the child hands them pyloop loops.
RETARGET = ["test_pep492", "test_runners"]

CHILD = r"""
import asyncio, io, json, sys, unittest
import pyloop

RETARGET = %r

loop_name, module, verbose = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
built = [0]
base = pyloop.EventLoopPolicy if loop_name == "pyloop" else asyncio.DefaultEventLoopPolicy


class CountingPolicy(base):
    def new_event_loop(self):
        built[0] += 1
        return super().new_event_loop()


set_policy = asyncio.set_event_loop_policy


def keep_policy(policy):
    set_policy(CountingPolicy() if policy is None else policy)


asyncio.set_event_loop_policy = keep_policy
asyncio.events.set_event_loop_policy = keep_policy
set_policy(CountingPolicy())

if module in RETARGET and loop_name == "pyloop":
    # These modules build `asyncio.BaseEventLoop()` themselves and stub its
    # selector; hand them a pyloop loop instead (the stubs become unused
    # attributes), so their scenarios really run on pyloop.
    def make_loop():
        built[0] += 1
        return pyloop.new_event_loop()

    asyncio.BaseEventLoop = make_loop

suite = unittest.defaultTestLoader.loadTestsFromName(f"test.test_asyncio.{module}")
stream = io.StringIO()
result = unittest.TextTestRunner(stream=stream, verbosity=0).run(suite)
problems = [
    {"test": test.id(), "kind": kind, "last": text.strip().splitlines()[-1][:300], "text": text}
    for kind, items in (("fail", result.failures), ("error", result.errors))
    for test, text in items
]
print(json.dumps({
    "run": result.testsRun,
    "failed": len(result.failures),
    "errors": len(result.errors),
    "skipped": len(result.skipped),
    "loops_built": built[0],
    "problems": problems,
}))
"""


def run_module(loop: str, module: str, verbose: bool) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD % RETARGET, loop, module, "1" if verbose else "0"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    lines = proc.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"crashed": f"exit {proc.returncode}: {tail}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=DEFAULT_MODULES)
    parser.add_argument("--loop", choices=["pyloop", "asyncio"], default="pyloop")
    parser.add_argument("--verbose", action="store_true", help="print full tracebacks")
    args = parser.parse_args()

    print(f"CPython {sys.version.split()[0]} test.test_asyncio on {args.loop}\n")
    print("| module | run | passed | failed | errors | skipped | loops built |")
    print("|---|---|---|---|---|---|---|")
    details: list[str] = []
    for module in args.modules:
        res = run_module(args.loop, module, args.verbose)
        if "crashed" in res:
            print(f"| {module} | crashed: {res['crashed']} ||||||")
            continue
        run, failed, errors, skipped = (
            int(res[k])  # type: ignore[call-overload]
            for k in ("run", "failed", "errors", "skipped")
        )
        passed = run - failed - errors - skipped
        print(
            f"| {module} | {run} | {passed} | {failed} | {errors} | {skipped} "
            f"| {res['loops_built']} |"
        )
        for problem in res["problems"]:  # type: ignore[attr-defined]
            details.append(f"{problem['kind']}: {problem['test']}: {problem['last']}")
            if args.verbose:
                details.append(problem["text"])
    if details:
        print("\nFailures and errors:")
        print("\n".join(details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
