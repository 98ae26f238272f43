"""``connect_read_pipe`` and ``connect_write_pipe``: the once-per-pipe setup
(file type check, non-blocking mode, scheduling ``connection_made``) around
the native pipe transports of ``pipe_transport.rs``."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from asyncio import futures
from collections.abc import Callable
from typing import Any

from ._native_face import NativeTransportFace
from ._pyloop import ReadPipeTransport as _NativeReadPipe
from ._pyloop import WritePipeTransport as _NativeWritePipe

logger = logging.getLogger("asyncio")


class _ReadPipeFace(asyncio.ReadTransport):
    __slots__ = ()


class _WritePipeFace(asyncio.WriteTransport):
    __slots__ = ()


class ReadPipeTransport(NativeTransportFace, _NativeReadPipe):
    """The read end of a pipe, FIFO, character device or socket."""

    face = _ReadPipeFace
    resource = "_pipe"


class WritePipeTransport(NativeTransportFace, _NativeWritePipe):
    """The write end of a pipe, FIFO, character device or socket."""

    face = _WritePipeFace
    resource = "_pipe"


class PipeMixin:
    async def connect_read_pipe(
        self, protocol_factory: Callable[[], asyncio.BaseProtocol], pipe: Any
    ) -> tuple[asyncio.ReadTransport, asyncio.BaseProtocol]:
        return await self._connect_pipe(protocol_factory, pipe, self._make_read_pipe_transport)

    async def connect_write_pipe(
        self, protocol_factory: Callable[[], asyncio.BaseProtocol], pipe: Any
    ) -> tuple[asyncio.WriteTransport, asyncio.BaseProtocol]:
        return await self._connect_pipe(protocol_factory, pipe, self._make_write_pipe_transport)

    async def _connect_pipe(self, protocol_factory: Any, pipe: Any, make: Any) -> Any:
        protocol = protocol_factory()
        waiter = self.create_future()  # type: ignore[attr-defined]
        transport = make(pipe, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        if self.get_debug():  # type: ignore[attr-defined]
            logger.debug("Pipe %r connected: (%r, %r)", pipe.fileno(), transport, protocol)
        return transport, protocol

    def _make_read_pipe_transport(
        self,
        pipe: Any,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ReadPipeTransport:
        """asyncio's Unix-loop hook, same signature."""
        mode = os.fstat(pipe.fileno()).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            raise ValueError("Pipe transport is for pipes/sockets only.")
        os.set_blocking(pipe.fileno(), False)
        transport = ReadPipeTransport(self, pipe, protocol, {**(extra or {}), "pipe": pipe})
        self._start(transport, protocol, waiter, watch=True)
        return transport

    def _make_write_pipe_transport(
        self,
        pipe: Any,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> WritePipeTransport:
        """asyncio's Unix-loop hook, same signature."""
        mode = os.fstat(pipe.fileno()).st_mode
        is_fifo, is_socket = stat.S_ISFIFO(mode), stat.S_ISSOCK(mode)
        if not (stat.S_ISCHR(mode) or is_fifo or is_socket):
            raise ValueError("Pipe transport is only for pipes, sockets and character devices")
        os.set_blocking(pipe.fileno(), False)
        transport = WritePipeTransport(self, pipe, protocol, {**(extra or {}), "pipe": pipe})
        # Only these tell a closed read end by becoming readable.
        self._start(transport, protocol, waiter, watch=is_fifo or is_socket)
        return transport

    def _start(self, transport: Any, protocol: Any, waiter: Any, *, watch: bool) -> None:
        call_soon = self.call_soon  # type: ignore[attr-defined]
        call_soon(protocol.connection_made, transport)
        if watch:
            call_soon(transport._start_reading)
        if waiter is not None:
            call_soon(futures._set_result_unless_cancelled, waiter, None)
