"""Ctrl-C and Python signal handlers while the loop waits in Rust.

Each scenario runs in a child process that restores Python's SIGINT handler
first (a shell may start background children with SIGINT ignored) and prints
"ready" once the loop is waiting."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
import asyncio, signal, sys
import pyloop
signal.signal(signal.SIGINT, signal.default_int_handler)
factory = {"asyncio": asyncio.new_event_loop, "pyloop": pyloop.new_event_loop}[sys.argv[1]]

async def wait_forever():
    asyncio.get_running_loop().call_soon(print, "ready")
    await asyncio.sleep(3600)
"""

SCENARIOS = {
    "run_until_complete": "factory().run_until_complete(wait_forever())",
    "runner": "asyncio.Runner(loop_factory=factory).run(wait_forever())",
    "pyloop.run": "pyloop.run(wait_forever()) if sys.argv[1] == 'pyloop' "
    "else asyncio.run(wait_forever())",
}


def _start(body: str, loop_name: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(PRELUDE) + "\n" + body
    return subprocess.Popen(
        [sys.executable, "-u", "-c", code, loop_name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_line(child: subprocess.Popen[str]) -> str:
    assert child.stdout is not None
    return child.stdout.readline().strip()


def _wait_ready(child: subprocess.Popen[str]) -> None:
    assert _read_line(child) == "ready"


def _reap(child: subprocess.Popen[str]) -> None:
    if child.poll() is None:
        child.kill()
    child.communicate(timeout=30)


@pytest.mark.parametrize("loop_name", ["asyncio", "pyloop"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_ctrl_c_interrupts_a_waiting_loop(loop_name: str, scenario: str) -> None:
    child = _start(SCENARIOS[scenario], loop_name)
    try:
        _wait_ready(child)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        _reap(child)
    assert child.returncode != 0
    assert err.rstrip().endswith("KeyboardInterrupt")


HANDLER = """
loop = factory()
def on_usr1(signum, frame):
    print("handler ran")
    loop.stop()
signal.signal(signal.SIGUSR1, on_usr1)
loop.call_soon(print, "ready")
loop.run_forever()
print("stopped")
loop.close()
"""

needs_sigusr1 = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")


@needs_sigusr1
@pytest.mark.parametrize("loop_name", ["asyncio", "pyloop"])
def test_python_signal_handler_runs_while_idle(loop_name: str) -> None:
    child = _start(HANDLER, loop_name)
    try:
        _wait_ready(child)
        child.send_signal(signal.SIGUSR1)
        assert _read_line(child) == "handler ran"
    finally:
        _reap(child)


@needs_sigusr1
@pytest.mark.pyloop_only
def test_stop_from_a_signal_handler_wakes_pyloop() -> None:
    # asyncio's selector retries epoll_wait after EINTR (PEP 475) and stays
    # asleep here; pyloop's wake-up socket also ends the wait.
    child = _start(HANDLER, "pyloop")
    try:
        _wait_ready(child)
        child.send_signal(signal.SIGUSR1)
        out, err = child.communicate(timeout=30)
    finally:
        _reap(child)
    assert (child.returncode, out.split()) == (0, ["handler", "ran", "stopped"]), err
