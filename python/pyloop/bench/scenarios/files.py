"""Sending a file over TCP to a receiver on the same loop that only counts the
bytes (a BufferedProtocol reading into one buffer). ``n`` is the MiB sent in
all: one file of up to 64 MiB, written before the clock starts (so it sits in
the page cache), sent over and over on one connection. The figure is MB/s
(10^6 bytes per second) until the receiver has every byte.

* ``sendfile_64m``: ``loop.sendfile(transport, file)``. uvloop and rloop have
  none (uvloop inherits AbstractEventLoop's NotImplementedError, rloop raises
  it), so their cells are errors and the row compares pyloop with asyncio.
* ``file_copy_64m``: what a library does where ``loop.sendfile`` is missing
  (aiohttp's FileResponse): 256 KiB reads in the default executor, each
  written through a StreamWriter and drained. Every loop can run it, so it is
  the rivals' best figure for the same job.
* ``sendfile_tls_64m``: ``loop.sendfile`` over TLS (``tls.py``'s certificate),
  which is always the copying path; again only asyncio and pyloop have it.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import BinaryIO

from .registry import register
from .tls import contexts
from .transports import KIB, LOCALHOST, READ_BUFFER, guarded

MIB = 1024 * KIB
FILE_MIB = 64
# Bytes per executor read on the copying row (aiohttp reads 256 KiB).
COPY_CHUNK = 256 * KIB

Send = Callable[[asyncio.StreamWriter, BinaryIO, int], Awaitable[None]]


class Receiver(asyncio.BufferedProtocol):
    """Counts what arrives; ``expect(total)`` returns once ``total`` bytes did."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.view = memoryview(bytearray(READ_BUFFER))
        self.got = 0
        self.want = 0
        self.arrived: asyncio.Future[None] = loop.create_future()
        self.ended: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.got += nbytes
        if self.want and self.got >= self.want and not self.arrived.done():
            self.arrived.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.arrived.done():
            self.arrived.set_exception(exc or ConnectionResetError("closed before the end"))
        self.ended.set_result(None)

    async def expect(self, total: int) -> None:
        self.want = total
        self.buffer_updated(0)
        await self.arrived


async def send_file(n: int, send: Send, tls: bool = False) -> float:
    """MB/s of ``n`` MiB sent with ``send``, repeating one file of up to 64 MiB,
    over TLS if ``tls``."""
    loop = asyncio.get_running_loop()
    server_ctx, client_ctx = contexts() if tls else (None, None)
    total = n * MIB
    size = min(total, FILE_MIB * MIB)
    receiver = Receiver()
    with tempfile.TemporaryFile(prefix="pyloop-bench-") as file:
        block = b"\xa5" * MIB
        for _ in range(size // MIB):
            file.write(block)
        file.flush()
        server = await loop.create_server(lambda: receiver, LOCALHOST, 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection(
            LOCALHOST, port, ssl=client_ctx, server_hostname="localhost" if tls else None
        )
        started = perf_counter()
        left = total
        while left:
            count = min(left, size)
            file.seek(0)
            await send(writer, file, count)
            left -= count
        await receiver.expect(total)
        elapsed = perf_counter() - started
        # Both ends close: with rloop 0.5.0 the receiver's connection_lost
        # never came when only the client closed its stream.
        writer.close()
        receiver.transport.close()
        await receiver.ended
        server.close()
        await server.wait_closed()
    return total / elapsed / 1e6


async def by_sendfile(writer: asyncio.StreamWriter, file: BinaryIO, count: int) -> None:
    loop = asyncio.get_running_loop()
    sent = await loop.sendfile(writer.transport, file, 0, count)
    if sent != count:
        raise ValueError(f"sendfile sent {sent} of {count} bytes")


async def by_copy(writer: asyncio.StreamWriter, file: BinaryIO, count: int) -> None:
    loop = asyncio.get_running_loop()
    left = count
    while left:
        data = await loop.run_in_executor(None, file.read, min(COPY_CHUNK, left))
        if not data:
            raise EOFError("the file ended early")
        writer.write(data)
        await writer.drain()
        left -= len(data)


@register("sendfile_64m", unit="MB/s", full=512, quick=128)
async def sendfile_64m(n: int) -> float:
    return await guarded(send_file(n, by_sendfile))


@register("file_copy_64m", unit="MB/s", full=512, quick=128, in_quick=False)
async def file_copy_64m(n: int) -> float:
    return await guarded(send_file(n, by_copy))


@register("sendfile_tls_64m", unit="MB/s", full=256, quick=64, in_quick=False)
async def sendfile_tls_64m(n: int) -> float:
    return await guarded(send_file(n, by_sendfile, tls=True))
