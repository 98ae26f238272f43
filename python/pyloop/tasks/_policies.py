"""Value objects that tune the runner: what ``submit`` does on a full queue, and
how long a failed job waits before its next attempt."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import ClassVar


class _Mode(enum.Enum):
    REJECT = "reject"
    WAIT = "wait"


@dataclass(frozen=True)
class SubmitPolicy:
    """What ``submit`` does when the queue is full.

    ``SubmitPolicy.REJECT`` raises ``QueueFull`` at once; ``SubmitPolicy.WAIT``
    waits for room as long as it takes; ``SubmitPolicy.wait(timeout=T)`` waits at
    most T seconds, then raises ``QueueFull``. A refused job leaves no trace.
    """

    mode: _Mode
    timeout: float | None = None

    REJECT: ClassVar[SubmitPolicy]
    WAIT: ClassVar[SubmitPolicy]

    def __post_init__(self) -> None:
        if self.timeout is not None:
            if self.mode is not _Mode.WAIT:
                raise ValueError("only a waiting policy takes a timeout")
            if self.timeout < 0:
                raise ValueError("timeout must be >= 0")

    @classmethod
    def wait(cls, timeout: float | None = None) -> SubmitPolicy:
        """Wait for room, at most ``timeout`` seconds (None: without limit)."""
        return cls(_Mode.WAIT, timeout)

    def __repr__(self) -> str:
        if self.mode is _Mode.REJECT:
            return "SubmitPolicy.REJECT"
        if self.timeout is None:
            return "SubmitPolicy.WAIT"
        return f"SubmitPolicy.wait(timeout={self.timeout!r})"


SubmitPolicy.REJECT = SubmitPolicy(_Mode.REJECT)
SubmitPolicy.WAIT = SubmitPolicy(_Mode.WAIT)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter between the attempts of a failing job.

    The pause before retry number k (k = 1 for the first retry) is
    ``min(max_delay, base * factor ** (k - 1))``, scaled by a uniform factor in
    ``[1 - jitter, 1 + jitter]`` so that jobs that failed together do not retry
    together. The random source is the runner's (seed it for repeatable delays).
    """

    base: float = 0.1
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.base < 0 or self.max_delay < 0:
            raise ValueError("base and max_delay must be >= 0")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to pause before retry number ``retry`` (1-based)."""
        try:
            raw = min(self.max_delay, self.base * self.factor ** (retry - 1))
        except OverflowError:  # thousands of retries: the cap has long been reached
            raw = self.max_delay
        if self.jitter:
            raw *= 1.0 + self.jitter * (2.0 * rng.random() - 1.0)
        return max(0.0, raw)
