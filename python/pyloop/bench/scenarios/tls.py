"""TLS echo: the Protocol echo rows of ``transports.py`` with TLS on both ends
(``create_server(ssl=...)``, ``create_connection(ssl=...)``), 1 KiB and 100
KiB messages. The figure is round trips per second.

The certificate is made once per child with the ``openssl`` command (as the
tests make theirs) before anything is timed; without ``openssl`` the row fails
on every loop. A loop without TLS (rloop raises NotImplementedError) loses its
cell; a loop that ignored ``ssl=`` and spoke plain TCP would too, since the
client checks that its transport has an SSL object.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import tempfile
from pathlib import Path

from ..certs import localhost_contexts
from .registry import register
from .transports import (
    KIB,
    LOCALHOST,
    Client,
    Connect,
    EchoProtocol,
    EchoServer,
    ProtocolClient,
    echo,
    guarded,
)


@functools.cache
def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """Server and client contexts for localhost (`certs.localhost_contexts`);
    the key files are deleted once loaded."""
    with tempfile.TemporaryDirectory(prefix="pyloop-bench-tls-") as folder:
        return localhost_contexts(Path(folder))


async def tls_protocol(size: int) -> tuple[EchoServer, Connect]:
    loop = asyncio.get_running_loop()
    server_ctx, client_ctx = contexts()
    server = EchoServer()
    server.server = await loop.create_server(
        lambda: EchoProtocol(server.connection()), LOCALHOST, 0, ssl=server_ctx
    )

    async def connect() -> Client:
        transport, client = await loop.create_connection(
            ProtocolClient, LOCALHOST, server.port, ssl=client_ctx, server_hostname="localhost"
        )
        if transport.get_extra_info("ssl_object") is None:
            transport.close()
            raise NotImplementedError("the connection is not TLS")
        return client

    return server, connect


@register("tls_echo_protocol_1k", unit="msgs/s", full=3_000, quick=1_000)
async def tls_echo_protocol_1k(n: int) -> float:
    return await guarded(echo(tls_protocol, n, KIB))


@register("tls_echo_protocol_100k", unit="msgs/s", full=1_000, quick=300)
async def tls_echo_protocol_100k(n: int) -> float:
    return await guarded(echo(tls_protocol, n, 100 * KIB))
