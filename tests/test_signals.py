"""Ctrl-C and Python signal handlers while the loop waits with nothing to do.

Each scenario runs in an unbuffered child interpreter: it restores Python's SIGINT handler
first (a shell may start background jobs with SIGINT ignored), prints "ready"
once the loop is about to wait, and the parent signals it only then. The only
time bound is a generous one on the child's exit."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import LOOP_NAMES

PRELUDE = """
import asyncio, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
loop_name = sys.argv[1]
if loop_name == "pyloop":
    import pyloop
    factory = pyloop.new_event_loop
    policy = pyloop.EventLoopPolicy
else:
    factory = asyncio.new_event_loop
    policy = asyncio.DefaultEventLoopPolicy

async def wait_forever():
    asyncio.get_running_loop().call_soon(print, "ready")
    await asyncio.sleep(3600)
"""

INTERRUPTED = {
    "run_until_complete": """
loop = factory()
try:
    loop.run_until_complete(wait_forever())
except KeyboardInterrupt:
    # The loop survives the interruption and runs again.
    print("interrupted", loop.is_running(), asyncio._get_running_loop())
    print(loop.run_until_complete(asyncio.sleep(0, "ran again")))
    raise
finally:
    loop.close()
""",
    "asyncio.run": """
asyncio.set_event_loop_policy(policy())
asyncio.run(wait_forever())
""",
    "Runner": """
with asyncio.Runner(loop_factory=factory) as runner:
    runner.run(wait_forever())
""",
    "pyloop.run": """
run = pyloop.run if loop_name == "pyloop" else asyncio.run
run(wait_forever())
""",
}

EXPECTED_STDOUT = {"run_until_complete": ["ready", "interrupted False None", "ran again"]}


def _start(body: str, loop_name: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(PRELUDE) + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-u", "-c", code, loop_name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_ready(child: subprocess.Popen[str]) -> None:
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if line != "ready":
        _, err = child.communicate(timeout=30)
        pytest.fail(f"child did not get ready: {line!r}\n{err}")
    # Not an assertion on time: only makes it likely the loop is asleep.
    time.sleep(0.2)


def _signal_and_collect(child: subprocess.Popen[str], signum: int) -> tuple[list[str], str]:
    try:
        _wait_ready(child)
        child.send_signal(signum)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=30)
    return ["ready", *out.splitlines()], err


@pytest.mark.parametrize("loop_name", LOOP_NAMES)
@pytest.mark.parametrize("scenario", list(INTERRUPTED))
def test_ctrl_c_interrupts_a_waiting_loop(loop_name: str, scenario: str) -> None:
    child = _start(INTERRUPTED[scenario], loop_name)
    out, err = _signal_and_collect(child, signal.SIGINT)
    # An uncaught KeyboardInterrupt ends CPython by re-raising SIGINT.
    assert child.returncode == -signal.SIGINT, err
    assert err.rstrip().splitlines()[-1] == "KeyboardInterrupt", err
    assert out == EXPECTED_STDOUT.get(scenario, ["ready"])


needs_sigusr1 = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")

HANDLER = """
loop = factory()
def on_usr1(signum, frame):
    print("handler ran", loop.is_running())
    {stop}
signal.signal(signal.SIGUSR1, on_usr1)
loop.call_soon(print, "ready")
loop.run_forever()
print("stopped")
loop.close()
"""


@needs_sigusr1
@pytest.mark.parametrize("loop_name", LOOP_NAMES)
def test_python_signal_handler_runs_while_idle(loop_name: str) -> None:
    # The handler wakes the loop the thread-safe way, which works on asyncio too.
    child = _start(HANDLER.format(stop="loop.call_soon_threadsafe(loop.stop)"), loop_name)
    out, err = _signal_and_collect(child, signal.SIGUSR1)
    assert (child.returncode, out) == (0, ["ready", "handler ran True", "stopped"]), err


@needs_sigusr1
@pytest.mark.pyloop_only
def test_plain_stop_from_a_signal_handler_wakes_pyloop() -> None:
    # asyncio's selector retries epoll_wait after EINTR (PEP 475) and sleeps on
    # after a bare loop.stop() here; pyloop's wake-up socket ends the wait.
    child = _start(HANDLER.format(stop="loop.stop()"), "pyloop")
    out, err = _signal_and_collect(child, signal.SIGUSR1)
    assert (child.returncode, out) == (0, ["ready", "handler ran True", "stopped"]), err


@pytest.mark.parametrize("loop_name", LOOP_NAMES)
def test_second_ctrl_c_while_asyncio_run_cleans_up(loop_name: str) -> None:
    # asyncio.Runner's SIGINT handler cancels the main task first; a task that
    # swallows the cancellation keeps running until a second SIGINT.
    body = """
async def stubborn():
    asyncio.get_running_loop().call_soon(print, "ready")
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        print("cancelled once")
        await asyncio.sleep(3600)

with asyncio.Runner(loop_factory=factory) as runner:
    runner.run(stubborn())
"""
    child = _start(body, loop_name)
    try:
        _wait_ready(child)
        child.send_signal(signal.SIGINT)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "cancelled once"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=30)
    assert child.returncode == -signal.SIGINT, err
    assert err.rstrip().splitlines()[-1] == "KeyboardInterrupt", err
