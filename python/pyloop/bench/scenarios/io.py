"""I/O and HTTP benchmarks: listed, not run, until pyloop has the feature each needs.

The table shows each one as ``pending: needs <feature>`` instead of a made-up
figure. The sock_* echo rows are real (issue 5's coroutines
landed); the 16-client and latency variants are still to come. To add one
when its feature lands, write it here as
``async def name(n: int) -> float`` (start the server and the clients on the
running loop, time only the traffic, return messages or bytes per second),
decorate it with ``@register(...)`` as in ``micro.py``, and delete its
``pending(...)`` line below.
"""

from __future__ import annotations

import asyncio
import socket
from time import perf_counter

from .registry import pending, register

TCP = "native TCP transports (issue 6)"

pending("tcp_echo_protocol", unit="msgs/s", needs=TCP)  # 1/10/100 KiB, 1 and 16 clients
pending("tcp_echo_streams", unit="msgs/s", needs=TCP)
pending("tcp_echo_buffered_protocol", unit="msgs/s", needs=TCP)


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


pending("unix_echo", unit="msgs/s", needs="native Unix transports (issue 6)")
pending("udp_echo", unit="datagrams/s", needs="native UDP (issue 7)")
pending("aiohttp_hello_world", unit="requests/s", needs=TCP + " and aiohttp installed")
