"""``loop.sendfile(transport, file, ...)``: once-per-call orchestration.

Two paths, chosen by the transport's ``_sendfile_compatible`` mode as
asyncio chooses them:

* zero-copy, for pyloop's native socket transport (``TRY_NATIVE``): reading
  is paused, the transport's empty waiter (``transport.rs``) is awaited so
  everything written before goes out first, and ``sock_sendfile``'s
  ``os.sendfile`` loop (``_sendfile.py``) sends from the file straight to the
  fd. Until it returns, the transport refuses ``write()``.
* copying (TLS transports, files ``os.sendfile`` cannot take, or a native
  path that is not available): the file is read in the default executor and
  handed to ``transport.write``, waiting for ``resume_writing`` whenever the
  transport asked to pause. The user's protocol is swapped out meanwhile
  (it would otherwise get those pause/resume calls) and put back after.

Argument checks, exception types and messages are asyncio's. This module
does not own the transports or the socket-level sendfile.
"""

from __future__ import annotations

import asyncio
from asyncio import constants
from typing import Any

from ._transports import SocketTransport

_Mode = constants._SendfileMode

# Bytes per read on the copying path. asyncio reads 16 KiB at a time; a
# larger block means 16x fewer executor round trips (50 MiB over TLS:
# 200 instead of 3,200), and the drain wait below keeps the transport's
# buffer bounded by its high-water mark plus one block.
FALLBACK_BLOCK = 256 * 1024


class TransportSendfileMixin:
    async def sendfile(
        self,
        transport: asyncio.BaseTransport,
        file: Any,
        offset: int = 0,
        count: int | None = None,
        *,
        fallback: bool = True,
    ) -> int:
        """Sends `file` (from `offset`, `count` bytes or to its end) through
        `transport`; returns the number of bytes sent. The file's position
        ends after the last byte sent, also on error."""
        if transport.is_closing():
            raise RuntimeError("Transport is closing")
        mode = getattr(transport, "_sendfile_compatible", _Mode.UNSUPPORTED)
        if mode is _Mode.UNSUPPORTED:
            raise RuntimeError(f"sendfile is not supported for transport {transport!r}")
        if mode is _Mode.TRY_NATIVE:
            try:
                return await self._sendfile_native(transport, file, offset, count)
            except asyncio.SendfileNotAvailableError:
                if not fallback:
                    raise
        if not fallback:
            raise RuntimeError(
                f"fallback is disabled and native sendfile is not supported "
                f"for transport {transport!r}"
            )
        return await self._sendfile_fallback(transport, file, offset, count)

    async def _sendfile_native(
        self, transport: Any, file: Any, offset: int, count: int | None
    ) -> int:
        """The zero-copy path; SendfileNotAvailableError when the transport
        or the file cannot take it."""
        sock = transport._sock if isinstance(transport, SocketTransport) else None
        if sock is None:
            raise asyncio.SendfileNotAvailableError("sendfile syscall is not supported")
        # Raises if another sendfile holds the transport; nothing is changed yet.
        emptied = transport._make_empty_waiter()
        fd = transport._sock_fd
        owners = self._transports  # type: ignore[attr-defined]
        # sock_sendfile refuses a live transport's fd; for this call the fd
        # is lent to it (the transport neither reads nor writes meanwhile).
        owners.pop(fd, None)
        was_reading = transport.is_reading()
        transport.pause_reading()
        try:
            await emptied
            return await self.sock_sendfile(  # type: ignore[attr-defined, no-any-return]
                sock, file, offset, count, fallback=False
            )
        finally:
            transport._reset_empty_waiter()
            if was_reading:
                transport.resume_reading()
            owners[fd] = transport

    async def _sendfile_fallback(
        self, transport: Any, file: Any, offset: int, count: int | None
    ) -> int:
        """The copying path: read in the executor, write with flow control."""
        if offset:
            file.seek(offset)
        block = min(count, FALLBACK_BLOCK) if count else FALLBACK_BLOCK
        sent = 0
        gate = _WriteGate(self, transport)
        try:
            while True:
                if count:
                    block = min(count - sent, block)
                    if block <= 0:
                        return sent
                # file.read gives a new object each time: the transport may
                # keep a reference to what it was given (TLS's write backlog).
                data = await self.run_in_executor(None, file.read, block)  # type: ignore[attr-defined]
                if not data:
                    return sent
                await gate.drain()
                transport.write(data)
                sent += len(data)
        finally:
            if sent and hasattr(file, "seek"):
                file.seek(offset + sent)
            gate.restore()


class _WriteGate(asyncio.Protocol):
    """Stands in for the user's protocol during a copying sendfile: it turns
    ``pause_writing``/``resume_writing`` into an awaitable gate, and hands
    ``connection_lost`` on. Reading is paused meanwhile, so data or EOF from
    the peer is an error, as with asyncio."""

    def __init__(self, loop: Any, transport: Any) -> None:
        self._loop = loop
        self._transport = transport
        self._user = transport.get_protocol()
        self._was_reading = transport.is_reading()
        self._was_paused = bool(getattr(transport, "_protocol_paused", False))
        self._resumed: asyncio.Future[None] | None = None
        if self._was_paused:
            self._resumed = loop.create_future()
        transport.pause_reading()
        transport.set_protocol(self)

    async def drain(self) -> None:
        if self._transport.is_closing():
            raise ConnectionError("Connection closed by peer")
        if self._resumed is not None:
            await self._resumed

    def pause_writing(self) -> None:
        if self._resumed is None:
            self._resumed = self._loop.create_future()

    def resume_writing(self) -> None:
        resumed, self._resumed = self._resumed, None
        if resumed is not None and not resumed.done():
            resumed.set_result(None)

    def connection_made(self, transport: Any) -> None:
        raise RuntimeError("Invalid state: connection should have been established already.")

    def data_received(self, data: bytes) -> None:
        raise RuntimeError("Invalid state: reading should be paused")

    def eof_received(self) -> bool | None:
        raise RuntimeError("Invalid state: reading should be paused")

    def connection_lost(self, exc: BaseException | None) -> None:
        resumed = self._resumed
        if resumed is not None and not resumed.done():
            # A sendfile cut short is an error even if the peer closed cleanly.
            resumed.set_exception(exc or ConnectionError("Connection is closed by peer"))
        self._user.connection_lost(exc)

    def restore(self) -> None:
        """Gives the transport back to the user's protocol, which then
        believes what is true: reading as before, and paused for writing
        exactly when the transport's buffer is above its high-water mark."""
        self._transport.set_protocol(self._user)
        if self._was_reading:
            self._transport.resume_reading()
        resumed, self._resumed = self._resumed, None
        paused_now = resumed is not None
        if resumed is not None:
            if not resumed.done():
                resumed.cancel()
            elif not resumed.cancelled():
                resumed.exception()  # raised by drain() already, or moot now
        if self._transport.is_closing():
            return
        if self._was_paused and not paused_now:
            self._user.resume_writing()
        elif paused_now and not self._was_paused:
            self._user.pause_writing()
