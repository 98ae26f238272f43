"""Echo over the loop's stream transports: TCP and Unix sockets, served by a
Protocol, a streams handler or a BufferedProtocol, with one client or sixteen.

Every row starts an echo server and its clients on the loop under test,
connects every client, then times only the traffic: each client sends a
message of ``size`` bytes and waits until all ``size`` bytes are back before it
sends the next, ``n`` round trips in all, spread evenly over the clients. The
figure is round trips (messages) per second. The client of each row is the
kind of the server (a Protocol client for the Protocol server and so on), so a
row measures one way of using the loop, from both ends.

A loop that lacks a feature (rloop has no Unix sockets) raises, which costs
that loop its cell, not the run. A loop that reports a failure only through
its exception handler (a protocol method it cannot call, say) fails the row
the same way, at once, instead of leaving the clients waiting for the runner's
time-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
import typing
from collections.abc import Awaitable, Callable
from functools import partial
from time import perf_counter
from typing import Any, TypeVar

from .registry import register

T = TypeVar("T")

KIB = 1024
SIXTEEN = 16
# Seconds before a row gives up on a loop that neither finishes nor reports an
# error (rloop swallows an exception raised by a protocol method, for one): a
# healthy full-size run takes a second or two; the runner's own time-out is
# five minutes. A thread keeps this time, not the loop: a pending loop timer
# changes what some loops do in every iteration (pyloop re-arms a timerfd).
DEADLINE = 60.0
# What a BufferedProtocol offers the transport per read: larger than the
# largest message, so one read can take a whole one when the kernel has it.
READ_BUFFER = 256 * KIB


class Client(typing.Protocol):
    async def roundtrip(self, message: bytes) -> None: ...

    async def close(self) -> None: ...


# One row's plumbing: start a server that echoes ``size``-byte messages and
# return it with a connect function making one client of the matching kind.
Connect = Callable[[], Awaitable[Client]]
Setup = Callable[[int], Awaitable[tuple["EchoServer", Connect]]]


async def guarded(work: Awaitable[T]) -> T:
    """``work``'s result, or the first error the loop hands its exception handler
    while ``work`` runs, or a TimeoutError after DEADLINE seconds."""
    loop = asyncio.get_running_loop()
    broken: asyncio.Future[T] = loop.create_future()

    def fail(exc: BaseException) -> None:
        if not broken.done():
            broken.set_exception(exc)

    def report(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        fail(context.get("exception") or RuntimeError(context.get("message", "loop error")))

    def give_up() -> None:
        stuck = TimeoutError(f"no result after {DEADLINE:.0f} s: lost bytes or a lost error?")
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(fail, stuck)

    watchdog = threading.Timer(DEADLINE, give_up)
    watchdog.daemon = True
    loop.set_exception_handler(report)
    task = asyncio.ensure_future(work)
    watchdog.start()
    try:
        await asyncio.wait([task, broken], return_when=asyncio.FIRST_COMPLETED)
    finally:
        watchdog.cancel()
        loop.set_exception_handler(None)
    try:
        if broken.done():
            task.cancel()
            return broken.result()  # raises what went wrong
        broken.cancel()
        return task.result()
    except NotImplementedError as exc:
        raise NotImplementedError(str(exc) or f"{innermost(exc)} is not implemented") from exc


def innermost(exc: BaseException) -> str:
    """The name of the function that raised ``exc``: the missing feature when a
    loop raises a bare NotImplementedError (rloop does)."""
    tb = exc.__traceback__
    if tb is None:
        return "something"
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name


async def echo(setup: Setup, n: int, size: int, clients: int = 1) -> float:
    """Round trips per second of ``n`` ``size``-byte messages over ``clients`` connections."""
    server, connect = await setup(size)
    conns = [await connect() for _ in range(clients)]
    each = max(1, n // clients)
    message = b"x" * size

    async def drive(client: Client) -> None:
        for _ in range(each):
            await client.roundtrip(message)

    started = perf_counter()
    await asyncio.gather(*(drive(client) for client in conns))
    elapsed = perf_counter() - started
    for client in conns:
        await client.close()
    await server.close()
    return each * clients / elapsed


# Servers.


class EchoServer:
    """A listening server and the ends of its connections: ``close`` returns
    once every connection is over, so the loop closes with none half torn down
    (on 3.11, ``Server.wait_closed`` does not wait for them)."""

    def __init__(self, cleanup: Callable[[], object] | None = None) -> None:
        self.server: asyncio.AbstractServer | None = None
        self.ended: list[asyncio.Future[None]] = []
        self.cleanup = cleanup

    def connection(self) -> asyncio.Future[None]:
        """A future for one more connection, to resolve when it ends."""
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ended.append(ended)
        return ended

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await asyncio.gather(*self.ended)
        if self.cleanup is not None:
            self.cleanup()


class EchoProtocol(asyncio.Protocol):
    """Writes back whatever arrives; the bytes, not the messages, are echoed."""

    def __init__(self, ended: asyncio.Future[None]) -> None:
        self.ended = ended

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended.set_result(None)


class BufferedEcho(asyncio.BufferedProtocol):
    """Reads into one buffer it owns and writes a copy of each read back (a
    copy because the next read reuses the buffer while the bytes may still sit
    in the transport's write buffer)."""

    def __init__(self, ended: asyncio.Future[None]) -> None:
        self.ended = ended
        self.view = memoryview(bytearray(READ_BUFFER))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.transport.write(bytes(self.view[:nbytes]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended.set_result(None)


async def streams_echo(
    server: EchoServer, size: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """A framed streams server: reads one whole message, writes it back, until EOF."""
    ended = server.connection()
    try:
        while True:
            writer.write(await reader.readexactly(size))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client closed: EOF between messages
    finally:
        await close_writer(writer)
        ended.set_result(None)


async def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


# Clients.


class Counting:
    """A client that counts the echoed bytes; ``roundtrip`` ends when all are back."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.ended: asyncio.Future[None] = self.loop.create_future()
        self.left = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def received(self, nbytes: int) -> None:
        self.left -= nbytes
        if self.left <= 0 and self.waiter is not None and not self.waiter.done():
            if self.left < 0:
                self.waiter.set_exception(ValueError("more bytes echoed than were sent"))
            else:
                self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionResetError("closed during a round trip"))
        self.ended.set_result(None)

    async def roundtrip(self, message: bytes) -> None:
        assert self.transport is not None
        self.waiter = self.loop.create_future()
        self.left = len(message)
        self.transport.write(message)
        await self.waiter

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        await self.ended


class ProtocolClient(Counting, asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        self.received(len(data))


class BufferedClient(Counting, asyncio.BufferedProtocol):
    def __init__(self) -> None:
        super().__init__()
        self.view = memoryview(bytearray(READ_BUFFER))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.received(nbytes)


class StreamsClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def roundtrip(self, message: bytes) -> None:
        self.writer.write(message)
        await self.writer.drain()
        await self.reader.readexactly(len(message))

    async def close(self) -> None:
        await close_writer(self.writer)


# Setups, one per kind of server: the server, and how to connect one client.

LOCALHOST = "127.0.0.1"


async def tcp_protocol(size: int) -> tuple[EchoServer, Connect]:
    loop = asyncio.get_running_loop()
    server = EchoServer()
    server.server = await loop.create_server(
        lambda: EchoProtocol(server.connection()), LOCALHOST, 0
    )

    async def connect() -> Client:
        _, client = await loop.create_connection(ProtocolClient, LOCALHOST, server.port)
        return client

    return server, connect


async def tcp_buffered(size: int) -> tuple[EchoServer, Connect]:
    loop = asyncio.get_running_loop()
    server = EchoServer()
    server.server = await loop.create_server(
        lambda: BufferedEcho(server.connection()), LOCALHOST, 0
    )

    async def connect() -> Client:
        _, client = await loop.create_connection(BufferedClient, LOCALHOST, server.port)
        return client

    return server, connect


async def tcp_streams(size: int) -> tuple[EchoServer, Connect]:
    server = EchoServer()
    server.server = await asyncio.start_server(partial(streams_echo, server, size), LOCALHOST, 0)

    async def connect() -> Client:
        return StreamsClient(*await asyncio.open_connection(LOCALHOST, server.port))

    return server, connect


async def unix_protocol(size: int) -> tuple[EchoServer, Connect]:
    """The socket file lives in a directory of its own, removed on close."""
    loop = asyncio.get_running_loop()
    directory = tempfile.TemporaryDirectory(prefix="pyloop-bench-")
    path = os.path.join(directory.name, "echo.sock")
    server = EchoServer(cleanup=directory.cleanup)
    try:
        server.server = await loop.create_unix_server(
            lambda: EchoProtocol(server.connection()), path
        )
    except BaseException:
        directory.cleanup()
        raise

    async def connect() -> Client:
        _, client = await loop.create_unix_connection(ProtocolClient, path)
        return client

    return server, connect


# The rows. Sizes give each loop a few tenths of a second of traffic per run
# on a 2-core VM: together they add about a minute and a half to a full run.
# A plain --quick run (make demo) keeps three of them (Protocol at 1 and 100
# KiB, streams at 1 KiB) to stay short; the others run in a full run or when
# named with --only.


@register("tcp_echo_protocol_1k", unit="msgs/s", full=5_000, quick=1_500)
async def tcp_echo_protocol_1k(n: int) -> float:
    return await guarded(echo(tcp_protocol, n, KIB))


@register("tcp_echo_protocol_10k", unit="msgs/s", full=6_000, quick=1_500, in_quick=False)
async def tcp_echo_protocol_10k(n: int) -> float:
    return await guarded(echo(tcp_protocol, n, 10 * KIB))


@register("tcp_echo_protocol_100k", unit="msgs/s", full=4_000, quick=1_000)
async def tcp_echo_protocol_100k(n: int) -> float:
    return await guarded(echo(tcp_protocol, n, 100 * KIB))


@register("tcp_echo_protocol_1k_16c", unit="msgs/s", full=8_000, quick=2_400, in_quick=False)
async def tcp_echo_protocol_1k_16c(n: int) -> float:
    return await guarded(echo(tcp_protocol, n, KIB, SIXTEEN))


@register("tcp_echo_streams_1k", unit="msgs/s", full=4_000, quick=1_200)
async def tcp_echo_streams_1k(n: int) -> float:
    return await guarded(echo(tcp_streams, n, KIB))


@register("tcp_echo_streams_100k", unit="msgs/s", full=1_600, quick=400, in_quick=False)
async def tcp_echo_streams_100k(n: int) -> float:
    return await guarded(echo(tcp_streams, n, 100 * KIB))


@register("tcp_echo_streams_1k_16c", unit="msgs/s", full=8_000, quick=2_400, in_quick=False)
async def tcp_echo_streams_1k_16c(n: int) -> float:
    return await guarded(echo(tcp_streams, n, KIB, SIXTEEN))


@register("tcp_echo_buffered_1k", unit="msgs/s", full=8_000, quick=2_000, in_quick=False)
async def tcp_echo_buffered_1k(n: int) -> float:
    return await guarded(echo(tcp_buffered, n, KIB))


@register("tcp_echo_buffered_100k", unit="msgs/s", full=2_500, quick=600, in_quick=False)
async def tcp_echo_buffered_100k(n: int) -> float:
    return await guarded(echo(tcp_buffered, n, 100 * KIB))


@register("unix_echo_1k", unit="msgs/s", full=12_000, quick=3_000, in_quick=False)
async def unix_echo_1k(n: int) -> float:
    return await guarded(echo(unix_protocol, n, KIB))
