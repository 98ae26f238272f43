"""How TCP transports are made: create_connection (host and port, resolution,
happy eyeballs, sock=, local_addr, family, argument errors) and
connect_accepted_socket. The transport API itself is test_tcp_transport.py's."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from typing import Any

import pytest
from recording import Recorder, finish, free_port, listener, needs_ipv6, recv_exactly

# A name only the patched resolver below knows.
FAKE_HOST = "pyloop-dual-stack.invalid"


def _resolve_fake_host_to(
    loop: asyncio.AbstractEventLoop, addresses: list[tuple[Any, ...]]
) -> None:
    """Makes loop.getaddrinfo answer FAKE_HOST with `addresses`, in order (both
    loops resolve names through their own getaddrinfo method)."""
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host != FAKE_HOST:
            return await real(host, port, **kwargs)
        return [
            (socket.AF_INET6 if ":" in address[0] else socket.AF_INET,
             socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)
            for address in addresses
        ]  # fmt: skip

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]


def test_connect_to_host_and_port(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with listener() as server:
            transport, protocol = await loop.create_connection(Recorder, *server.getsockname())
            # connection_made ran before create_connection returned
            assert protocol.events == ["made"]
            assert protocol.transport is transport
            peer, address = await loop.sock_accept(server)
            with peer:
                assert transport.get_extra_info("peername") == server.getsockname()
                assert transport.get_extra_info("sockname") == address
                transport.write(b"hello")
                assert await recv_exactly(loop, peer, 5) == b"hello"
                await loop.sock_sendall(peer, b"back")
                assert await protocol.received(4) == b"back"
                await finish(transport)

    loop.run_until_complete(main())


def test_connect_resolves_a_host_name(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[Any, Any]:
        with listener() as server:
            port = server.getsockname()[1]
            transport, _ = await loop.create_connection(Recorder, "localhost", port)
            peer, _ = await loop.sock_accept(server)
            peer.close()
            peername = transport.get_extra_info("peername")
            await finish(transport)
            return peername, server.getsockname()

    peername, listening = loop.run_until_complete(main())
    assert peername == listening  # localhost is 127.0.0.1 here


def test_connection_refused(loop: asyncio.AbstractEventLoop) -> None:
    port = free_port()
    with pytest.raises(ConnectionRefusedError):
        loop.run_until_complete(loop.create_connection(Recorder, "127.0.0.1", port))


# The fake host resolves to [::1 (refused), ::1 (listening: "v6"), 127.0.0.1
# (listening: "v4")]. Interleaving by family reorders that to [::1 refused,
# 127.0.0.1, ::1], so the family the connection lands on shows the order tried.
@needs_ipv6
@pytest.mark.parametrize(
    ("happy_eyeballs_delay", "interleave", "lands_on"),
    [
        (None, None, "v6"),  # addresses in the resolver's order
        (None, 1, "v4"),  # interleaved without happy eyeballs
        (10.0, None, "v4"),  # happy eyeballs interleaves by default
        (10.0, 2, "v6"),  # two of the first family before the other
    ],
)
def test_happy_eyeballs_and_interleave_choose_the_order_tried(
    loop: asyncio.AbstractEventLoop,
    happy_eyeballs_delay: float | None,
    interleave: int | None,
    lands_on: str,
) -> None:
    async def main() -> str:
        with listener(socket.AF_INET6, "::1") as v6, listener() as v4:
            refused = ("::1", free_port(), 0, 0)
            _resolve_fake_host_to(loop, [refused, v6.getsockname(), v4.getsockname()])
            # Every address has its own port: the resolver's port is not used.
            transport, _ = await loop.create_connection(
                Recorder,
                FAKE_HOST,
                0,
                happy_eyeballs_delay=happy_eyeballs_delay,
                interleave=interleave,
            )
            peername = transport.get_extra_info("peername")
            await finish(transport)
            return {v6.getsockname(): "v6", v4.getsockname(): "v4"}[peername]

    assert loop.run_until_complete(main()) == lands_on


@needs_ipv6
@pytest.mark.parametrize("happy_eyeballs_delay", [None, 10.0])
def test_every_address_refused_raises_one_combined_oserror(
    loop: asyncio.AbstractEventLoop, happy_eyeballs_delay: float | None
) -> None:
    v6 = ("::1", free_port(), 0, 0)
    v4 = ("127.0.0.1", free_port())
    _resolve_fake_host_to(loop, [v6, v4])
    with pytest.raises(OSError) as caught:
        loop.run_until_complete(
            loop.create_connection(
                Recorder, FAKE_HOST, 0, happy_eyeballs_delay=happy_eyeballs_delay
            )
        )
    # The errors differ (each names its address), so asyncio joins them.
    assert type(caught.value) is OSError
    message = str(caught.value)
    assert message.startswith("Multiple exceptions: ")
    assert str(v6) in message and str(v4) in message


def test_identical_errors_raise_the_first_one_alone(loop: asyncio.AbstractEventLoop) -> None:
    address = ("127.0.0.1", free_port())
    _resolve_fake_host_to(loop, [address, address])
    with pytest.raises(ConnectionRefusedError, match=re.escape(str(address))):
        loop.run_until_complete(loop.create_connection(Recorder, FAKE_HOST, 0))


@needs_ipv6
@pytest.mark.skipif(sys.version_info < (3, 12), reason="all_errors is new in 3.12")
def test_all_errors_raises_an_exception_group(loop: asyncio.AbstractEventLoop) -> None:
    _resolve_fake_host_to(loop, [("::1", free_port(), 0, 0), ("127.0.0.1", free_port())])
    with pytest.raises(ExceptionGroup) as caught:
        loop.run_until_complete(loop.create_connection(Recorder, FAKE_HOST, 0, all_errors=True))
    assert [type(e) for e in caught.value.exceptions] == [ConnectionRefusedError] * 2


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="all_errors exists from 3.12")
def test_all_errors_is_not_a_keyword_before_3_12(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(TypeError, match="all_errors"):
        loop.run_until_complete(
            loop.create_connection(Recorder, "127.0.0.1", 1, all_errors=True)  # type: ignore[call-arg]
        )


def test_connect_over_an_already_connected_sock(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with listener() as server:
            sock = socket.create_connection(server.getsockname())
            transport, protocol = await loop.create_connection(Recorder, sock=sock)
            assert protocol.events == ["made"]
            assert sock.gettimeout() == 0  # made non-blocking
            assert transport.get_extra_info("socket").fileno() == sock.fileno()
            assert transport.get_extra_info("peername") == server.getsockname()
            peer, _ = await loop.sock_accept(server)
            with peer:
                transport.write(b"via sock")
                assert await recv_exactly(loop, peer, 8) == b"via sock"
                await finish(transport)
            assert sock.fileno() == -1  # the transport closed the socket it was given

    loop.run_until_complete(main())


def _argument_error_cases() -> list[Any]:
    return [
        pytest.param(
            {"host": "127.0.0.1", "port": 1, "sock": "tcp"},
            "host/port and sock can not be specified at the same time",
            id="host-and-sock",
        ),
        pytest.param({}, "host and port was not specified and no sock specified", id="nothing"),
        pytest.param({"sock": "udp"}, "A Stream Socket was expected, got", id="datagram-sock"),
        pytest.param(
            {"host": "127.0.0.1", "port": 1, "server_hostname": "x"},
            "server_hostname is only meaningful with ssl",
            id="server_hostname-without-ssl",
        ),
        pytest.param(
            {"host": "127.0.0.1", "port": 1, "ssl_handshake_timeout": 1.0},
            "ssl_handshake_timeout is only meaningful with ssl",
            id="handshake-timeout-without-ssl",
        ),
        pytest.param(
            {"host": "127.0.0.1", "port": 1, "ssl_shutdown_timeout": 1.0},
            "ssl_shutdown_timeout is only meaningful with ssl",
            id="shutdown-timeout-without-ssl",
        ),
    ]


@pytest.mark.parametrize(("kwargs", "message"), _argument_error_cases())
def test_create_connection_argument_errors(
    loop: asyncio.AbstractEventLoop, kwargs: dict[str, Any], message: str
) -> None:
    kinds = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}
    sock = socket.socket(type=kinds[kwargs["sock"]]) if "sock" in kwargs else None
    if sock is not None:
        kwargs = {**kwargs, "sock": sock}
    try:
        with pytest.raises(ValueError, match=re.escape(message)):
            loop.run_until_complete(loop.create_connection(Recorder, **kwargs))
        # A refused call leaves the caller's socket open.
        assert sock is None or sock.fileno() >= 0
    finally:
        if sock is not None:
            sock.close()


def test_local_addr_binds_the_client_end(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[Any, Any, Any]:
        local = ("127.0.0.1", free_port())
        with listener() as server:
            transport, _ = await loop.create_connection(
                Recorder, *server.getsockname(), local_addr=local
            )
            peer, seen_from = await loop.sock_accept(server)
            peer.close()
            sockname = transport.get_extra_info("sockname")
            await finish(transport)
            return local, sockname, seen_from

    local, sockname, seen_from = loop.run_until_complete(main())
    assert sockname == local == seen_from


def test_local_addr_in_use_names_the_address(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with listener() as server, listener() as taken:
            await loop.create_connection(
                Recorder, *server.getsockname(), local_addr=taken.getsockname()
            )

    with pytest.raises(OSError) as caught:
        loop.run_until_complete(main())
    assert "error while attempting to bind on address" in str(caught.value)
    assert caught.value.errno is not None


def test_local_addr_of_another_family_is_refused(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with listener() as server:
            await loop.create_connection(Recorder, *server.getsockname(), local_addr=("::1", 0))

    with pytest.raises(OSError, match="no matching local address"):
        loop.run_until_complete(main())


@needs_ipv6
def test_family_selects_ipv6(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[int, tuple[str, int]]:
        with listener(socket.AF_INET6, "::1") as server:
            port = server.getsockname()[1]
            transport, _ = await loop.create_connection(
                Recorder, "::1", port, family=socket.AF_INET6
            )
            peer, _ = await loop.sock_accept(server)
            peer.close()
            sock = transport.get_extra_info("socket")
            family = sock.family
            peername = transport.get_extra_info("peername")
            await finish(transport)
            return family, peername[:2]

    family, peername = loop.run_until_complete(main())
    assert family == socket.AF_INET6
    assert peername[0] == "::1"


def test_family_that_the_host_lacks_fails_to_resolve(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(socket.gaierror):
        loop.run_until_complete(loop.create_connection(Recorder, "::1", 1, family=socket.AF_INET))


def test_connect_accepted_socket(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with listener() as server, socket.socket() as client:
            client.setblocking(False)
            await loop.sock_connect(client, server.getsockname())
            conn, _ = await loop.sock_accept(server)
            transport, protocol = await loop.connect_accepted_socket(Recorder, conn)
            assert protocol.events == ["made"]
            assert transport.get_extra_info("peername") == client.getsockname()
            await loop.sock_sendall(client, b"to the accepted end")
            assert await protocol.received(19) == b"to the accepted end"
            transport.write(b"reply")
            assert await recv_exactly(loop, client, 5) == b"reply"
            transport.close()
            assert await protocol.lost is None
            assert await loop.sock_recv(client, 10) == b""  # the close reached the client

    loop.run_until_complete(main())


def test_connect_accepted_socket_wants_a_stream_socket(loop: asyncio.AbstractEventLoop) -> None:
    with socket.socket(type=socket.SOCK_DGRAM) as udp:
        with pytest.raises(ValueError, match="A Stream Socket was expected"):
            loop.run_until_complete(loop.connect_accepted_socket(Recorder, udp))
