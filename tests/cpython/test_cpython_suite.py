"""Keeps CPython's asyncio test modules that pass on pyloop passing.

run_suite.py (beside this file) prints the full report; this runs the same
default modules through it and fails on any failing test other than the
listed expected ones (and when one of those starts passing, unless its outcome is
a known race), and on a module
that did not really run on pyloop (no pyloop loop built, or an asyncio loop
built)."""

from __future__ import annotations

import pytest
import run_suite


def _explained(module: str, test: str, text: str) -> bool:
    """test_events failures that wait for issues 6-8 or use asyncio internals."""
    if module != "test_events":
        return False
    last = text.strip().splitlines()[-1] if text.strip() else ""
    return last == run_suite.NOT_YET_IMPLEMENTED or test.rsplit(".", 1)[-1] in (
        run_suite.ASYNCIO_INTERNALS
    )


@pytest.mark.parametrize("module", run_suite.DEFAULT_MODULES)
def test_cpython_module_passes_on_pyloop(module: str) -> None:
    result = run_suite.run_module("pyloop", module)
    if "crashed" in result:
        print(result.get("stderr", ""))  # a hang's stack dump (run_suite.py), shown by pytest
    assert "crashed" not in result, result["crashed"]
    problems = {
        f"{p['kind']}: {p['test']}"
        for p in result["problems"]
        if not _explained(module, p["test"], p["text"])
    }
    expected = {name for name in run_suite.EXPECTED_PROBLEMS if name.split(".")[2] == module}
    racy = run_suite.RACY_PROBLEMS
    assert problems - racy == expected - racy
    assert problems <= expected
    assert result["run"] > 0
    if module in run_suite.MIXED_LOOP_MODULES:
        return  # they drive asyncio's virtual-time test loop by design
    assert result["pyloop_loops"] > 0
    assert result["asyncio_loops"] == 0
