"""``add_signal_handler`` / ``remove_signal_handler`` with asyncio's rules.

As in asyncio, a loop handler is run from the signal numbers CPython's C
handler writes to the wake-up fd, which the loop points at its reactor's
socket while it runs; so it runs even after other code replaced the Python
handler with ``signal.signal`` (uvicorn does, and restores it later). The
Python handler installed here only covers the time the loop is not running
(the numbers then go elsewhere). Either way the callback is queued as a loop
callback, never run inside the signal handler itself.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any


def _check_signal(sig: Any) -> None:
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in signal.valid_signals():
        raise ValueError(f"invalid signal number {sig}")


class SignalMixin:
    _signal_handlers: dict[int, asyncio.Handle]
    # Set while the wake-up fd is the loop's own (see the module docs).
    _signal_wakeup_taken: bool

    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        _check_signal(sig)
        self._check_closed()  # type: ignore[attr-defined]
        if threading.current_thread() is not threading.main_thread():
            # The words of the ValueError signal.set_wakeup_fd raises there,
            # as asyncio reports it.
            raise RuntimeError("set_wakeup_fd only works in main thread of the main interpreter")
        handle = asyncio.Handle(callback, args, self, None)  # type: ignore[arg-type]
        self._signal_handlers[sig] = handle
        self._poll_signals(True)  # type: ignore[attr-defined]
        try:
            signal.signal(sig, self._on_signal)
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            self._poll_signals(bool(self._signal_handlers))  # type: ignore[attr-defined]
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught") from exc
            raise

    def _on_signal(self, sig: int, _frame: object) -> None:
        if self._signal_wakeup_taken or self.is_closed():  # type: ignore[attr-defined]
            return  # the wake-up fd has the number: _signals_arrived runs it
        # The loop is not running (or not in the main thread): run it when it is.
        self._schedule_signal(sig, self.call_soon_threadsafe)  # type: ignore[attr-defined]

    def _signals_arrived(self, signals: Iterable[int]) -> None:
        """Called by the run loop with the numbers read from the wake-up fd."""
        for sig in signals:
            self._schedule_signal(sig, self.call_soon)  # type: ignore[attr-defined]

    def _schedule_signal(self, sig: int, schedule: Callable[..., object]) -> None:
        handle = self._signal_handlers.get(sig)
        if handle is None:
            return  # not ours, or removed meanwhile
        if handle.cancelled():
            self.remove_signal_handler(sig)
            return
        schedule(handle._run)  # type: ignore[attr-defined]

    def remove_signal_handler(self, sig: int) -> bool:
        _check_signal(sig)
        if self._signal_handlers.pop(sig, None) is None:
            return False
        self._poll_signals(bool(self._signal_handlers))  # type: ignore[attr-defined]
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, default)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught") from exc
            raise
        return True

    def _remove_all_signal_handlers(self) -> None:
        for sig in list(self._signal_handlers):
            self.remove_signal_handler(sig)
