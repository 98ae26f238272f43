"""The states a submitted job passes through and how a finished one ended.

Names only: the transitions between them are made by ``_runner.py``.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    """Where a job is: waiting in the queue, owned by a worker, or finished."""

    PENDING = "pending"  # queued; no worker has taken it yet
    RUNNING = "running"  # a worker owns it: an attempt, a backoff pause or a cleanup hook
    DONE = "done"  # finished; the handle's outcome says how


class Outcome(enum.Enum):
    """How a DONE job ended (the sub-state of ``State.DONE``)."""

    COMPLETED = "completed"  # run() returned
    FAILED = "failed"  # run() raised, and no retry was left
    TIMEOUT = "timeout"  # an attempt overran its timeout; on_timeout ran
    CANCELLED = "cancelled"  # cancel() or shutdown; on_cancel ran unless forced or never started
