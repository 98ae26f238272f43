"""Datagram endpoints (issue 7): ``create_datagram_endpoint`` over UDP (IPv4,
IPv6) and Unix datagram sockets, its argument checks, and the datagram
transport: ``sendto`` with and without a connected peer, extra info, write
buffering and flow control, ``close``/``abort``, and what reaches the
protocol (``datagram_received``, ``error_received``, ``connection_lost``).

The peer is a plain socket driven by the sock_* coroutines, or another
endpoint. A test never sleeps: it awaits the protocol's callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import pathlib
import re
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from recording import DatagramRecorder as Datagrams
from recording import collect_exceptions, needs_ipv6

PY312 = sys.version_info >= (3, 12)
# 3.13 sends empty datagrams (gh-113812); before, sendto(b"") did nothing.
SENDS_EMPTY_DATAGRAMS = sys.version_info >= (3, 13)
# gh-114887 (3.11.8, 3.12.2, 3.13): sock= may be any socket but a stream one.
ANY_DATAGRAM_SOCK = sys.version_info >= (3, 12, 2) or (3, 11, 8) <= sys.version_info < (3, 12)

needs_reuse_port = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT"
)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


class Echo(Datagrams):
    def datagram_received(self, data: bytes, addr: Any) -> None:
        super().datagram_received(data, addr)
        self.transport.sendto(data, addr)


@contextlib.asynccontextmanager
async def endpoint(
    loop: asyncio.AbstractEventLoop, factory: Callable[[], Any] = Datagrams, **kwargs: Any
) -> AsyncIterator[tuple[Any, Any]]:
    """An endpoint made by create_datagram_endpoint; aborted on exit (unless
    lost already), waiting for connection_lost."""
    transport, protocol = await loop.create_datagram_endpoint(factory, **kwargs)
    try:
        yield transport, protocol
    finally:
        if not protocol.lost.done():
            transport.abort()
            await protocol.lost


@contextlib.contextmanager
def udp_peer(family: int = socket.AF_INET, host: str = "127.0.0.1") -> Iterator[socket.socket]:
    """A plain non-blocking UDP socket bound to a free loopback port."""
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.setblocking(False)
        yield sock


def closed_udp_port() -> int:
    """A loopback UDP port nothing listens on (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def short_dir() -> Iterator[str]:
    """A directory with a short path: a Unix socket path has ~100 bytes."""
    with tempfile.TemporaryDirectory(prefix="udp") as path:
        yield path


def payload(index: int) -> bytes:
    """Datagram `index` of a sequence: its number, then 32 to 1280 bytes."""
    return index.to_bytes(4, "big") + hashlib.sha256(index.to_bytes(4, "big")).digest() * (
        1 + index % 40
    )


# -- echo and sendto ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "host"),
    [
        pytest.param(socket.AF_INET, "127.0.0.1", id="ipv4"),
        pytest.param(socket.AF_INET6, "::1", id="ipv6", marks=needs_ipv6),
    ],
)
def test_echo(loop: asyncio.AbstractEventLoop, family: int, host: str) -> None:
    sent = [b"bytes", bytearray(b"bytearray"), memoryview(b"[memoryview]")[1:-1]]

    async def main() -> None:
        async with endpoint(loop, Echo, local_addr=(host, 0)) as (server, echo):
            address = server.get_extra_info("sockname")
            assert address[:2] == (host, address[1]) and address[1] != 0
            async with endpoint(loop, remote_addr=address[:2]) as (client, protocol):
                # connection_made came before create_datagram_endpoint returned.
                assert protocol.events == ["made"] and protocol.transport is client
                for data in sent:
                    client.sendto(data)
                got = await protocol.datagrams(3)
                assert got == [(bytes(data), address) for data in sent]
                assert all(type(data) is bytes for data, _ in got)
                assert protocol.calls() == ["made", "datagram"]
                # The server heard them from the client's address.
                client_address = client.get_extra_info("sockname")
                assert [addr for _, addr in echo.received] == [client_address] * 3
                assert client.get_extra_info("peername") == address
                assert client.get_write_buffer_size() == 0

    loop.run_until_complete(main())


