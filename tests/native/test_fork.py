"""A loop belongs to the process that built it: a forked child cannot run it
(its Tokio runtime's state stays in the parent) but can build its own."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from types import ModuleType

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _in_child(body: Callable[[], int]) -> tuple[int, str]:
    """Runs `body` in a forked child; returns its exit code and any error."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report through the pipe, never return into pytest
        code = 1
        try:
            code = body()
        except BaseException as exc:
            os.write(write_fd, repr(exc).encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        message = pipe.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), message


def test_parent_loop_fails_clearly_in_child(pyloop: ModuleType) -> None:
    loop = pyloop.new_event_loop()
    try:
        code, message = _in_child(lambda: loop.run_until_complete(asyncio.sleep(0)) or 0)
        assert code == 1
        assert "RuntimeError" in message
        assert "forked child" in message
        # The parent's loop is untouched.
        assert loop.run_until_complete(asyncio.sleep(0, result=3)) == 3
    finally:
        loop.close()


def test_child_can_build_its_own_loop(pyloop: ModuleType) -> None:
    code, message = _in_child(lambda: pyloop.run(asyncio.sleep(0, result=7)))
    assert (code, message) == (7, "")
