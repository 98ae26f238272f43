"""TLS's data phase (pyloop's is native: ``tls_core.rs``/``tls_data.rs``
under asyncio's ``SSLProtocol``), checked against asyncio: flow control both
ways, BufferedProtocol apps, data that arrives with the end of the handshake,
close and abort while writing, errors raised by the app, a custom
``sslobject_class``. Certificates are made at test time with openssl."""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
from collections.abc import Callable
from typing import Any

import pytest
from tls_certs import localhost_contexts, needs_openssl

pytestmark = needs_openssl

MIB = 1 << 20


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    return localhost_contexts(tmp_path_factory.mktemp("tls-data"))


class Peer(asyncio.Protocol):
    """Records what the transport tells it; ``greeting`` is written from
    connection_made; ``until`` resolves once ``expect`` bytes are in."""

    def __init__(self, greeting: bytes = b"", expect: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self.greeting = greeting
        self.expect = expect
        self.transport: Any = None
        self.received = bytearray()
        self.events: list[str] = []
        self.until = loop.create_future()
        self.made = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.made.set_result(None)
        if self.greeting:
            transport.write(self.greeting)

    def data_received(self, data: bytes) -> None:
        assert type(data) is bytes
        self.received += data
        self._check()

    def _check(self) -> None:
        if self.expect and len(self.received) >= self.expect and not self.until.done():
            self.until.set_result(None)

    def eof_received(self) -> None:
        self.events.append("eof")

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append(f"lost {type(exc).__name__}")
        if not self.lost.done():
            self.lost.set_result(exc)


class BufferedPeer(asyncio.BufferedProtocol, Peer):
    """A BufferedProtocol with a small buffer; records each update's size."""

    def __init__(self, expect: int, size: int) -> None:
        Peer.__init__(self, expect=expect)
        self.buffer = bytearray(size)
        self.updates: list[int] = []

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self.updates.append(nbytes)
        self.received += self.buffer[:nbytes]
        self._check()


async def tls_pair(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    server_protocol: Callable[[], Peer],
    client_protocol: Callable[[], Peer],
    client_ctx: ssl.SSLContext | None = None,
) -> tuple[asyncio.AbstractServer, list[Peer], Peer]:
    """A TLS server on localhost and one client connected to it; the list
    fills with the server's protocols, the first of them connected on return."""
    loop = asyncio.get_running_loop()
    server_ctx, default_client_ctx = contexts
    served: list[Peer] = []
    first_served: asyncio.Future[Peer] = loop.create_future()

    def serve() -> Peer:
        served.append(server_protocol())
        if not first_served.done():
            first_served.set_result(served[-1])
        return served[-1]

    server = await loop.create_server(serve, "localhost", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    _, client = await loop.create_connection(
        client_protocol,
        "localhost",
        port,
        ssl=client_ctx or default_client_ctx,
        server_hostname="localhost",
    )
    await asyncio.wait_for((await asyncio.wait_for(first_served, 10)).made, 10)
    return server, served, client


async def finish(server: asyncio.AbstractServer, *peers: Peer) -> None:
    """Closes the peers and waits until every one, server side included, has
    lost its connection: a server-side transport still closing when the loop
    closes would be collected later with a ResourceWarning."""
    for peer in peers:
        if peer.transport is not None:
            peer.transport.close()
    for peer in peers:
        await asyncio.wait_for(peer.lost, 10)
    server.close()
    await server.wait_closed()


class Echo(Peer):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.transport.write(data)


def test_data_written_in_connection_made_rides_with_the_handshake_end(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    # The client's Finished and its first bytes leave in one write, so the
    # server reads app data in the same buffer that completes its handshake.
    async def main() -> bytes:
        server, served, client = await tls_pair(
            contexts, Echo, lambda: Peer(greeting=b"hello", expect=5)
        )
        await asyncio.wait_for(client.until, 10)
        await finish(server, client, *served)
        await asyncio.wait_for(served[0].lost, 10)
        return bytes(client.received)

    assert loop.run_until_complete(main()) == b"hello"


def test_a_slow_reader_pauses_and_resumes_the_writer(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    payload = os.urandom(8 * MIB)

    async def main() -> tuple[str, list[str], int]:
        server, served, client = await tls_pair(contexts, Peer, lambda: Peer(expect=len(payload)))
        client.transport.pause_reading()
        sender = served[0]
        sender.transport.set_write_buffer_limits(high=64 * 1024)
        for start in range(0, len(payload), 256 * 1024):
            sender.transport.write(payload[start : start + 256 * 1024])
        paused_size = sender.transport.get_write_buffer_size()
        for _ in range(20):
            await asyncio.sleep(0)
        assert not client.received
        client.transport.resume_reading()
        await asyncio.wait_for(client.until, 30)
        await finish(server, client, *served)
        await asyncio.wait_for(sender.lost, 10)
        return hashlib.sha256(client.received).hexdigest(), sender.events, paused_size

    digest, events, paused_size = loop.run_until_complete(main())
    assert digest == hashlib.sha256(payload).hexdigest()
    assert paused_size > 64 * 1024
    flow = [e for e in events if e in ("pause", "resume")]
    assert flow[:2] == ["pause", "resume"]
    assert flow == ["pause", "resume"] * (len(flow) // 2)


def test_a_buffered_protocol_gets_every_byte_in_its_small_buffer(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    payload = os.urandom(300 * 1024)

    async def main() -> tuple[str, int]:
        server, served, client = await tls_pair(
            contexts, lambda: Peer(greeting=payload), lambda: BufferedPeer(len(payload), 1000)
        )
        await asyncio.wait_for(client.until, 30)
        await finish(server, client, *served)
        assert isinstance(client, BufferedPeer)
        return hashlib.sha256(client.received).hexdigest(), max(client.updates)

    digest, largest = loop.run_until_complete(main())
    assert digest == hashlib.sha256(payload).hexdigest()
    assert largest <= 1000


def test_app_reading_paused_holds_data_until_resumed(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    async def main() -> tuple[bytes, bytes, bool, bool]:
        server, served, client = await tls_pair(contexts, Echo, lambda: Peer(expect=6))
        client.transport.pause_reading()
        paused = client.transport.is_reading()
        client.transport.write(b"abc")
        client.transport.write(bytearray(b"def"))
        for _ in range(50):
            await asyncio.sleep(0.001)
        held = bytes(client.received)
        client.transport.resume_reading()
        await asyncio.wait_for(client.until, 10)
        resumed = client.transport.is_reading()
        await finish(server, client, *served)
        return held, bytes(client.received), paused, resumed

    assert loop.run_until_complete(main()) == (b"", b"abcdef", False, True)


def test_close_while_writing_flushes_everything_then_ends(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    payload = os.urandom(4 * MIB)

    async def main() -> tuple[str, list[str], list[str]]:
        server, served, client = await tls_pair(contexts, lambda: Peer(expect=len(payload)), Peer)
        client.transport.write(payload)
        client.transport.close()
        client.transport.write(b"after close")  # dropped, as asyncio does
        await asyncio.wait_for(served[0].until, 30)
        await asyncio.wait_for(served[0].lost, 10)
        await asyncio.wait_for(client.lost, 10)
        server.close()
        await server.wait_closed()
        return hashlib.sha256(served[0].received).hexdigest(), served[0].events, client.events

    digest, server_events, client_events = loop.run_until_complete(main())
    assert digest == hashlib.sha256(payload).hexdigest()
    assert server_events == ["eof", "lost NoneType"]
    assert client_events[-1] == "lost NoneType"


def test_abort_while_writing_ends_at_once_without_errors(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    async def main() -> tuple[list[str], list[dict[str, Any]], bool]:
        errors: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        server, served, client = await tls_pair(contexts, Peer, Peer)
        client.transport.write(os.urandom(4 * MIB))
        client.transport.abort()
        closing = client.transport.is_closing()
        await asyncio.wait_for(client.lost, 10)
        await asyncio.wait_for(served[0].lost, 10)
        server.close()
        await server.wait_closed()
        return client.events, errors, closing

    events, errors, closing = loop.run_until_complete(main())
    assert events == ["lost NoneType"]
    assert errors == []
    assert closing


def test_an_exception_in_data_received_is_a_fatal_ssl_error(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    class Failing(Peer):
        def data_received(self, data: bytes) -> None:
            raise ValueError("app broke")

    async def main() -> tuple[str, str, list[str]]:
        errors: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        server, served, client = await tls_pair(contexts, Failing, Peer)
        client.transport.write(b"boom")
        await asyncio.wait_for(served[0].lost, 10)
        await asyncio.wait_for(client.lost, 10)
        server.close()
        await server.wait_closed()
        (context,) = errors
        return context["message"], repr(context["exception"]), served[0].events

    message, exception, events = loop.run_until_complete(main())
    assert message == "Fatal error on SSL protocol"
    assert exception == "ValueError('app broke')"
    assert events == ["lost ValueError"]


def test_write_checks_its_argument_as_asyncio_does(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    async def main() -> str:
        server, served, client = await tls_pair(contexts, Echo, lambda: Peer(expect=2))
        with pytest.raises(TypeError) as caught:
            client.transport.write("text")
        client.transport.write(b"")
        client.transport.write(memoryview(b"ok"))
        await asyncio.wait_for(client.until, 10)
        await finish(server, client, *served)
        return str(caught.value)

    assert loop.run_until_complete(main()) == "data: expecting a bytes-like instance, got str"


def test_peer_close_notify_reaches_eof_received_then_connection_lost(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    async def main() -> list[str]:
        server, served, client = await tls_pair(
            contexts, lambda: Peer(greeting=b"bye"), lambda: Peer(expect=3)
        )
        await asyncio.wait_for(client.until, 10)
        served[0].transport.close()
        await asyncio.wait_for(client.lost, 10)
        await asyncio.wait_for(served[0].lost, 10)
        server.close()
        await server.wait_closed()
        return [bytes(client.received).decode(), *client.events]

    assert loop.run_until_complete(main()) == ["bye", "eof", "lost NoneType"]


def test_a_custom_sslobject_class_is_used_for_reads_and_writes(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    calls: list[str] = []

    class Counting(ssl.SSLObject):
        def read(self, len: int = 1024, buffer: Any = None) -> Any:
            calls.append("read")
            return super().read(len, buffer)

        def write(self, data: Any) -> int:
            calls.append("write")
            return super().write(data)

    _, client_ctx = contexts
    counting_ctx = ssl.create_default_context()
    counting_ctx.load_verify_locations(cadata=client_ctx.get_ca_certs(binary_form=True)[0])
    counting_ctx.sslobject_class = Counting

    async def main() -> bytes:
        server, served, client = await tls_pair(
            contexts, Echo, lambda: Peer(greeting=b"ping", expect=4), client_ctx=counting_ctx
        )
        await asyncio.wait_for(client.until, 10)
        await finish(server, client, *served)
        return bytes(client.received)

    assert loop.run_until_complete(main()) == b"ping"
    assert "read" in calls and "write" in calls


def test_pyloop_uses_its_native_tls_protocol(pyloop, contexts) -> None:
    from pyloop._pyloop import TlsCore

    loop = pyloop.new_event_loop()

    async def main() -> tuple[bool, bool]:
        server, served, client = await tls_pair(contexts, Echo, lambda: Peer(b"x", expect=1))
        await asyncio.wait_for(client.until, 10)
        transport = client.transport
        native = isinstance(transport._ssl_protocol, TlsCore)
        is_asyncio = isinstance(transport, asyncio.Transport)
        await finish(server, client, *served)
        return native, is_asyncio

    try:
        assert loop.run_until_complete(main()) == (True, True)
    finally:
        loop.close()


def test_data_and_close_notify_in_one_burst_arrive_in_order(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    # Many records and the close_notify behind them reach the client's BIO
    # together: every byte first, then eof_received, then connection_lost.
    payload = os.urandom(200 * 1024)

    class WriteAndClose(Peer):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            transport.write(payload)
            transport.close()

    async def main() -> tuple[str, list[str]]:
        server, served, client = await tls_pair(contexts, WriteAndClose, Peer)
        await asyncio.wait_for(client.lost, 10)
        await asyncio.wait_for(served[0].lost, 10)
        server.close()
        await server.wait_closed()
        return hashlib.sha256(client.received).hexdigest(), client.events

    digest, events = loop.run_until_complete(main())
    assert digest == hashlib.sha256(payload).hexdigest()
    assert events == ["eof", "lost NoneType"]


def test_a_small_max_size_reads_in_small_chunks_and_delivers_every_byte(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    # max_size below a record's plaintext: each read leaves part of a
    # record in OpenSSL, which the read loop must still drain.
    payload = os.urandom(300 * 1024)
    sizes: list[int] = []

    class SmallReads(Peer):
        def connection_made(self, transport: Any) -> None:
            protocol = transport._ssl_protocol
            sizes.append(protocol.max_size)
            protocol.max_size = 1000
            sizes.append(protocol.max_size)
            super().connection_made(transport)

    async def main() -> str:
        server, served, client = await tls_pair(
            contexts, lambda: Peer(greeting=payload), lambda: SmallReads(expect=len(payload))
        )
        await asyncio.wait_for(client.until, 30)
        await finish(server, client, *served)
        return hashlib.sha256(client.received).hexdigest()

    assert loop.run_until_complete(main()) == hashlib.sha256(payload).hexdigest()
    assert sizes == [256 * 1024, 1000]


def test_float_water_marks_pause_and_resume_the_writer(
    loop: asyncio.AbstractEventLoop, contexts
) -> None:
    # As the slow-reader test, with marks Python compares (not ints).
    payload = os.urandom(8 * MIB)

    async def main() -> tuple[str, list[str]]:
        server, served, client = await tls_pair(contexts, Peer, lambda: Peer(expect=len(payload)))
        client.transport.pause_reading()
        sender = served[0]
        sender.transport.set_write_buffer_limits(high=65536.0, low=16384.0)
        for start in range(0, len(payload), 256 * 1024):
            sender.transport.write(payload[start : start + 256 * 1024])
        for _ in range(20):
            await asyncio.sleep(0)
        client.transport.resume_reading()
        await asyncio.wait_for(client.until, 30)
        await finish(server, client, *served)
        await asyncio.wait_for(sender.lost, 10)
        return hashlib.sha256(client.received).hexdigest(), sender.events

    digest, events = loop.run_until_complete(main())
    assert digest == hashlib.sha256(payload).hexdigest()
    flow = [e for e in events if e in ("pause", "resume")]
    assert flow[:2] == ["pause", "resume"]
    assert flow == ["pause", "resume"] * (len(flow) // 2)


def test_pyloop_tls_honours_a_socket_transport_class_overriding_write(
    pyloop, contexts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The TLS layer calls the socket transport's write natively only when
    # the transport's class does not override it.
    import pyloop._transports as transports

    written: list[int] = []

    class Recording(transports.SocketTransport):
        def write(self, data: Any) -> None:
            written.append(len(data))
            super().write(data)

    monkeypatch.setattr(transports, "SocketTransport", Recording)
    loop = pyloop.new_event_loop()

    async def main() -> bytes:
        server, served, client = await tls_pair(contexts, Echo, lambda: Peer(b"ping", expect=4))
        await asyncio.wait_for(client.until, 10)
        await finish(server, client, *served)
        return bytes(client.received)

    try:
        assert loop.run_until_complete(main()) == b"ping"
    finally:
        loop.close()
    # Handshake flights and both directions' app data went through it.
    assert len(written) >= 4
