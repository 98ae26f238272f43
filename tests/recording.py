"""What the transport tests share: protocols that record their callbacks in
order, and helpers that connect a transport to a plain socket peer.

A recording protocol never sleeps or polls: a test awaits `until(condition)`,
which wakes on each callback, or the `made`/`lost` futures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

Contexts = list[dict[str, Any]]


class _Waiting:
    """`until(condition)`, woken by `_changed()` from each recorded callback."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    async def until(self, condition: Callable[[], bool]) -> None:
        """Waits, one callback at a time, until condition() holds."""
        while not condition():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class _FlowRecording(_Waiting):
    """pause_writing/resume_writing, recorded with the write buffer's size,
    for every recorder (streams and datagrams)."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.transport: Any = None
        self.writing_paused = False
        self.size_at_pause: list[int] = []
        self.size_at_resume: list[int] = []
        super().__init__()

    def pause_writing(self) -> None:
        self.events.append("pause_writing")
        self.writing_paused = True
        self.size_at_pause.append(self.transport.get_write_buffer_size())
        self._changed()

    def resume_writing(self) -> None:
        self.events.append("resume_writing")
        self.writing_paused = False
        self.size_at_resume.append(self.transport.get_write_buffer_size())
        self._changed()


class _Recording(_FlowRecording):
    """The callbacks common to Protocol and BufferedProtocol."""

    def __init__(self, *, keep_open_on_eof: bool | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.data = bytearray()
        self.made: asyncio.Future[Any] = loop.create_future()
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()
        self.keep_open_on_eof = keep_open_on_eof
        super().__init__()

    # -- awaiting ------------------------------------------------------------------

    async def received(self, count: int) -> bytes:
        """Waits until `count` bytes arrived in all; fails if the connection
        is lost first. Returns everything received so far."""
        await self.until(lambda: len(self.data) >= count or self.lost.done())
        assert len(self.data) >= count, f"lost after {len(self.data)} of {count} bytes"
        return bytes(self.data)

    async def resumed(self) -> None:
        await self.until(lambda: not self.writing_paused or self.lost.done())

    # -- the callbacks -------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.events.append("made")
        self.transport = transport
        if not self.made.done():
            self.made.set_result(transport)
        self._changed()

    def eof_received(self) -> bool | None:
        self.events.append("eof")
        self._changed()
        return self.keep_open_on_eof

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)
        self._changed()

    def _got(self, data: bytes) -> None:
        self.events.append("data")
        self.data += data
        self._changed()

    def calls(self) -> list[str]:
        """The callbacks in order, consecutive data deliveries shown once."""
        shown: list[str] = []
        for event in self.events:
            if not (event == "data" and shown[-1:] == ["data"]):
                shown.append(event)
        return shown


class Recorder(_Recording, asyncio.Protocol):
    """A Protocol that records its callbacks."""

    def __init__(self, *, keep_open_on_eof: bool | None = None) -> None:
        super().__init__(keep_open_on_eof=keep_open_on_eof)
        self.chunk_types: set[type] = set()

    def data_received(self, data: bytes) -> None:
        self.chunk_types.add(type(data))
        self._got(data)


class BufferedRecorder(_Recording, asyncio.BufferedProtocol):
    """A BufferedProtocol that records its callbacks, reading into a small
    buffer of its own so that large transfers take many get_buffer calls."""

    def __init__(self, size: int = 4096, *, keep_open_on_eof: bool | None = None) -> None:
        super().__init__(keep_open_on_eof=keep_open_on_eof)
        self.buffer = bytearray(size)
        self.size_hints: list[int] = []

    def get_buffer(self, sizehint: int) -> memoryview:
        self.size_hints.append(sizehint)
        return memoryview(self.buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self._got(bytes(self.buffer[:nbytes]))


class DatagramRecorder(_FlowRecording, asyncio.DatagramProtocol):
    """A DatagramProtocol that records its callbacks; a test awaits
    `until(condition)`, which wakes on each callback."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.received: list[tuple[bytes, Any]] = []
        self.errors: list[Exception] = []
        self.made: asyncio.Future[Any] = loop.create_future()
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()
        super().__init__()

    async def datagrams(self, count: int) -> list[tuple[bytes, Any]]:
        """Waits until `count` datagrams arrived in all (fails if the
        endpoint is lost first); returns every one received so far."""
        await self.until(lambda: len(self.received) >= count or self.lost.done())
        assert len(self.received) >= count, f"lost after {len(self.received)} of {count}"
        return list(self.received)

    def calls(self) -> list[str]:
        """The callbacks in order, consecutive repeats shown once."""
        shown: list[str] = []
        for event in self.events:
            if shown[-1:] != [event]:
                shown.append(event)
        return shown

    def connection_made(self, transport: Any) -> None:
        self.events.append("made")
        self.transport = transport
        self.made.set_result(transport)
        self._changed()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.events.append("datagram")
        self.received.append((data, addr))
        self._changed()

    def error_received(self, exc: Exception) -> None:
        self.events.append("error")
        self.errors.append(exc)
        self._changed()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.lost.set_result(exc)
        self._changed()


def collect_exceptions(loop: asyncio.AbstractEventLoop) -> Contexts:
    """Routes the loop's exception handler into a list, and returns the list."""
    contexts: Contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    return contexts


def open_fds() -> int:
    """How many file descriptors this process has open now."""
    return len(os.listdir("/proc/self/fd"))


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason="needs an IPv6 loopback (::1)")


def listener(family: int = socket.AF_INET, host: str = "127.0.0.1") -> socket.socket:
    """A non-blocking listening TCP socket on a free loopback port."""
    sock = socket.socket(family)
    sock.bind((host, 0))
    sock.listen()
    sock.setblocking(False)
    return sock


def free_port() -> int:
    """A loopback port nothing listens on (bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def finish(transport: Any) -> None:
    """Aborts `transport` unless its connection is already lost, and waits for
    connection_lost, so no socket outlives the test's loop."""
    protocol = transport.get_protocol()
    if isinstance(protocol, _Recording) and not protocol.lost.done():
        transport.abort()
        await protocol.lost


@contextlib.asynccontextmanager
async def connected(
    loop: asyncio.AbstractEventLoop,
    factory: Callable[[], Any] = Recorder,
    **kwargs: Any,
) -> AsyncIterator[tuple[Any, Any, socket.socket]]:
    """A transport made by create_connection to a plain listening socket, its
    protocol, and the accepted end of the connection (non-blocking) as the peer."""
    with listener() as server:
        transport, protocol = await loop.create_connection(factory, *server.getsockname(), **kwargs)
        peer, _ = await loop.sock_accept(server)
    with peer:
        try:
            yield transport, protocol, peer
        finally:
            await finish(transport)


async def recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, count: int) -> bytes:
    got = bytearray()
    while len(got) < count:
        chunk = await loop.sock_recv(sock, count - len(got))
        assert chunk, f"EOF after {len(got)} of {count} bytes"
        got += chunk
    return bytes(got)


async def recv_to_eof(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    got = bytearray()
    while chunk := await loop.sock_recv(sock, 1 << 20):
        got += chunk
    return bytes(got)


def fill_until_paused(transport: Any, protocol: _Recording, chunk: bytes) -> int:
    """Writes `chunk` until the protocol is told to pause (the peer must not be
    reading); returns the number of bytes written."""
    written = 0
    while not protocol.writing_paused:
        transport.write(chunk)
        written += len(chunk)
        assert written < 1 << 30, "pause_writing never came"
    return written
