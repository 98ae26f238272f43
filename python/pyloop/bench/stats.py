"""Numbers from samples: median with min-max spread, and pyloop's ratios.

Every ratio is oriented so that > 1 means pyloop is better: ``pyloop / other``
for throughput, ``other / pyloop`` (inverted) for lower-is-better figures such
as bytes per task.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    n: int


def summarize(samples: list[float]) -> Summary | None:
    if not samples:
        return None
    return Summary(statistics.median(samples), min(samples), max(samples), len(samples))


def ratio(pyloop: float, other: float, lower_is_better: bool) -> float | None:
    """pyloop relative to ``other``; > 1 means pyloop is better either way."""
    numerator, denominator = (other, pyloop) if lower_is_better else (pyloop, other)
    if denominator <= 0 or numerator < 0:
        return None
    return numerator / denominator


def best_of(medians: dict[str, float], names: tuple[str, ...], lower_is_better: bool) -> str | None:
    """The name among ``names`` with the better median, if any has one."""
    present = [name for name in names if name in medians]
    if not present:
        return None
    pick = min if lower_is_better else max
    return pick(present, key=lambda name: medians[name])


def geometric_mean(values: list[float]) -> float | None:
    positive = [v for v in values if v > 0]
    if not positive:
        return None
    return math.exp(sum(math.log(v) for v in positive) / len(positive))
