"""Counters and the sliding window behind ``TaskRunner.stats()``.

Totals (done by outcome) are exact and never expire; throughput and latency
percentiles come from the jobs finished in the last ``window`` seconds, kept as
at most ``max_samples`` (finish time, latency) pairs so memory stays bounded
however fast jobs finish.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from ._states import Outcome


@dataclass(frozen=True)
class RunnerStats:
    """A snapshot of a runner. Latencies run from submit to finish, in seconds."""

    queued: int
    running: int
    done: Mapping[Outcome, int]
    submitted: int
    throughput: float  # jobs finished per second over the window (0.0 if it spans no time)
    latency_p50: float | None  # None while the window holds no finished job
    latency_p90: float | None
    latency_p99: float | None
    window: float  # seconds the window covers
    samples: int  # finished jobs the figures above are drawn from

    @property
    def finished(self) -> int:
        return sum(self.done.values())

    @property
    def completed(self) -> int:
        return self.done[Outcome.COMPLETED]

    @property
    def failed(self) -> int:
        return self.done[Outcome.FAILED]

    @property
    def timed_out(self) -> int:
        return self.done[Outcome.TIMEOUT]

    @property
    def cancelled(self) -> int:
        return self.done[Outcome.CANCELLED]


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list (q in (0, 1])."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class SlidingWindow:
    """(finish time, latency) of recently finished jobs."""

    def __init__(self, window: float, max_samples: int) -> None:
        if window <= 0:
            raise ValueError("stats window must be > 0")
        if max_samples < 1:
            raise ValueError("max_samples must be >= 1")
        self.window = window
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)

    def add(self, sample: tuple[float, float]) -> None:
        """Record one finished job: (finish time, latency)."""
        self._samples.append(sample)

    def figures(
        self, now: float, since: float
    ) -> tuple[float, float | None, float | None, float | None, int]:
        """(throughput, p50, p90, p99, samples) at ``now``; ``since`` is when counting began."""
        samples = self._samples
        cutoff = now - self.window
        while samples and samples[0][0] < cutoff:
            samples.popleft()
        count = len(samples)
        if not count:
            return 0.0, None, None, None, 0
        if count == samples.maxlen:
            # Capped: older finishes inside the window were dropped, so the rate is
            # measured over the span the kept samples cover.
            span = now - samples[0][0]
        else:
            span = now - max(cutoff, since)
        rate = count / span if span > 0 else 0.0
        ordered = sorted(latency for _, latency in samples)
        return (
            rate,
            percentile(ordered, 0.50),
            percentile(ordered, 0.90),
            percentile(ordered, 0.99),
            count,
        )
