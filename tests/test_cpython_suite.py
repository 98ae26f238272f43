"""Gate: CPython's own asyncio test modules pass on pyloop loops.

The runner (tests/cpython/run_suite.py) prints the full table; this keeps
the modules that pass today passing, and fails a module that silently ran
on some other loop (no pyloop loop built)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "run_suite", Path(__file__).parent / "cpython" / "run_suite.py"
)
assert _spec is not None and _spec.loader is not None
run_suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_suite)


@pytest.mark.parametrize("module", run_suite.DEFAULT_MODULES)
def test_cpython_module_passes_on_pyloop(module: str) -> None:
    result = run_suite.run_module("pyloop", module, verbose=False)
    assert "crashed" not in result, result
    problems = [f"{p['kind']}: {p['test']}: {p['last']}" for p in result["problems"]]
    assert problems == []
    assert result["failed"] == result["errors"] == 0
    assert result["run"] > 0
    assert result["loops_built"] > 0
