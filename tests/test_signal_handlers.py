"""add_signal_handler / remove_signal_handler, differential: the handler runs
as a loop callback, and misuse raises what asyncio raises."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest


def test_handler_runs_as_a_loop_callback(loop: asyncio.AbstractEventLoop) -> None:
    log: list[object] = []
    ran = loop.create_future()

    def on_usr1(tag: str) -> None:
        log.append((tag, "in loop" if loop.is_running() else "outside"))
        ran.set_result(None)

    async def main() -> None:
        loop.add_signal_handler(signal.SIGUSR1, on_usr1, "usr1")
        os.kill(os.getpid(), signal.SIGUSR1)
        log.append("sent")
        await asyncio.wait_for(ran, 30)

    try:
        loop.run_until_complete(main())
        assert log == ["sent", ("usr1", "in loop")]
        assert loop.remove_signal_handler(signal.SIGUSR1) is True
        assert loop.remove_signal_handler(signal.SIGUSR1) is False
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)


def test_handler_runs_from_the_wakeup_fd_even_with_the_python_handler_replaced(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # uvicorn replaces the Python handler with signal.signal while it serves
    # and expects the loop's handler to run all the same: asyncio's does, from
    # the numbers written to the wake-up fd, one iteration after reading them.
    async def main() -> list[object]:
        log: list[object] = []
        loop.add_signal_handler(signal.SIGUSR1, log.append, "handler")
        signal.raise_signal(signal.SIGUSR1)
        log.append("raised")
        for turn in range(3):
            await asyncio.sleep(0)
            log.append(turn)
        replaced = signal.signal(signal.SIGUSR1, lambda *_: log.append("python"))
        signal.raise_signal(signal.SIGUSR1)
        log.append("raised again")
        for turn in range(3):
            await asyncio.sleep(0)
            log.append(turn)
        signal.signal(signal.SIGUSR1, replaced)
        loop.remove_signal_handler(signal.SIGUSR1)
        return log

    try:
        log = loop.run_until_complete(main())
    finally:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    assert log == [
        *("raised", 0, 1, "handler", 2),
        *("python", "raised again", 0, 1, "handler", 2),
    ]


def test_close_removes_handlers_and_sigint_gets_its_default_back(
    loop: asyncio.AbstractEventLoop,
) -> None:
    try:
        loop.add_signal_handler(signal.SIGUSR2, lambda: None)
        loop.add_signal_handler(signal.SIGINT, lambda: None)
        loop.close()
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGUSR2, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_misuse(loop: asyncio.AbstractEventLoop) -> None:
    async def coro() -> None:
        pass

    with pytest.raises(TypeError):
        loop.add_signal_handler(signal.SIGUSR1, coro)
    with pytest.raises(TypeError):
        loop.add_signal_handler("SIGUSR1", lambda: None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        loop.add_signal_handler(4096, lambda: None)
    with pytest.raises(TypeError):
        loop.remove_signal_handler("SIGUSR1")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="cannot be caught"):
        loop.add_signal_handler(signal.SIGKILL, lambda: None)

    errors: list[BaseException] = []

    def from_thread() -> None:
        try:
            loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        except BaseException as exc:  # recorded for the assertion
            errors.append(exc)

    thread = threading.Thread(target=from_thread)
    thread.start()
    thread.join()
    assert [type(e) for e in errors] == [RuntimeError]

    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)
