"""``pyloop.Loop``: the native engine plus asyncio's once-per-call orchestration.

The hot paths (call_soon, timers, the run loop, call_soon_threadsafe) are the
native class's. This module adds what runs once per call: run_forever's set-up
and tear-down, run_until_complete, close, debug mode, and task/future creation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

from . import _compat
from ._asyncgens import AsyncGenMixin
from ._exception_handler import ExceptionHandlerMixin
from ._executors import ExecutorMixin
from ._pipes import PipeMixin
from ._pyloop import Loop as _NativeLoop
from ._pyloop import Task
from ._sendfile import SendfileMixin
from ._signals import SignalMixin
from ._sock import SockMixin
from ._subprocess import SubprocessMixin
from ._tcp import TcpMixin
from ._tls import TlsMixin
from ._transport_sendfile import TransportSendfileMixin
from ._transports import TransportMixin
from ._udp import UdpMixin
from ._unix import UnixMixin

T = TypeVar("T")

logger = logging.getLogger("asyncio")

# asyncio.constants.DEBUG_STACK_DEPTH: frames kept for coroutine origins in debug.
DEBUG_STACK_DEPTH = 10


def _debug_from_environment() -> bool:
    # asyncio's own loops ask this function (PYTHONASYNCIODEBUG, -X dev), and
    # tests patch it; ask the same one.
    is_debug_mode = getattr(asyncio.coroutines, "_is_debug_mode", None)
    if is_debug_mode is not None:
        return bool(is_debug_mode())
    return sys.flags.dev_mode or (
        not sys.flags.ignore_environment and bool(os.environ.get("PYTHONASYNCIODEBUG"))
    )


def _fd_of(fileobj: Any) -> int:
    """An fd from an int or an object with fileno(), as asyncio's selectors
    accept them, with the same ValueErrors."""
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


def _stop_when_done(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        exc = future.exception()
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            # The exception already left run_forever; nothing to stop.
            return
    future.get_loop().stop()


class Loop(
    _NativeLoop,
    ExceptionHandlerMixin,
    ExecutorMixin,
    AsyncGenMixin,
    SockMixin,
    SendfileMixin,
    TransportSendfileMixin,
    SignalMixin,
    SubprocessMixin,
    TransportMixin,
    TlsMixin,
    PipeMixin,
    UnixMixin,  # before TcpMixin: its _stop_serving extends TcpMixin's
    TcpMixin,
    UdpMixin,
    asyncio.AbstractEventLoop,
):
    """A drop-in asyncio event loop whose engine is Rust."""

    def __init__(self) -> None:
        self.slow_callback_duration = 0.1
        self._signal_handlers: dict[int, asyncio.Handle] = {}
        self._signal_wakeup_taken = False
        # Debug mode: the handle running now (set by the native run loop).
        self._current_handle: asyncio.Handle | None = None
        self._exception_handler = None
        self._default_executor = None
        self._executor_shutdown_called = False
        self._asyncgens = weakref.WeakSet()
        # fd -> live transport, so fd-level calls can refuse a transport's fd.
        self._transports: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        # fd -> the object given to add_reader/add_writer, kept as a selector
        # keeps it: a socket closed since (fileno() -1) is still found by identity.
        self._reader_objects: dict[int, Any] = {}
        self._writer_objects: dict[int, Any] = {}
        self._asyncgens_shutdown_called = False
        self._origin_tracking = False
        self._saved_origin_depth = 0
        self.set_debug(_debug_from_environment())

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} running={self.is_running()} "
            f"closed={self.is_closed()} debug={self.get_debug()}>"
        )

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if not self.is_closed():
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            if not self.is_running():
                self.close()

    # -- running ----------------------------------------------------------------

    def _check_closed(self) -> None:
        if self.is_closed():
            raise RuntimeError("Event loop is closed")

    def _check_runnable(self) -> None:
        self._check_closed()
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if asyncio._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def run_forever(self) -> None:
        self._check_runnable()
        old_hooks = sys.get_asyncgen_hooks()
        old_wakeup_fd = self._take_signal_wakeup()
        self._set_origin_tracking(self.get_debug())
        try:
            asyncio._set_running_loop(self)
            sys.set_asyncgen_hooks(
                firstiter=self._asyncgen_firstiter_hook,
                finalizer=self._asyncgen_finalizer_hook,
            )
            self._run()
        finally:
            asyncio._set_running_loop(None)
            self._set_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_hooks)
            self._give_back_signal_wakeup(old_wakeup_fd)

    def _take_signal_wakeup(self) -> int | None:
        """Point CPython's C signal handler at this loop's wake-up socket, so a
        signal (Ctrl-C) interrupts the wait in Rust, Python handlers run and
        the loop's own handlers are run from the numbers written there."""
        if threading.current_thread() is not threading.main_thread():
            return None
        try:
            old_fd = signal.set_wakeup_fd(self._signal_fd(), warn_on_full_buffer=False)
        except ValueError:
            return None
        self._signal_wakeup_taken = True
        return old_fd

    def _give_back_signal_wakeup(self, old_fd: int | None) -> None:
        if old_fd is None:
            return
        self._signal_wakeup_taken = False
        try:
            signal.set_wakeup_fd(old_fd)
        except ValueError:
            pass

    def run_until_complete(self, future: Awaitable[T]) -> T:
        self._check_runnable()
        new_task = not asyncio.isfuture(future)
        task = asyncio.ensure_future(future, loop=self)
        if new_task and hasattr(task, "_log_destroy_pending"):
            # A task made here is ours to finish; no "destroyed pending" noise.
            task._log_destroy_pending = False
        task.add_done_callback(_stop_when_done)
        try:
            self.run_forever()
        except BaseException:
            if new_task and task.done() and not task.cancelled():
                # Mark the exception retrieved: it is being raised right here.
                task.exception()
            raise
        finally:
            task.remove_done_callback(_stop_when_done)
        if not task.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return task.result()

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        if self.get_debug():
            logger.debug("Close %r", self)
        if self._signal_handlers:
            if sys.is_finalizing():
                warnings.warn(
                    f"Closing the loop {self!r} on interpreter shutdown "
                    f"stage, skipping signal handlers removal",
                    ResourceWarning,
                    stacklevel=2,
                    source=self,
                )
                self._signal_handlers.clear()
            else:
                self._remove_all_signal_handlers()
        self._hand_children_to_reapers()
        self._close()
        self._reader_objects.clear()
        self._writer_objects.clear()
        self._shut_down_executor_nowait()

    # -- fd readiness (native: one Tokio registration per fd) -------------------------

    # A live transport's fd is refused (_check_fd_free), as asyncio's selector
    # loop does: a second reader would steal the transport's readiness.

    def add_reader(self, fd: Any, callback: Callable[..., object], *args: Any) -> None:
        fileno = _fd_of(fd)
        self._check_fd_free(fileno, fd)
        self._add_io(fileno, True, callback, args)
        self._reader_objects[fileno] = fd
        return None

    def remove_reader(self, fd: Any) -> bool:
        fileno = self._registered_fd(fd)
        self._reader_objects.pop(fileno, None)
        return self._remove_io(fileno, True)

    def add_writer(self, fd: Any, callback: Callable[..., object], *args: Any) -> None:
        fileno = _fd_of(fd)
        self._check_fd_free(fileno, fd)
        self._add_io(fileno, False, callback, args)
        self._writer_objects[fileno] = fd
        return None

    def remove_writer(self, fd: Any) -> bool:
        fileno = self._registered_fd(fd)
        self._writer_objects.pop(fileno, None)
        return self._remove_io(fileno, False)

    def _registered_fd(self, fileobj: Any) -> int:
        """The fd of ``fileobj``; failing that (a socket closed since it was
        added), the fd it was added with, looked up by identity as asyncio's
        selectors do; else their ValueError."""
        try:
            fileno = _fd_of(fileobj)
        except ValueError:
            for added in (self._reader_objects, self._writer_objects):
                for fileno, obj in added.items():
                    if obj is fileobj:
                        return fileno
            raise
        self._check_fd_free(fileno, fileobj)
        return fileno

    # -- debug mode ---------------------------------------------------------------

    def set_debug(self, enabled: bool) -> None:
        super().set_debug(enabled)
        if self.is_running():
            self.call_soon_threadsafe(self._set_origin_tracking, enabled)

    def _set_origin_tracking(self, enabled: bool) -> None:
        if bool(enabled) == self._origin_tracking:
            return
        if enabled:
            self._saved_origin_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(DEBUG_STACK_DEPTH)
        else:
            sys.set_coroutine_origin_tracking_depth(self._saved_origin_depth)
        self._origin_tracking = bool(enabled)

    def _check_callback(self, callback: Any, method: str) -> None:
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError(f"coroutines cannot be used with {method}()")
        if not callable(callback):
            raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")

    def _log_slow_callback(self, handle: asyncio.Handle, seconds: float) -> None:
        owner = getattr(handle._callback, "__self__", None)
        shown = repr(owner) if isinstance(owner, (asyncio.Task, Task)) else str(handle)
        logger.warning("Executing %s took %.3f seconds", shown, seconds)

    # -- futures and tasks ----------------------------------------------------------

    # create_future is native (the Loop type's own method).

    # create_task, set_task_factory and get_task_factory are native: a task
    # factory, or keyword arguments for one (3.13), take this path.
    def _create_task_slow(
        self,
        coro: Coroutine[Any, Any, T] | Generator[Any, None, T],
        name: str | None,
        context: Any,
        kwargs: dict[str, Any],
    ) -> asyncio.Task[T]:
        if kwargs and not _compat.PY313:
            unexpected = next(iter(kwargs))
            raise TypeError(f"create_task() got an unexpected keyword argument {unexpected!r}")
        factory = self.get_task_factory()
        if factory is None:
            return Task(coro, loop=self, name=name, context=context, **kwargs)
        if context is not None:
            kwargs["context"] = context
        if _compat.PY313:
            return factory(self, coro, name=name, **kwargs)  # type: ignore[no-any-return]
        task = factory(self, coro, **kwargs)
        if name is not None:
            task.set_name(name)
        return task  # type: ignore[no-any-return]
