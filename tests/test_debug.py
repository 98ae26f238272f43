"""Debug mode: PYTHONASYNCIODEBUG, slow-callback warnings, thread checks."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time

import pytest
from conftest import run_briefly

PROBE = "import asyncio, {mod}; print({mod}.new_event_loop().get_debug())"


@pytest.mark.parametrize("mod", ["asyncio", "pyloop"])
@pytest.mark.parametrize(("env", "expected"), [("1", "True"), ("", "False")])
def test_pythonasynciodebug(mod: str, env: str, expected: str) -> None:
    environ = dict(os.environ, PYTHONASYNCIODEBUG=env)
    environ.pop("PYTHONDEVMODE", None)
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROBE.format(mod=mod)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == expected


def test_set_debug(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    assert loop.get_debug()
    loop.set_debug(False)
    assert not loop.get_debug()


def test_slow_callback_is_logged(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01  # type: ignore[attr-defined]

    def slow() -> None:
        time.sleep(0.05)

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.call_soon(slow)
        loop.call_soon(lambda: None)
        run_briefly(loop)
    slow_records = [r for r in caplog.records if "took" in r.getMessage()]
    assert len(slow_records) == 1
    message = slow_records[0].getMessage()
    assert message.startswith("Executing <Handle test_slow_callback_is_logged.<locals>.slow()")
    assert message.endswith("seconds")


def test_non_threadsafe_call_from_another_thread(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    errors: list[str] = []

    def from_thread() -> None:
        for call in (lambda: loop.call_soon(print), lambda: loop.call_later(1, print)):
            try:
                call()
            except RuntimeError as exc:
                errors.append(str(exc))
        loop.call_soon_threadsafe(loop.stop)

    loop.call_soon(lambda: threading.Thread(target=from_thread).start())
    loop.run_forever()
    assert (
        errors
        == ["Non-thread-safe operation invoked on an event loop other than the current one"] * 2
    )


def test_other_threads_may_schedule_outside_debug(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []

    def from_thread() -> None:
        loop.call_soon_threadsafe(seen.append, "ok")
        loop.call_soon_threadsafe(loop.stop)

    loop.call_soon(lambda: threading.Thread(target=from_thread).start())
    loop.run_forever()
    assert seen == ["ok"]


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
    assert any(m.startswith("Exception in callback") and "source_traceback" in m for m in messages)
    reported = [m for m in messages if m.startswith("reported while running")]
    assert len(reported) == 1
    assert "handle_traceback: Handle created at (most recent call last):" in reported[0]
    assert __file__ in reported[0]
