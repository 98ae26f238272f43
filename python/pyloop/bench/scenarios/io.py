"""I/O benchmarks on raw sockets, and the I/O rows still waiting for a feature.

The sock_* echo rows drive non-blocking sockets with the loop's ``sock_*``
coroutines (issue 5). The stream-transport rows (TCP and Unix echo with a
Protocol, streams or a BufferedProtocol server) live in ``transports``, the
aiohttp row in ``web``. A pending row is shown as ``pending: needs <feature>``
instead of a made-up figure; to add one when its feature lands, write
``async def name(n: int) -> float`` (start the server and the clients on the
running loop, time only the traffic, return messages or bytes per second),
decorate it with ``@register(...)`` as in ``micro.py``, and delete its
``pending(...)`` line.
"""

from __future__ import annotations

import asyncio
import socket
from time import perf_counter

from .registry import pending, register


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


pending("udp_echo", unit="datagrams/s", needs="native UDP (issue 7)")
