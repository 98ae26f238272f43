"""I/O benchmarks on raw sockets and on datagram endpoints.

The sock_* echo rows drive non-blocking sockets with the loop's ``sock_*``
coroutines (issue 5). The udp_* rows echo datagrams between endpoints made by
``create_datagram_endpoint`` (issue 7), with the round trips of ``transports``'
``echo``. The stream-transport rows (TCP and Unix echo with a Protocol,
streams or a BufferedProtocol server) live in ``transports``, the subprocess
rows in ``subprocesses``, the aiohttp row in ``web``.
"""

from __future__ import annotations

import asyncio
import socket
from time import perf_counter
from typing import Any

from .registry import register
from .transports import KIB, LOCALHOST, SIXTEEN, Client, Connect, EchoServer, echo, guarded


async def _sock_echo(n: int, size: int) -> float:
    """One client, one echo server over loopback TCP, both driven with
    sock_sendall/sock_recv on the loop under test; n round trips of `size`."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    client = socket.socket()
    client.setblocking(False)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    accepted = asyncio.ensure_future(loop.sock_accept(listener))  # rloop returns a Future
    await loop.sock_connect(client, listener.getsockname())
    server, _ = await accepted
    server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def echo() -> None:
        for _ in range(n):
            left = size
            while left:
                chunk = await loop.sock_recv(server, 262144)
                left -= len(chunk)
                await loop.sock_sendall(server, chunk)

    message = b"x" * size
    echoing = asyncio.ensure_future(echo())
    started = perf_counter()
    for _ in range(n):
        await loop.sock_sendall(client, message)
        left = size
        while left:
            left -= len(await loop.sock_recv(client, 262144))
    elapsed = perf_counter() - started
    await echoing
    for sock in (client, server, listener):
        sock.close()
    return n / elapsed


@register("sock_echo_1k", unit="msgs/s", full=20_000, quick=5_000)
async def sock_echo_1k(n: int) -> float:
    return await _sock_echo(n, 1024)


@register("sock_echo_100k", unit="msgs/s", full=2_000, quick=500)
async def sock_echo_100k(n: int) -> float:
    return await _sock_echo(n, 100 * 1024)


# UDP echo: one server endpoint bound to 127.0.0.1 sends every datagram back to
# its sender; each client is an endpoint connected to it (remote_addr) that
# sends one datagram and waits for its echo before the next, so at most one
# datagram per client is in flight and loopback drops none (a lost one would
# leave the row to guarded's deadline). Datagrams are never split or merged:
# an echo of any other size fails the row.


class DatagramServer(EchoServer):
    """``transports``' EchoServer for one datagram endpoint: closing it closes
    the endpoint and waits for its ``connection_lost``."""

    def __init__(self) -> None:
        super().__init__()
        self.transport: asyncio.DatagramTransport | None = None
        self.address: Any = None

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        await super().close()


class DatagramEcho(asyncio.DatagramProtocol):
    """Sends every datagram back where it came from."""

    def __init__(self, ended: asyncio.Future[None]) -> None:
        self.ended = ended

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, addr)

    def error_received(self, exc: Exception) -> None:
        # No client waits on the server: tell the loop, whose handler guarded() watches.
        asyncio.get_running_loop().call_exception_handler(
            {"message": "echo server: error_received", "exception": exc}
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended.set_result(None)


class DatagramClient(asyncio.DatagramProtocol):
    """A connected endpoint; ``roundtrip`` ends when its datagram is back."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.DatagramTransport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.ended: asyncio.Future[None] = self.loop.create_future()
        self.size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.loop.call_exception_handler({"message": "a datagram nobody waited for"})
        elif len(data) != self.size:
            waiter.set_exception(ValueError(f"sent {self.size} bytes, {len(data)} came back"))
        else:
            waiter.set_result(None)

    def error_received(self, exc: Exception) -> None:
        self.fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(exc or ConnectionResetError("closed during a round trip"))
        self.ended.set_result(None)

    async def roundtrip(self, message: bytes) -> None:
        assert self.transport is not None
        self.waiter = self.loop.create_future()
        self.size = len(message)
        self.transport.sendto(message)
        await self.waiter

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        await self.ended


async def udp(size: int) -> tuple[EchoServer, Connect]:
    loop = asyncio.get_running_loop()
    server = DatagramServer()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: DatagramEcho(server.connection()), local_addr=(LOCALHOST, 0)
    )
    server.transport = transport
    server.address = transport.get_extra_info("sockname")

    async def connect() -> Client:
        _, client = await loop.create_datagram_endpoint(DatagramClient, remote_addr=server.address)
        return client

    return server, connect


# Sizes: a few tenths of a second of traffic per run on a 2-core VM (asyncio's
# run is the longest, near a second); the 16-client row is left out of a plain
# --quick run.


@register("udp_echo", unit="datagrams/s", full=8_000, quick=2_400)
async def udp_echo(n: int) -> float:
    return await guarded(echo(udp, n, KIB))


@register("udp_echo_16c", unit="datagrams/s", full=8_000, quick=2_400, in_quick=False)
async def udp_echo_16c(n: int) -> float:
    return await guarded(echo(udp, n, KIB, SIXTEEN))
