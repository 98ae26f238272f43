"""The runner's own exceptions. Each subclasses the asyncio error it stands for,
so ``except asyncio.QueueFull`` and ``except asyncio.InvalidStateError`` clauses
already written around asyncio code keep working."""

from __future__ import annotations

import asyncio


class QueueFull(asyncio.QueueFull):
    """The runner's queue had no room for a job (REJECT, or a bounded wait ran out).

    The refused job leaves no trace: no handle, no event, no count in ``stats()``.
    """


class InvalidStateError(asyncio.InvalidStateError):
    """A handle's result or exception was read before the job was done."""


class RunnerClosedError(RuntimeError):
    """``submit`` was called on a runner that is shut down or shutting down."""
