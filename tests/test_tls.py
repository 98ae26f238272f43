"""TLS over pyloop's transports (asyncio's own TLS protocol on top), checked
against asyncio: the same bytes, certificate checks, upgrades and errors.
Certificates are made at test time with the openssl command."""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl

import pytest
from tls_certs import localhost_contexts, needs_openssl

pytestmark = needs_openssl


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for localhost,
    and a client context that trusts it."""
    return localhost_contexts(tmp_path_factory.mktemp("tls"))


async def _close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def _let_closes_finish() -> None:
    # A server's failed or closed connections finish closing a few loop
    # iterations later (3.11's wait_closed does not wait for them).
    for _ in range(10):
        await asyncio.sleep(0)


def test_tls_echo_of_one_mib_both_ways(loop: asyncio.AbstractEventLoop, contexts) -> None:
    server_ctx, client_ctx = contexts
    payload = os.urandom(1 << 20)

    async def main() -> tuple[str, str, bool]:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readexactly(len(payload)))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "localhost", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("localhost", port, ssl=client_ctx)
        writer.write(payload)
        await writer.drain()
        back = await reader.readexactly(len(payload))
        info = (
            writer.get_extra_info("ssl_object") is not None,
            writer.get_extra_info("peercert")["subject"][0][0][1],
            writer.get_extra_info("compression"),
        )
        has_cipher = writer.get_extra_info("cipher") is not None
        writer.close()
        server.close()
        await server.wait_closed()
        await _let_closes_finish()
        return hashlib.sha256(back).hexdigest(), info, has_cipher

    digest, info, has_cipher = loop.run_until_complete(main())
    assert digest == hashlib.sha256(payload).hexdigest()
    assert info == (True, "localhost", None)
    assert has_cipher


def test_start_tls_upgrades_a_plain_connection(loop: asyncio.AbstractEventLoop, contexts) -> None:
    server_ctx, client_ctx = contexts

    async def main() -> bytes:
        async def upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            assert await reader.readline() == b"STARTTLS\n"
            # The client waits for this before its handshake, so no TLS byte
            # can land in the plain stream's buffer.
            writer.write(b"GO\n")
            await writer.start_tls(server_ctx)
            writer.write(b"secure " + await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(upgrade, "localhost", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("localhost", port)
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"GO\n"
        await writer.start_tls(client_ctx, server_hostname="localhost")
        assert writer.get_extra_info("ssl_object") is not None
        writer.write(b"hello\n")
        line = await reader.readline()
        writer.close()
        server.close()
        await server.wait_closed()
        await _let_closes_finish()
        return line

    assert loop.run_until_complete(main()) == b"secure hello\n"


def test_a_client_rejects_an_untrusted_certificate(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    server_ctx, _ = contexts

    async def main() -> None:
        server = await asyncio.start_server(_close_at_once, "localhost", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                await asyncio.open_connection("localhost", port, ssl=ssl.create_default_context())
        finally:
            server.close()
            await server.wait_closed()
            await _let_closes_finish()

    loop.run_until_complete(main())


def test_a_silent_peer_ends_in_a_handshake_timeout(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    _, client_ctx = contexts

    async def main() -> str:
        held: list[asyncio.StreamWriter] = []

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)  # never answers the handshake

        server = await asyncio.start_server(silent, "localhost", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(ConnectionAbortedError) as caught:
                await asyncio.open_connection(
                    "localhost", port, ssl=client_ctx, ssl_handshake_timeout=0.2
                )
        finally:
            for writer in held:
                writer.close()
            server.close()
            await server.wait_closed()
            await _let_closes_finish()
        return str(caught.value)

    assert "SSL handshake is taking longer than 0.2 seconds" in loop.run_until_complete(main())


def test_start_tls_refuses_a_non_context(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_close_at_once, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, protocol = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        try:
            with pytest.raises(TypeError, match="sslcontext is expected to be an instance"):
                await loop.start_tls(transport, protocol, object())
        finally:
            transport.close()
            server.close()
            await server.wait_closed()
            await _let_closes_finish()

    loop.run_until_complete(main())
