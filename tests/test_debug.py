"""Debug mode: how it is switched on (PYTHONASYNCIODEBUG, -X dev, set_debug),
slow-callback warnings, the thread check, coroutine origin tracking and the
creation sites the default handler reports."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
import threading
import time

import pytest
from conftest import LOOP_NAMES, run_briefly

PROBE = """
import asyncio, sys
if sys.argv[1] == "pyloop":
    import pyloop
    loop = pyloop.new_event_loop()
else:
    loop = asyncio.new_event_loop()
print(loop.get_debug())
loop.close()
"""


@pytest.mark.parametrize("loop_name", LOOP_NAMES)
@pytest.mark.parametrize(
    ("env", "flags", "expected"),
    [("1", [], "True"), ("", [], "False"), ("", ["-X", "dev"], "True"), ("1", ["-E"], "False")],
    ids=["env-1", "env-empty", "dev-mode", "env-ignored"],
)
def test_debug_from_the_environment(
    loop_name: str, env: str, flags: list[str], expected: str
) -> None:
    environ = dict(os.environ, PYTHONASYNCIODEBUG=env)
    environ.pop("PYTHONDEVMODE", None)
    # -E also hides PYTHONPATH; pass the package path explicitly instead.
    code = f"import sys; sys.path[:0] = {sys.path!r}\n" + PROBE
    out = subprocess.run(
        [sys.executable, *flags, "-W", "ignore", "-c", code, loop_name],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_set_debug(loop: asyncio.AbstractEventLoop) -> None:
    assert loop.get_debug() is False
    loop.set_debug(True)
    assert loop.get_debug() is True
    loop.set_debug(False)
    assert loop.get_debug() is False
    # Any object, by its truth value (aiohttp's tests pass 0 and 1).
    loop.set_debug(1)
    assert loop.get_debug()
    loop.set_debug(0)
    assert not loop.get_debug()


def _slow() -> None:
    time.sleep(0.2)


def _slow_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("Executing ")]


def test_slow_callback_is_logged(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)
    loop.slow_callback_duration = 0.05  # type: ignore[attr-defined]
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        loop.call_soon(_slow)
        run_briefly(loop)
    named = [r for r in _slow_records(caplog) if "_slow()" in r.getMessage()]
    assert len(named) == 1
    [record] = named
    assert (record.name, record.levelno) == ("asyncio", logging.WARNING)
    source = f"{__file__}:{_slow.__code__.co_firstlineno}"
    pattern = (
        rf"Executing <Handle _slow\(\) at {re.escape(source)} "
        rf"created at {re.escape(__file__)}:\d+> took \d+\.\d{{3}} seconds"
    )
    assert re.fullmatch(pattern, record.getMessage()), record.getMessage()


def test_slow_task_step_is_logged(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)
    loop.slow_callback_duration = 0.05  # type: ignore[attr-defined]

    async def slow_coroutine() -> None:
        _slow()

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        loop.run_until_complete(slow_coroutine())
    named = [r for r in _slow_records(caplog) if "slow_coroutine()" in r.getMessage()]
    assert len(named) == 1
    assert named[0].getMessage().startswith("Executing <Task finished name='Task-")


def test_slow_callback_is_not_logged_outside_debug(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.slow_callback_duration = 0.05  # type: ignore[attr-defined]
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        loop.call_soon(_slow)
        run_briefly(loop)
    assert _slow_records(caplog) == []


THREAD_ERROR = "Non-thread-safe operation invoked on an event loop other than the current one"


def _calls_from_a_thread(loop: asyncio.AbstractEventLoop) -> list[str]:
    """Tries the non-thread-safe scheduling methods from another thread while
    `loop` runs; returns what each did."""
    outcomes: list[str] = []

    def from_thread() -> None:
        for call in (
            lambda: loop.call_soon(int),
            lambda: loop.call_later(3600, int),
            lambda: loop.call_at(loop.time() + 3600, int),
            lambda: loop.call_soon_threadsafe(int),
        ):
            try:
                call()
                outcomes.append("ok")
            except RuntimeError as exc:
                outcomes.append(str(exc))
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=from_thread)
    loop.call_soon(thread.start)
    loop.run_forever()
    thread.join()
    return outcomes


def test_debug_mode_refuses_non_threadsafe_calls_from_other_threads(
    loop: asyncio.AbstractEventLoop,
) -> None:
    loop.set_debug(True)
    assert _calls_from_a_thread(loop) == [THREAD_ERROR] * 3 + ["ok"]


def test_no_thread_check_outside_debug(loop: asyncio.AbstractEventLoop) -> None:
    assert _calls_from_a_thread(loop) == ["ok"] * 4


def test_no_thread_check_while_the_loop_is_not_running(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    outcomes: list[str] = []

    def from_thread() -> None:
        try:
            loop.call_soon(outcomes.append, "ran")
            outcomes.append("scheduled")
        except RuntimeError as exc:
            outcomes.append(str(exc))

    thread = threading.Thread(target=from_thread)
    thread.start()
    thread.join()
    run_briefly(loop)
    assert outcomes == ["scheduled", "ran"]


def test_origin_tracking_follows_debug_while_running(loop: asyncio.AbstractEventLoop) -> None:
    before = sys.get_coroutine_origin_tracking_depth()
    depths: list[int] = []

    async def main() -> None:
        depths.append(sys.get_coroutine_origin_tracking_depth())
        loop.set_debug(False)
        await asyncio.sleep(0)
        depths.append(sys.get_coroutine_origin_tracking_depth())

    loop.set_debug(True)
    loop.run_until_complete(main())
    assert depths == [asyncio.constants.DEBUG_STACK_DEPTH, before]
    assert sys.get_coroutine_origin_tracking_depth() == before


def test_default_handler_names_where_the_failing_handle_was_created(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)

    def fail() -> None:
        raise ValueError("from a callback")

    def report_without_source() -> None:
        # A context without source_traceback: the running handle's is used.
        loop.call_exception_handler({"message": "reported while running"})

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.call_soon(fail)
        loop.call_soon(report_without_source)
        run_briefly(loop)
    messages = [r.getMessage() for r in caplog.records]
    failed = [m for m in messages if m.startswith("Exception in callback")]
    assert len(failed) == 1
    assert "\nsource_traceback: Object created at (most recent call last):\n" in failed[0]
    reported = [m for m in messages if m.startswith("reported while running")]
    assert len(reported) == 1
    assert "\nhandle_traceback: Handle created at (most recent call last):\n" in reported[0]
    assert __file__ in reported[0]
