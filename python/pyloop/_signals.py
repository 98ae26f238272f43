"""``add_signal_handler`` / ``remove_signal_handler`` with asyncio's rules.

CPython's own C handler already wakes a waiting loop: while it runs, the
loop points ``signal.set_wakeup_fd`` at the reactor's socket, and the run
loop runs Python-level handlers after each wake-up. So a handler installed
here is a small Python function that queues the user's callback as a loop
callback (``call_soon``): it runs on the next iteration, in order with the
other callbacks, never inside the signal handler itself.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import threading
from collections.abc import Callable
from typing import Any


def _check_signal(sig: Any) -> None:
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in signal.valid_signals():
        raise ValueError(f"invalid signal number {sig}")


class SignalMixin:
    _signal_handlers: dict[int, asyncio.Handle]

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
        try:
            signal.signal(sig, self._on_signal)
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught") from exc
            raise

    def _on_signal(self, sig: int, _frame: object) -> None:
        handle = self._signal_handlers.get(sig)
        if handle is None or self.is_closed():  # type: ignore[attr-defined]
            return
        if handle.cancelled():
            self.remove_signal_handler(sig)
            return
        # Signal handlers run in the main thread; the loop may be running
        # in it (the usual case) or not yet.
        self.call_soon_threadsafe(handle._run)  # type: ignore[attr-defined]

    def remove_signal_handler(self, sig: int) -> bool:
        _check_signal(sig)
        if self._signal_handlers.pop(sig, None) is None:
            return False
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
