"""``loop.sock_sendfile``: zero-copy ``os.sendfile`` when the file allows it,
else (with ``fallback=True``) reads in the default executor and
``sock_sendall``. Once-per-call orchestration over the native readiness.

As with asyncio, the file's position ends after the last byte sent, and a
first ``os.sendfile`` call that fails (a pipe, a socket, a BytesIO...) means
"not available here" rather than an error, so the fallback can take over.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import io
import os
import socket
from typing import Any

# Bytes read per executor call on the fallback path.
FALLBACK_CHUNK = 256 * 1024


def _check_params(sock: socket.socket, file: Any, offset: Any, count: Any) -> None:
    if "b" not in getattr(file, "mode", "b"):
        raise ValueError("file should be opened in binary mode")
    if sock.type != socket.SOCK_STREAM:
        raise ValueError("only SOCK_STREAM type sockets are supported")
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"count must be a positive integer (got {count!r})")
        if count <= 0:
            raise ValueError(f"count must be a positive integer (got {count!r})")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")


class SendfileMixin:
    async def sock_sendfile(
        self,
        sock: socket.socket,
        file: Any,
        offset: int = 0,
        count: int | None = None,
        *,
        fallback: bool = True,
    ) -> int:
        self._check_sock(sock)  # type: ignore[attr-defined]
        _check_params(sock, file, offset, count)
        try:
            return await self._sendfile_zero_copy(sock, file, offset, count)
        except asyncio.SendfileNotAvailableError:
            if not fallback:
                raise
        return await self._sendfile_by_copy(sock, file, offset, count)

    async def _sendfile_zero_copy(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        if not hasattr(os, "sendfile"):
            raise asyncio.SendfileNotAvailableError("os.sendfile() is not available")
        try:
            fileno = file.fileno()
            size = os.fstat(fileno).st_size
        except (AttributeError, io.UnsupportedOperation, OSError) as exc:
            raise asyncio.SendfileNotAvailableError("not a regular file") from exc
        per_call = count or size
        if not per_call:
            return 0  # an empty file
        fd = sock.fileno()
        sent_total = 0
        # After a short send the socket's buffer is full: the next try waits
        # for writability first instead of failing with EAGAIN (one system
        # call and one exception less per wake-up, as asyncio's loop does).
        full = False
        try:
            while count is None or sent_total < count:
                chunk = count - sent_total if count else per_call
                send = functools.partial(os.sendfile, fd, fileno, offset + sent_total, chunk)
                try:
                    sent = await self._when_ready(  # type: ignore[attr-defined]
                        sock, False, send, try_first=not full
                    )
                except OSError as exc:
                    if sent_total == 0:
                        raise asyncio.SendfileNotAvailableError("os.sendfile call failed") from exc
                    if exc.errno == errno.ENOTCONN and type(exc) is not ConnectionError:
                        # The peer went away mid-transfer: the same error on
                        # every platform, as asyncio reports it.
                        raise ConnectionError("socket is not connected", errno.ENOTCONN) from exc
                    raise
                if sent == 0:
                    break  # end of file
                sent_total += sent
                full = sent < chunk
            return sent_total
        finally:
            if sent_total:
                os.lseek(fileno, offset + sent_total, os.SEEK_SET)

    async def _sendfile_by_copy(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        if offset:
            file.seek(offset)
        buffer = bytearray(min(count, FALLBACK_CHUNK) if count else FALLBACK_CHUNK)
        sent_total = 0
        try:
            while count is None or sent_total < count:
                want = len(buffer) if count is None else min(len(buffer), count - sent_total)
                view = memoryview(buffer)[:want]
                read = await self.run_in_executor(None, file.readinto, view)  # type: ignore[attr-defined]
                if not read:
                    break  # end of file
                await self.sock_sendall(sock, view[:read])  # type: ignore[attr-defined]
                sent_total += read
            return sent_total
        finally:
            if sent_total and hasattr(file, "seek"):
                file.seek(offset + sent_total)
