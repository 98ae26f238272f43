"""Thread-pool work for the loop: run_in_executor, the default executor and
its shutdown, and name resolution (which blocks, so it runs in the pool)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import warnings
from collections.abc import Callable
from typing import Any

# asyncio.constants.THREAD_JOIN_TIMEOUT (3.12+): how long shutdown waits for
# the pool's threads before warning.
THREAD_JOIN_TIMEOUT = 300


class ExecutorMixin:
    _default_executor: concurrent.futures.ThreadPoolExecutor | None = None
    _executor_shutdown_called = False

    def run_in_executor(
        self, executor: concurrent.futures.Executor | None, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        self._check_closed()  # type: ignore[attr-defined]
        if self.get_debug():  # type: ignore[attr-defined]
            self._check_callback(func, "run_in_executor")  # type: ignore[attr-defined]
        if executor is None:
            if self._executor_shutdown_called:
                raise RuntimeError("Executor shutdown has been called")
            executor = self._default_executor
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self._default_executor = executor
        return asyncio.wrap_future(executor.submit(func, *args), loop=self)  # type: ignore[arg-type]

    def set_default_executor(self, executor: concurrent.futures.ThreadPoolExecutor) -> None:
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor instance")
        self._default_executor = executor

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is None:
            return
        done = self.create_future()  # type: ignore[attr-defined]
        thread = threading.Thread(target=self._shut_down_executor, args=(executor, done))
        thread.start()
        try:
            await done
        finally:
            thread.join(timeout)
        if thread.is_alive():
            warnings.warn(
                f"The executor did not finishing joining its threads within {timeout} seconds.",
                RuntimeWarning,
                stacklevel=2,
            )
            executor.shutdown(wait=False)

    def _shut_down_executor(
        self, executor: concurrent.futures.ThreadPoolExecutor, done: asyncio.Future[None]
    ) -> None:
        try:
            executor.shutdown(wait=True)
        except Exception as exc:
            if not self.is_closed():  # type: ignore[attr-defined]
                self.call_soon_threadsafe(done.set_exception, exc)  # type: ignore[attr-defined]
        else:
            if not self.is_closed():  # type: ignore[attr-defined]
                self.call_soon_threadsafe(done.set_result, None)  # type: ignore[attr-defined]

    def _shut_down_executor_nowait(self) -> None:
        self._executor_shutdown_called = True
        executor, self._default_executor = self._default_executor, None
        if executor is not None:
            executor.shutdown(wait=False)

    async def getaddrinfo(
        self,
        host: Any,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        return await self.run_in_executor(
            None, socket.getaddrinfo, host, port, family, type, proto, flags
        )

    async def getnameinfo(self, sockaddr: tuple[Any, ...], flags: int = 0) -> tuple[str, str]:
        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)
