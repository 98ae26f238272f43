"""What the runner tells an ``on_event`` hook, and the frozen snapshot a handle
gives of itself. Both are built only when asked for, never on the hot path."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._states import Outcome, State

if TYPE_CHECKING:
    from ._handle import TaskHandle


class EventKind(enum.Enum):
    SUBMITTED = "submitted"  # admitted to the queue
    STARTED = "started"  # an attempt began (once per attempt)
    RETRIED = "retried"  # an attempt failed; the next one follows after ``delay``
    FINISHED = "finished"  # the handle is done (exactly once per admitted job)


@dataclass(frozen=True)
class TaskEvent:
    """One step in a job's life, for logging and metrics."""

    kind: EventKind
    uid: str
    name: str
    time: float  # the runner's clock
    attempt: int
    handle: TaskHandle[Any]
    outcome: Outcome | None = None  # FINISHED only
    error: BaseException | None = None  # RETRIED: the attempt's error; FINISHED: the final one
    delay: float | None = None  # RETRIED only: the backoff pause


@dataclass(frozen=True)
class TaskRecord:
    """A frozen snapshot of a handle: safe to keep, log or compare after the fact."""

    uid: str
    name: str
    state: State
    outcome: Outcome | None
    priority: int
    created: float
    started: float | None
    finished: float | None
    attempts: int
    result: Any
    error: BaseException | None