def test_sendto_an_address_without_remote_addr(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with udp_peer() as peer:
            async with endpoint(loop, local_addr=("127.0.0.1", 0)) as (transport, protocol):
                assert transport.get_extra_info("peername") is None
                mine = transport.get_extra_info("sockname")
                transport.sendto(b"hello", peer.getsockname())
                assert await loop.sock_recvfrom(peer, 1024) == (b"hello", mine)
                await loop.sock_sendto(peer, b"reply", mine)
                assert await protocol.datagrams(1) == [(b"reply", peer.getsockname())]
                # Another destination is fine on an unconnected endpoint.
                with udp_peer() as other:
                    transport.sendto(b"elsewhere", other.getsockname())
                    assert await loop.sock_recvfrom(other, 1024) == (b"elsewhere", mine)

    loop.run_until_complete(main())


def test_sendto_without_any_address_is_fatal_when_unconnected(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # asyncio passes addr=None on to socket.sendto(): a TypeError, which the
    # transport reports as a fatal write error and closes.
    contexts = collect_exceptions(loop)

    async def main() -> None:
        async with endpoint(loop, local_addr=("127.0.0.1", 0)) as (transport, protocol):
            transport.sendto(b"to nobody")
            exc = await protocol.lost
            assert type(exc) is TypeError
            [context] = contexts
            assert context["message"] == "Fatal write error on datagram transport"
            assert context["exception"] is exc
            assert context["transport"] is transport
            assert context["protocol"] is protocol
            assert protocol.calls() == ["made", "lost"]

    loop.run_until_complete(main())


def test_connected_sendto_takes_none_or_the_peer_address(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with udp_peer() as peer:
            address = peer.getsockname()
            async with endpoint(loop, remote_addr=address) as (transport, _):
                mine = transport.get_extra_info("sockname")
                transport.sendto(b"one")
                transport.sendto(b"two", address)
                other = ("127.0.0.1", closed_udp_port())
                message = f"Invalid address: must be None or {address}"
                with pytest.raises(ValueError, match=re.escape(message)):
                    transport.sendto(b"three", other)
                assert not transport.is_closing()
                transport.sendto(b"four", None)
                got = [await loop.sock_recvfrom(peer, 1024) for _ in range(3)]
                assert got == [(b"one", mine), (b"two", mine), (b"four", mine)]

    loop.run_until_complete(main())


def test_sendto_of_anything_but_bytes_is_a_type_error(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with udp_peer() as peer:
            async with endpoint(loop, remote_addr=peer.getsockname()) as (transport, protocol):
                for bad, name in [("text", "str"), (42, "int"), ([b"a"], "list")]:
                    message = f"data argument must be a bytes-like object, not '{name}'"
                    with pytest.raises(TypeError, match=re.escape(message)):
                        transport.sendto(bad)
                assert transport.get_write_buffer_size() == 0
                transport.sendto(b"still fine")
                assert (await loop.sock_recvfrom(peer, 1024))[0] == b"still fine"
                assert protocol.calls() == ["made"]

    loop.run_until_complete(main())


def test_sendto_arguments_by_keyword_and_their_errors(loop: asyncio.AbstractEventLoop) -> None:
    # pyloop parses sendto's (data, addr=None) itself (a raw vectorcall
    # method); the forms and the errors are those of a Python method.
    async def main() -> None:
        with udp_peer() as peer:
            address = peer.getsockname()
            async with endpoint(loop, local_addr=("127.0.0.1", 0)) as (transport, protocol):
                mine = transport.get_extra_info("sockname")
                transport.sendto(data=b"one", addr=address)
                transport.sendto(b"two", addr=address)
                transport.sendto(addr=address, data=bytearray(b"three"))
                got = [await loop.sock_recvfrom(peer, 1024) for _ in range(3)]
                assert got == [(b"one", mine), (b"two", mine), (b"three", mine)]
                bad_calls: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
                    ((), {}, r"sendto\(\) missing 1 required positional argument: 'data'"),
                    ((), {"addr": address}, r"missing 1 required positional argument: 'data'"),
                    (
                        (b"x", address, 1),
                        {},
                        r"sendto\(\) takes from 2 to 3 positional|"
                        r"sendto\(\) takes from 1 to 2 positional",
                    ),
                    ((b"x",), {"data": b"y"}, r"got multiple values for argument 'data'"),
                    ((b"x", address), {"addr": address}, r"multiple values for argument 'addr'"),
                    ((b"x",), {"bogus": 1}, r"got an unexpected keyword argument 'bogus'"),
                ]
                for args, kwargs, message in bad_calls:
                    with pytest.raises(TypeError, match=message):
                        transport.sendto(*args, **kwargs)
                assert transport.get_write_buffer_size() == 0
                assert not transport.is_closing()
                transport.sendto(b"after", address)
                assert await loop.sock_recvfrom(peer, 1024) == (b"after", mine)
                assert protocol.calls() == ["made"]

    loop.run_until_complete(main())


def test_empty_datagrams(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with udp_peer() as peer:
            async with endpoint(loop, remote_addr=peer.getsockname()) as (transport, protocol):
                mine = transport.get_extra_info("sockname")
                transport.sendto(b"")
                transport.sendto(b"after")
                first, _ = await loop.sock_recvfrom(peer, 1024)
                if SENDS_EMPTY_DATAGRAMS:
                    assert first == b""
                    assert (await loop.sock_recvfrom(peer, 1024))[0] == b"after"
                else:
                    assert first == b"after"  # sendto(b"") sent nothing
                # An empty datagram that arrives is a datagram, not an EOF.
                await loop.sock_sendto(peer, b"", mine)
                await loop.sock_sendto(peer, b"next", mine)
                got = await protocol.datagrams(2)
                assert got == [(b"", peer.getsockname()), (b"next", peer.getsockname())]
                assert not transport.is_closing()

    loop.run_until_complete(main())


# -- extra info and write buffering ------------------------------------------------------


def test_extra_info(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with udp_peer() as peer:
            async with endpoint(
                loop, local_addr=("127.0.0.1", 0), remote_addr=peer.getsockname()
            ) as (transport, _):
                assert isinstance(transport, asyncio.BaseTransport)
                if PY312:
                    assert isinstance(transport, asyncio.DatagramTransport)
                sock = transport.get_extra_info("socket")
                assert isinstance(sock, asyncio.trsock.TransportSocket)
                assert (sock.family, sock.type) == (socket.AF_INET, socket.SOCK_DGRAM)
                sockname = transport.get_extra_info("sockname")
                assert sockname == sock.getsockname()
                assert sockname[0] == "127.0.0.1" and sockname[1] != 0
                assert transport.get_extra_info("peername") == peer.getsockname()
                assert transport.get_extra_info("nonexistent") is None
                assert transport.get_extra_info("nonexistent", "default") == "default"
            # An endpoint of a family only: unbound and unconnected.
            async with endpoint(loop, family=socket.AF_INET) as (transport, _):
                assert transport.get_extra_info("sockname") == ("0.0.0.0", 0)
                assert transport.get_extra_info("peername") is None
                transport.sendto(b"from anywhere", peer.getsockname())
                assert (await loop.sock_recvfrom(peer, 1024))[0] == b"from anywhere"

    loop.run_until_complete(main())


def test_write_buffer_limits(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with endpoint(loop, family=socket.AF_INET) as (transport, _):
            assert transport.get_write_buffer_size() == 0
            assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
            transport.set_write_buffer_limits(high=100)
            assert transport.get_write_buffer_limits() == (25, 100)
            transport.set_write_buffer_limits(low=10)
            assert transport.get_write_buffer_limits() == (10, 40)
            transport.set_write_buffer_limits(high=0)
            assert transport.get_write_buffer_limits() == (0, 0)
            message = "high (1) must be >= low (2) must be >= 0"
            with pytest.raises(ValueError, match=re.escape(message)):
                transport.set_write_buffer_limits(high=1, low=2)
            with pytest.raises(ValueError, match=re.escape("high (-1) must be >= low (-1)")):
                transport.set_write_buffer_limits(high=-1, low=-1)

    loop.run_until_complete(main())


def _fill_until_paused(transport: Any, protocol: Datagrams, size: int) -> list[bytes]:
    """Sends numbered datagrams until the protocol is told to pause (the
    peer must not be reading); returns them, in order."""
    sent: list[bytes] = []
    while not protocol.writing_paused:
        data = len(sent).to_bytes(4, "big") + b"x" * (size - 4)
        transport.sendto(data)
        sent.append(data)
        assert len(sent) < 100_000, "pause_writing never came"
    return sent


def _unix_receiver(path: str) -> socket.socket:
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.setblocking(False)
    return receiver


def test_buffered_datagrams_pause_writing_and_drain_in_order(
    loop: asyncio.AbstractEventLoop, short_dir: str
) -> None:
    # A Unix datagram socket whose reader does not read refuses more sends
    # (EAGAIN) once its queue is full: the transport then buffers.
    size = 1000
    path = os.path.join(short_dir, "r")

    async def main() -> None:
        with _unix_receiver(path) as receiver:
            async with endpoint(loop, remote_addr=path, family=socket.AF_UNIX) as (
                transport,
                protocol,
            ):
                transport.set_write_buffer_limits(high=4 * size)
                sent = _fill_until_paused(transport, protocol, size)
                buffered = transport.get_write_buffer_size()
                header = 8 if sys.version_info >= (3, 13) else 0
                assert buffered > 4 * size
                assert buffered % (size + header) == 0
                assert protocol.size_at_pause == [buffered]
                got = [await loop.sock_recv(receiver, 65536) for _ in sent]
                assert got == sent
                await protocol.until(lambda: not protocol.writing_paused)
                if sys.version_info < (3, 13):  # 3.13.0 never gives back the headers
                    assert transport.get_write_buffer_size() == 0
                assert protocol.calls() == ["made", "pause_writing", "resume_writing"]
                # Flow goes on.
                transport.sendto(b"more")
                assert await loop.sock_recv(receiver, 65536) == b"more"

    loop.run_until_complete(main())


# -- closing -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["close", "abort"])
def test_close_and_abort_report_the_loss_once(loop: asyncio.AbstractEventLoop, method: str) -> None:
    async def main() -> None:
        with udp_peer() as peer:
            transport, protocol = await loop.create_datagram_endpoint(
                Datagrams, remote_addr=peer.getsockname()
            )
            sock = transport.get_extra_info("socket")
            getattr(transport, method)()
            assert transport.is_closing()
            getattr(transport, method)()
            transport.close()
            transport.abort()
            # Once closing, a connected endpoint drops what it is given.
            transport.sendto(b"dropped")
            assert await protocol.lost is None
            assert protocol.calls() == ["made", "lost"]
            assert protocol.events.count("lost") == 1
            assert sock.fileno() == -1  # closed with the transport
            transport.sendto(b"dropped too")
            # Nothing reached the peer: a datagram sent now arrives first.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.sendto(b"probe", peer.getsockname())
            assert (await loop.sock_recvfrom(peer, 1024))[0] == b"probe"
            assert protocol.events.count("lost") == 1

    loop.run_until_complete(main())


def test_close_flushes_buffered_datagrams_first(
    loop: asyncio.AbstractEventLoop, short_dir: str
) -> None:
    size = 1000
    path = os.path.join(short_dir, "r")

    async def main() -> None:
        with _unix_receiver(path) as receiver:
            transport, protocol = await loop.create_datagram_endpoint(
                Datagrams, remote_addr=path, family=socket.AF_UNIX
            )
            transport.set_write_buffer_limits(high=4 * size)
            sent = _fill_until_paused(transport, protocol, size)
            transport.close()
            assert transport.is_closing()
            got = [await loop.sock_recv(receiver, 65536) for _ in sent]
            assert got == sent
            assert await protocol.lost is None
            assert protocol.calls()[-1] == "lost"
            assert protocol.events.count("lost") == 1

    loop.run_until_complete(main())


def test_abort_drops_buffered_datagrams(loop: asyncio.AbstractEventLoop, short_dir: str) -> None:
    size = 1000
    path = os.path.join(short_dir, "r")

    async def main() -> None:
        with _unix_receiver(path) as receiver:
            transport, protocol = await loop.create_datagram_endpoint(
                Datagrams, remote_addr=path, family=socket.AF_UNIX
            )
            transport.set_write_buffer_limits(high=4 * size)
            sent: list[bytes] = []
            sent_at_once = None
            while not protocol.writing_paused:
                data = len(sent).to_bytes(4, "big") + b"x" * (size - 4)
                transport.sendto(data)
                sent.append(data)
                if sent_at_once is None and transport.get_write_buffer_size():
                    sent_at_once = len(sent) - 1  # this one was buffered
            assert sent_at_once
            transport.abort()
            assert await protocol.lost is None
            assert protocol.calls() == ["made", "pause_writing", "lost"]
            got = [await loop.sock_recv(receiver, 65536) for _ in range(sent_at_once)]
            assert got == sent[:sent_at_once]
            with pytest.raises(BlockingIOError):
                receiver.recv(65536)  # the buffered ones were dropped

    loop.run_until_complete(main())


# -- what reaches the protocol ---------------------------------------------------------


def test_port_unreachable_reaches_error_received(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        address = ("127.0.0.1", closed_udp_port())
        async with endpoint(loop, remote_addr=address) as (transport, protocol):
            transport.sendto(b"anyone there?")
            await protocol.until(lambda: bool(protocol.errors))
            [exc] = protocol.errors[:1]
            assert isinstance(exc, ConnectionRefusedError)
            assert exc.errno == errno.ECONNREFUSED
            # Not fatal: the endpoint stays open and usable.
            assert not transport.is_closing()
            assert "lost" not in protocol.events

    loop.run_until_complete(main())


class _FailingDatagramReceived(Datagrams):
    def datagram_received(self, data: bytes, addr: Any) -> None:
        super().datagram_received(data, addr)
        if data == b"boom":
            raise ZeroDivisionError("protocol bug")


def test_an_exception_in_datagram_received_goes_to_the_handler(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # asyncio does not catch it in the transport: the loop reports it as a
    # failed callback, and the endpoint carries on.
    contexts = collect_exceptions(loop)

    async def main() -> None:
        with udp_peer() as peer:
            async with endpoint(loop, _FailingDatagramReceived, local_addr=("127.0.0.1", 0)) as (
                transport,
                protocol,
            ):
                mine = transport.get_extra_info("sockname")
                await loop.sock_sendto(peer, b"boom", mine)
                await protocol.datagrams(1)
                await protocol.until(lambda: bool(contexts))
                [context] = contexts
                assert type(context["exception"]) is ZeroDivisionError
                assert str(context["exception"]) == "protocol bug"
                assert context["message"].startswith("Exception in callback")
                assert not transport.is_closing()
                await loop.sock_sendto(peer, b"after", mine)
                got = await protocol.datagrams(2)
                assert [data for data, _ in got] == [b"boom", b"after"]
                assert protocol.calls() == ["made", "datagram"]
                assert len(contexts) == 1

    loop.run_until_complete(main())


class _ClosesOnSecond(Datagrams):
    def datagram_received(self, data: bytes, addr: Any) -> None:
        super().datagram_received(data, addr)
        if len(self.received) == 2:
            self.transport.close()


def test_a_queued_burst_arrives_whole_in_order_and_close_stops_it(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # 100 datagrams wait in the socket before the loop reads any: all are
    # delivered in order (pyloop reads a batch per wake-up). A second
    # endpoint closes itself on its second datagram: no third one reaches it.
    async def main() -> None:
        with udp_peer() as peer:
            async with endpoint(loop, local_addr=("127.0.0.1", 0)) as (transport, protocol):
                mine = transport.get_extra_info("sockname")
                for i in range(100):
                    peer.sendto(payload(i), mine)
                got = await protocol.datagrams(100)
                assert [data for data, _ in got] == [payload(i) for i in range(100)]
            async with endpoint(loop, _ClosesOnSecond, local_addr=("127.0.0.1", 0)) as (
                transport,
                protocol,
            ):
                mine = transport.get_extra_info("sockname")
                for i in range(5):
                    peer.sendto(payload(i), mine)
                assert await protocol.lost is None
                assert [data for data, _ in protocol.received] == [payload(0), payload(1)]
                assert protocol.calls() == ["made", "datagram", "lost"]

    loop.run_until_complete(main())


# -- create_datagram_endpoint's options ---------------------------------------------------


def test_allow_broadcast(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with udp_peer() as peer:
            address = peer.getsockname()
            async with endpoint(
                loop, local_addr=("127.0.0.1", 0), remote_addr=address, allow_broadcast=True
            ) as (transport, protocol):
                sock = transport.get_extra_info("socket")
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) != 0
                # Not connected: sends to remote_addr, hears from anyone.
                assert transport.get_extra_info("peername") is None
                mine = transport.get_extra_info("sockname")
                transport.sendto(b"to remote_addr")
                assert await loop.sock_recvfrom(peer, 1024) == (b"to remote_addr", mine)
                message = f"Invalid address: must be None or {address}"
                with pytest.raises(ValueError, match=re.escape(message)):
                    transport.sendto(b"x", ("127.0.0.1", closed_udp_port()))
                with udp_peer() as stranger:
                    await loop.sock_sendto(stranger, b"hi", mine)
                    assert await protocol.datagrams(1) == [(b"hi", stranger.getsockname())]
            async with endpoint(loop, remote_addr=address) as (transport, _):
                sock = transport.get_extra_info("socket")
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 0

    loop.run_until_complete(main())


@needs_reuse_port
def test_reuse_port(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with endpoint(loop, local_addr=("127.0.0.1", 0), reuse_port=True) as (first, _):
            address = first.get_extra_info("sockname")
            sock = first.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0
            async with endpoint(loop, local_addr=address, reuse_port=True) as (second, _):
                assert second.get_extra_info("sockname") == address
            with pytest.raises(OSError) as caught:
                await loop.create_datagram_endpoint(Datagrams, local_addr=address)
            # The bind error as the socket raised it (no rewording, unlike TCP).
            assert type(caught.value) is OSError
            assert caught.value.errno == errno.EADDRINUSE
            assert str(caught.value) == f"[Errno {errno.EADDRINUSE}] Address already in use"

    loop.run_until_complete(main())


def test_local_addr_names_are_resolved_through_the_loop(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[tuple[Any, ...]] = []
    resolve = loop.getaddrinfo

    async def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return await resolve(*args, **kwargs)

    loop.getaddrinfo = spy  # type: ignore[method-assign]

    async def main() -> None:
        async with endpoint(loop, local_addr=("localhost", 0), family=socket.AF_INET) as (
            transport,
            _,
        ):
            assert transport.get_extra_info("sockname")[0] == "127.0.0.1"
        assert calls == [
            (
                ("localhost", 0),
                {"family": socket.AF_INET, "type": socket.SOCK_DGRAM, "proto": 0, "flags": 0},
            )
        ]
        # A numeric address is not looked up.
        calls.clear()
        with udp_peer() as peer:
            async with endpoint(
                loop, local_addr=("127.0.0.1", 0), remote_addr=peer.getsockname()
            ) as (transport, _):
                mine = transport.get_extra_info("sockname")
                transport.sendto(b"hi")
                assert await loop.sock_recvfrom(peer, 1024) == (b"hi", mine)
        assert calls == []

    try:
        loop.run_until_complete(main())
    finally:
        del loop.getaddrinfo


def test_flags_and_proto_reach_the_resolver_and_the_socket(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> None:
        # No host and AI_PASSIVE: the resolver gives the wildcard address.
        async with endpoint(
            loop,
            local_addr=(None, 0),
            family=socket.AF_INET,
            proto=socket.IPPROTO_UDP,
            flags=socket.AI_PASSIVE,
        ) as (transport, _):
            assert transport.get_extra_info("sockname")[0] == "0.0.0.0"
            assert transport.get_extra_info("socket").proto == socket.IPPROTO_UDP

    loop.run_until_complete(main())


def test_addresses_of_a_family_the_other_lacks(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match=r"^can not get address information$"):
            await loop.create_datagram_endpoint(
                Datagrams, local_addr=("127.0.0.1", 0), remote_addr=("::1", 9)
            )
        # A family the address cannot have: the resolver's own error.
        for family, host in [(socket.AF_INET6, "127.0.0.1"), (socket.AF_INET, "::1")]:
            with pytest.raises(socket.gaierror) as expected:
                socket.getaddrinfo(host, 0, family, socket.SOCK_DGRAM)
            with pytest.raises(socket.gaierror) as caught:
                await loop.create_datagram_endpoint(Datagrams, local_addr=(host, 0), family=family)
            assert caught.value.errno == expected.value.errno
            assert str(caught.value) == str(expected.value)

    loop.run_until_complete(main())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "unexpected address family"),
        ({"local_addr": "127.0.0.1"}, TypeError, "2-tuple is expected"),
        ({"local_addr": ["127.0.0.1", 0]}, TypeError, "2-tuple is expected"),
        ({"remote_addr": ("127.0.0.1", 9, 0, 0)}, TypeError, "2-tuple is expected"),
        ({"family": socket.AF_UNIX, "local_addr": ("x", 1)}, TypeError, "string is expected"),
        ({"family": socket.AF_UNIX, "remote_addr": b"/x"}, TypeError, "string is expected"),
        (
            {"family": socket.AF_UNIX, "local_addr": pathlib.PurePosixPath("/x")},
            TypeError,
            "string is expected",
        ),
        ({"reuse_address": True}, TypeError, "unexpected keyword argument 'reuse_address'"),
        ({"reuse_address": False}, TypeError, "unexpected keyword argument 'reuse_address'"),
    ],
    ids=[
        "nothing",
        "str-address",
        "list-address",
        "4-tuple",
        "unix-tuple",
        "unix-bytes",
        "unix-path",
        "reuse_address",
        "reuse_address-false",
    ],
)
def test_argument_errors(
    loop: asyncio.AbstractEventLoop, kwargs: dict[str, Any], error: type, message: str
) -> None:
    async def main() -> None:
        with pytest.raises(error) as caught:
            await loop.create_datagram_endpoint(Datagrams, **kwargs)
        assert type(caught.value) is error
        if message.startswith("unexpected keyword"):  # names the method too
            assert message in str(caught.value)
        else:
            assert str(caught.value) == message

    loop.run_until_complete(main())


@pytest.mark.parametrize(
    ("kwargs", "error", "code"),
    [
        ({"local_addr": ("192.0.2.1", 0)}, OSError, errno.EADDRNOTAVAIL),
        ({"family": socket.AF_INET, "proto": socket.IPPROTO_TCP}, OSError, errno.EPROTONOSUPPORT),
        (
            {"family": socket.AF_UNIX, "remote_addr": "/nonexistent/udp.sock"},
            FileNotFoundError,
            errno.ENOENT,
        ),
    ],
    ids=["bind", "socket", "connect"],
)
def test_socket_errors_are_raised_as_they_are(
    loop: asyncio.AbstractEventLoop, kwargs: dict[str, Any], error: type, code: int
) -> None:
    async def main() -> None:
        with pytest.raises(OSError) as caught:
            await loop.create_datagram_endpoint(Datagrams, **kwargs)
        assert type(caught.value) is error
        assert caught.value.errno == code

    loop.run_until_complete(main())


# -- sock= -----------------------------------------------------------------------------


def test_sock(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with udp_peer() as peer:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            address = sock.getsockname()
            transport, protocol = await loop.create_datagram_endpoint(Datagrams, sock=sock)
            assert not sock.getblocking()
            assert transport.get_extra_info("socket").fileno() == sock.fileno()
            assert transport.get_extra_info("sockname") == address
            assert transport.get_extra_info("peername") is None
            await loop.sock_sendto(peer, b"in", address)
            assert await protocol.datagrams(1) == [(b"in", peer.getsockname())]
            transport.sendto(b"out", peer.getsockname())
            assert await loop.sock_recvfrom(peer, 1024) == (b"out", address)
            transport.close()
            assert await protocol.lost is None
            assert sock.fileno() == -1  # the transport owned it

    loop.run_until_complete(main())


def test_connected_sock_sends_to_its_peer_whatever_the_address(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # With sock=, there is no remote_addr to check against; a connected
    # socket's datagrams go to its peer (asyncio uses send(), not sendto()).
    async def main() -> None:
        with udp_peer() as peer, udp_peer() as other:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.connect(peer.getsockname())
            async with endpoint(loop, sock=sock) as (transport, _):
                assert transport.get_extra_info("peername") == peer.getsockname()
                transport.sendto(b"one")
                transport.sendto(b"two", other.getsockname())
                got = [(await loop.sock_recvfrom(peer, 1024))[0] for _ in range(2)]
                assert got == [b"one", b"two"]
                with pytest.raises(BlockingIOError):
                    other.recv(1024)

    loop.run_until_complete(main())


def test_sock_must_not_be_a_stream_socket(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            expected = "A datagram socket" if ANY_DATAGRAM_SOCK else "A UDP Socket"
            with pytest.raises(ValueError) as caught:
                await loop.create_datagram_endpoint(Datagrams, sock=sock)
            assert str(caught.value) == f"{expected} was expected, got {sock!r}"
            assert sock.getblocking()  # refused before it was touched
        # A Unix SOCK_SEQPACKET socket is neither stream nor SOCK_DGRAM.
        first, second = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with first, second:
            if ANY_DATAGRAM_SOCK:
                async with endpoint(loop, sock=first) as (transport, _):
                    assert transport.get_extra_info("socket").type == socket.SOCK_SEQPACKET
            else:
                with pytest.raises(ValueError) as caught:
                    await loop.create_datagram_endpoint(Datagrams, sock=first)
                assert str(caught.value) == f"A UDP Socket was expected, got {first!r}"

    loop.run_until_complete(main())


@pytest.mark.parametrize(
    "modifiers",
    [
        {"local_addr": ("127.0.0.1", 0)},
        {"remote_addr": ("127.0.0.1", 9), "family": socket.AF_INET},
        {"proto": socket.IPPROTO_UDP, "flags": socket.AI_PASSIVE},
        {"reuse_port": True, "allow_broadcast": True},
        {"local_addr": ("127.0.0.1", 0), "family": 0, "reuse_port": False},
    ],
    ids=["local_addr", "remote_addr-family", "proto-flags", "reuse_port-broadcast", "falsy"],
)
def test_sock_with_socket_modifiers(
    loop: asyncio.AbstractEventLoop, modifiers: dict[str, Any]
) -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            with pytest.raises(ValueError) as caught:
                await loop.create_datagram_endpoint(Datagrams, sock=sock, **modifiers)
            shown = ", ".join(f"{name}={value}" for name, value in modifiers.items() if value)
            assert str(caught.value) == (
                "socket modifier keyword arguments can not be used "
                f"when sock is specified. ({shown})"
            )
        # Falsy ones are not modifiers.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            async with endpoint(
                loop, sock=sock, family=0, proto=0, flags=0, reuse_port=False, allow_broadcast=None
            ) as (transport, _):
                assert transport.get_extra_info("socket").fileno() == sock.fileno()

    loop.run_until_complete(main())


def test_protocol_factory_error_propagates_and_leaves_sock_open(
    loop: asyncio.AbstractEventLoop,
) -> None:
    def factory() -> Datagrams:
        raise ZeroDivisionError("factory")

    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            with pytest.raises(ZeroDivisionError, match="factory"):
                await loop.create_datagram_endpoint(factory, sock=sock)
            assert sock.fileno() != -1  # the caller's, to close

    loop.run_until_complete(main())


# -- Unix datagram sockets ----------------------------------------------------------------


def test_unix_datagram_echo(loop: asyncio.AbstractEventLoop, short_dir: str) -> None:
    server_path = os.path.join(short_dir, "server")
    client_path = os.path.join(short_dir, "client")

    async def main() -> None:
        async with endpoint(loop, Echo, local_addr=server_path, family=socket.AF_UNIX) as (
            server,
            echo,
        ):
            assert server.get_extra_info("sockname") == server_path
            assert server.get_extra_info("peername") is None
            sock = server.get_extra_info("socket")
            assert (sock.family, sock.type) == (socket.AF_UNIX, socket.SOCK_DGRAM)
            async with endpoint(
                loop, local_addr=client_path, remote_addr=server_path, family=socket.AF_UNIX
            ) as (client, protocol):
                assert client.get_extra_info("sockname") == client_path
                assert client.get_extra_info("peername") == server_path
                client.sendto(b"ping")
                client.sendto(b"pong", server_path)
                got = await protocol.datagrams(2)
                assert got == [(b"ping", server_path), (b"pong", server_path)]
                assert echo.received == [(b"ping", client_path), (b"pong", client_path)]
                with pytest.raises(ValueError, match="Invalid address: must be None or "):
                    client.sendto(b"x", client_path)
        # The socket files stay (a datagram endpoint does not unlink them).
        assert os.path.exists(server_path) and os.path.exists(client_path)

    loop.run_until_complete(main())


def test_unix_datagram_from_an_unbound_socket(
    loop: asyncio.AbstractEventLoop, short_dir: str
) -> None:
    path = os.path.join(short_dir, "server")

    async def main() -> None:
        async with endpoint(loop, local_addr=path, family=socket.AF_UNIX) as (_, protocol):
            async with endpoint(loop, remote_addr=path, family=socket.AF_UNIX) as (client, _):
                assert client.get_extra_info("sockname") == ""
                assert client.get_extra_info("peername") == path
                client.sendto(b"anonymous")
                assert await protocol.datagrams(1) == [(b"anonymous", None)]

    loop.run_until_complete(main())


def test_unix_stale_socket_file_is_replaced(
    loop: asyncio.AbstractEventLoop, short_dir: str
) -> None:
    path = os.path.join(short_dir, "stale")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as earlier:
        earlier.bind(path)
    assert os.path.exists(path)  # closed, its file left behind

    async def main() -> None:
        async with endpoint(loop, local_addr=path, family=socket.AF_UNIX) as (server, protocol):
            assert server.get_extra_info("sockname") == path
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
                sender.sendto(b"reaches the new one", path)
            assert await protocol.datagrams(1) == [(b"reaches the new one", None)]

    loop.run_until_complete(main())


def test_unix_other_files_are_not_removed(loop: asyncio.AbstractEventLoop, short_dir: str) -> None:
    path = os.path.join(short_dir, "file")
    with open(path, "w") as file:
        file.write("keep me")

    async def main() -> None:
        with pytest.raises(OSError) as caught:
            await loop.create_datagram_endpoint(Datagrams, local_addr=path, family=socket.AF_UNIX)
        assert type(caught.value) is OSError
        assert caught.value.errno == errno.EADDRINUSE

    loop.run_until_complete(main())
    with open(path) as file:
        assert file.read() == "keep me"


@linux_only
def test_unix_abstract_address(loop: asyncio.AbstractEventLoop) -> None:
    name = f"\0pyloop-udp-{os.getpid()}-{id(loop)}"

    async def main() -> None:
        async with endpoint(loop, local_addr=name, family=socket.AF_UNIX) as (server, protocol):
            assert server.get_extra_info("sockname") == name.encode()
            async with endpoint(loop, remote_addr=name, family=socket.AF_UNIX) as (client, _):
                client.sendto(b"abstract")
                assert await protocol.datagrams(1) == [(b"abstract", None)]

    loop.run_until_complete(main())


def test_unix_sock(loop: asyncio.AbstractEventLoop, short_dir: str) -> None:
    path = os.path.join(short_dir, "sock")

    async def main() -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        async with endpoint(loop, sock=sock) as (transport, protocol):
            assert transport.get_extra_info("sockname") == path
            assert transport.get_extra_info("peername") is None
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
                sender.bind(os.path.join(short_dir, "sender"))
                sender.setblocking(False)
                sender.sendto(b"to sock", path)
                assert await protocol.datagrams(1) == [(b"to sock", sender.getsockname())]
                transport.sendto(b"back", sender.getsockname())
                assert await loop.sock_recvfrom(sender, 1024) == (b"back", path)

    loop.run_until_complete(main())


# -- stress ------------------------------------------------------------------------------

DATAGRAMS = 10_000
# Datagrams in flight at once: far below what a loopback socket's receive
# buffer holds, so none is expected to be dropped.
WINDOW = 32


def test_10000_datagrams_echoed_in_windows(loop: asyncio.AbstractEventLoop) -> None:
    expected = [payload(index) for index in range(DATAGRAMS)]

    async def main() -> list[bytes]:
        async with endpoint(loop, Echo, local_addr=("127.0.0.1", 0)) as (server, echo):
            address = server.get_extra_info("sockname")
            async with endpoint(loop, remote_addr=address) as (client, protocol):
                for start in range(0, DATAGRAMS, WINDOW):
                    window = expected[start : start + WINDOW]
                    for data in window:
                        client.sendto(data)
                    # The echoes are the acknowledgements.
                    await protocol.datagrams(start + len(window))
                assert len(echo.received) == DATAGRAMS
                assert {addr for _, addr in protocol.received} == {address}
                return [data for data, _ in protocol.received]

    received = loop.run_until_complete(main())
    assert len(received) == DATAGRAMS
    # Every payload exactly once (loopback keeps the order too, but UDP
    # does not promise it).
    assert sorted(received) == sorted(expected)
