"""Keeps CPython's asyncio test modules that pass on pyloop passing.

run_suite.py (beside this file) prints the full report; this runs the same
default modules through it and fails on any failing test other than the
listed expected ones (and when one of those starts passing), and on a module
that did not really run on pyloop (no pyloop loop built, or an asyncio loop
built)."""

from __future__ import annotations

import pytest
import run_suite


@pytest.mark.parametrize("module", run_suite.DEFAULT_MODULES)
def test_cpython_module_passes_on_pyloop(module: str) -> None:
    result = run_suite.run_module("pyloop", module)
    assert "crashed" not in result, result
    problems = {f"{p['kind']}: {p['test']}" for p in result["problems"]}
    expected = {name for name in run_suite.EXPECTED_PROBLEMS if name.split(".")[2] == module}
    assert problems == expected
    assert result["run"] > 0
    if module in run_suite.TYPE_TEST_MODULES:
        return  # they drive asyncio's virtual-time test loop by design
    assert result["pyloop_loops"] > 0
    assert result["asyncio_loops"] == 0
