"""All benchmarks, registered by name: the runnable ones first, then the pending ones,
each group in registration order (which is table order)."""

from __future__ import annotations

from . import files, io, micro, subprocesses, task_runner, tls, transports, web
from .registry import SCENARIOS, Scenario

# Import order follows isort, not the table; put pending rows last, keeping order.
for _spec in sorted(SCENARIOS.values(), key=lambda spec: spec.pending):
    SCENARIOS[_spec.name] = SCENARIOS.pop(_spec.name)

__all__ = [
    "SCENARIOS",
    "Scenario",
    "files",
    "io",
    "micro",
    "subprocesses",
    "task_runner",
    "tls",
    "transports",
    "web",
]
