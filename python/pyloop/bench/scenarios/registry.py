"""The benchmark registry: what a benchmark is, and the ordered table of them.

A runnable benchmark is a coroutine function ``async def f(n: int) -> float``:
it runs on the loop that the child made current, does ``n`` units of work, times
only that work with ``time.perf_counter`` and returns one figure. A pending
benchmark has no function, only the feature it waits for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Bench = Callable[[int], Awaitable[float]]


@dataclass(frozen=True)
class Scenario:
    name: str
    unit: str
    func: Bench | None
    full: int = 0
    quick: int = 0
    lower_is_better: bool = False
    # Run once at a tenth of the size on the same loop before measuring, so lazy
    # imports and first-call costs stay out of the figure. Off where a warm-up
    # would distort the figure (memory: freed arenas would be reused).
    warmup: bool = True
    # Part of a plain ``--quick`` run (``make demo``)? Rows whose figure says
    # little more than a kept one are left out there to keep it short; ``--only``
    # still runs them at their quick size.
    in_quick: bool = True
    needs: str | None = None  # pending: the feature this benchmark waits for

    @property
    def pending(self) -> bool:
        return self.func is None

    def size(self, quick: bool) -> int:
        return self.quick if quick else self.full

    def warmup_size(self, quick: bool) -> int:
        return max(1, self.size(quick) // 10) if self.warmup else 0


# Insertion order is table order.
SCENARIOS: dict[str, Scenario] = {}


def register(
    name: str,
    *,
    unit: str,
    full: int,
    quick: int,
    lower_is_better: bool = False,
    warmup: bool = True,
    in_quick: bool = True,
) -> Callable[[Bench], Bench]:
    """Decorator: add a runnable benchmark under ``name``."""

    def add(func: Bench) -> Bench:
        _add(Scenario(name, unit, func, full, quick, lower_is_better, warmup, in_quick))
        return func

    return add


def pending(name: str, *, unit: str, needs: str) -> None:
    """List a benchmark that cannot run yet; the table shows ``pending: needs ...``."""
    _add(Scenario(name, unit, None, needs=needs))


def _add(scenario: Scenario) -> None:
    if scenario.name in SCENARIOS:
        raise ValueError(f"benchmark {scenario.name!r} is registered twice")
    SCENARIOS[scenario.name] = scenario
