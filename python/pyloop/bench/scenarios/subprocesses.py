"""Child processes through ``asyncio.create_subprocess_exec`` (issue 7).

``subprocess_spawn_wait`` spawns ``/bin/true`` and awaits ``proc.wait()``,
CONCURRENCY children in flight at a time: what the loop costs per child to
start one (the transport, its pipes if any, the child watcher) and to learn
that it exited. Where ``/bin/true`` is missing the child is this interpreter
running ``pass``, much slower to start, so figures are comparable only within
one run (as all figures are). The figure is children per second.

``subprocess_pipe`` runs ``cat`` once per MiB, one child at a time, and pushes
that MiB through its stdin and back out of its stdout with ``communicate``:
the pipe transports under a real payload, plus one spawn per MiB. The figure
is MiB echoed per second.

Every child's exit status is checked, and ``cat``'s output too: a loop that
loses bytes or a status fails its cell rather than scoring.
"""

from __future__ import annotations

import asyncio
import os
import sys
from time import perf_counter

from .registry import register
from .transports import guarded

# Children in flight at once in subprocess_spawn_wait.
CONCURRENCY = 10
MIB = 1024 * 1024
TRUE = "/bin/true"


def true_command() -> tuple[str, ...]:
    """A program that exits at once with status 0."""
    if os.access(TRUE, os.X_OK):
        return (TRUE,)
    return (sys.executable, "-c", "pass")


async def spawn_wait(n: int) -> float:
    """``n`` children, CONCURRENCY at a time, each spawned and awaited."""
    command = true_command()
    each = max(1, n // CONCURRENCY)

    async def spawner() -> None:
        for _ in range(each):
            proc = await asyncio.create_subprocess_exec(*command)
            status = await proc.wait()
            if status != 0:
                raise RuntimeError(f"{command[0]} exited with status {status}")

    started = perf_counter()
    await asyncio.gather(*(spawner() for _ in range(CONCURRENCY)))
    elapsed = perf_counter() - started
    return each * CONCURRENCY / elapsed


async def pipe_through_cat(n: int) -> float:
    """``n`` MiB, each through a ``cat`` of its own, one child at a time."""
    payload = b"x" * MIB
    pipe = asyncio.subprocess.PIPE
    started = perf_counter()
    for _ in range(n):
        proc = await asyncio.create_subprocess_exec("cat", stdin=pipe, stdout=pipe)
        out, _ = await proc.communicate(payload)
        if proc.returncode != 0:
            raise RuntimeError(f"cat exited with status {proc.returncode}")
        if out != payload:
            raise ValueError(f"sent {len(payload)} bytes through cat, {len(out)} came back")
    elapsed = perf_counter() - started
    return n / elapsed


# 100 children is the size issue 7 names; a run takes a few tenths of a second.


@register("subprocess_spawn_wait", unit="children/s", full=100, quick=100)
async def subprocess_spawn_wait(n: int) -> float:
    return await guarded(spawn_wait(n))


@register("subprocess_pipe", unit="MiB/s", full=24, quick=8, in_quick=False)
async def subprocess_pipe(n: int) -> float:
    return await guarded(pipe_through_cat(n))
