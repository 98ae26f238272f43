"""create_server and the Server object: where it binds (one host, a list,
every interface, a given sock), its socket options and backlog, when it starts
serving, serve_forever and its cancellation, close/wait_closed with and
without live connections (as this Python's asyncio does), and `async with`."""

from __future__ import annotations

import asyncio
import errno
import re
import shutil
import socket
import subprocess
import sys
from typing import Any

import pytest
from recording import Recorder, finish, needs_ipv6, recv_exactly, recv_to_eof


class Accepted:
    """A protocol factory that hands each protocol it makes to a queue."""

    def __init__(self, cls: type[Recorder] = Recorder) -> None:
        self.cls = cls
        self.protocols: list[Recorder] = []
        self.queue: asyncio.Queue[Recorder] = asyncio.Queue()

    def __call__(self) -> Recorder:
        protocol = self.cls()
        self.protocols.append(protocol)
        self.queue.put_nowait(protocol)
        return protocol

    async def all_lost(self) -> None:
        """Waits for connection_lost on every connection accepted so far (the
        clients must have closed their ends)."""
        for protocol in self.protocols:
            await protocol.lost

    async def next(self) -> Recorder:
        protocol = await self.queue.get()
        await protocol.made
        return protocol


class Echo(Recorder):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.transport.write(data)


async def _client(loop: asyncio.AbstractEventLoop, address: Any) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock


async def _echo_once(loop: asyncio.AbstractEventLoop, address: Any, message: bytes) -> bytes:
    with await _client(loop, address) as sock:
        await loop.sock_sendall(sock, message)
        return await recv_exactly(loop, sock, len(message))


def test_server_on_one_host(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        accepted = Accepted()
        server = await loop.create_server(accepted, "127.0.0.1", 0)
        assert server.is_serving()
        assert server.get_loop() is loop
        [listening] = server.sockets
        assert listening.family == socket.AF_INET
        host, port = listening.getsockname()
        assert host == "127.0.0.1" and port != 0
        with await _client(loop, (host, port)) as client:
            protocol = await accepted.next()
            transport = protocol.transport
            assert transport.get_extra_info("socket").gettimeout() == 0  # non-blocking
            assert transport.get_extra_info("peername") == client.getsockname()
            assert transport.get_extra_info("sockname") == (host, port)
            await loop.sock_sendall(client, b"to the server")
            assert await protocol.received(13) == b"to the server"
            transport.write(b"to the client")
            assert await recv_exactly(loop, client, 13) == b"to the client"
            await finish(transport)
        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        assert server.sockets == ()

    loop.run_until_complete(main())


@needs_ipv6
def test_server_on_a_list_of_hosts(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        accepted = Accepted(Echo)
        server = await loop.create_server(accepted, ["127.0.0.1", "::1"], 0)
        async with server:
            by_family = {s.family: s for s in server.sockets}
            assert sorted(by_family) == [socket.AF_INET, socket.AF_INET6]
            v6 = by_family[socket.AF_INET6]
            assert v6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
            for listening in server.sockets:
                address = listening.getsockname()[:2]
                assert await _echo_once(loop, address, b"echo") == b"echo"
        await accepted.all_lost()

    loop.run_until_complete(main())


def test_a_host_listed_twice_is_bound_once(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> int:
        async with await loop.create_server(Echo, ["127.0.0.1", "127.0.0.1"], 0) as server:
            return len(server.sockets)

    assert loop.run_until_complete(main()) == 1


@needs_ipv6
@pytest.mark.parametrize("host", [None, ""])
def test_no_host_binds_every_interface(loop: asyncio.AbstractEventLoop, host: str | None) -> None:
    expected = {
        (family, address[0])
        for family, _, _, _, address in socket.getaddrinfo(
            None, 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    }

    async def main() -> None:
        accepted = Accepted(Echo)
        async with await loop.create_server(accepted, host, 0) as server:
            bound = {(s.family, s.getsockname()[0]) for s in server.sockets}
            assert bound == expected
            [v4] = [s for s in server.sockets if s.family == socket.AF_INET]
            address = ("127.0.0.1", v4.getsockname()[1])
            assert await _echo_once(loop, address, b"anywhere") == b"anywhere"
        await accepted.all_lost()

    loop.run_until_complete(main())


@pytest.mark.parametrize(("reuse_address", "expected"), [(None, 1), (True, 1), (False, 0)])
def test_reuse_address(
    loop: asyncio.AbstractEventLoop, reuse_address: bool | None, expected: int
) -> None:
    async def main() -> int:
        server = await loop.create_server(Echo, "127.0.0.1", 0, reuse_address=reuse_address)
        async with server:
            [listening] = server.sockets
            return int(listening.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0)

    assert loop.run_until_complete(main()) == expected


def test_reuse_port_lets_two_servers_share_a_port(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        accepted = Accepted(Echo)
        first = await loop.create_server(accepted, "127.0.0.1", 0, reuse_port=True)
        port = first.sockets[0].getsockname()[1]
        second = await loop.create_server(accepted, "127.0.0.1", port, reuse_port=True)
        async with first, second:
            for server in (first, second):
                [listening] = server.sockets
                assert listening.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0
                assert listening.getsockname() == ("127.0.0.1", port)
            assert await _echo_once(loop, ("127.0.0.1", port), b"shared") == b"shared"
        await accepted.all_lost()

    loop.run_until_complete(main())


def test_a_port_in_use_names_the_address(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with await loop.create_server(Echo, "127.0.0.1", 0) as first:
            port = first.sockets[0].getsockname()[1]
            with pytest.raises(OSError) as caught:
                await loop.create_server(Echo, "127.0.0.1", port)
            assert caught.value.errno == errno.EADDRINUSE
            assert str(caught.value) == (
                f"[Errno {errno.EADDRINUSE}] error while attempting to bind on "
                f"address ('127.0.0.1', {port}): address already in use"
            )

    loop.run_until_complete(main())


def _listen_backlog(port: int) -> int:
    """The backlog a listening socket was given, as `ss` shows it (Send-Q)."""
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    [line] = out.strip().splitlines()
    return int(line.split()[2])


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs `ss` (iproute2) to read backlogs")
@pytest.mark.parametrize(("backlog", "expected"), [(None, 100), (7, 7)])
def test_backlog_reaches_listen(
    loop: asyncio.AbstractEventLoop, backlog: int | None, expected: int
) -> None:
    kwargs = {} if backlog is None else {"backlog": backlog}

    async def main() -> int:
        async with await loop.create_server(Echo, "127.0.0.1", 0, **kwargs) as server:
            return _listen_backlog(server.sockets[0].getsockname()[1])

    assert loop.run_until_complete(main()) == expected


def test_start_serving_later(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        accepted = Accepted(Echo)
        server = await loop.create_server(accepted, "127.0.0.1", 0, start_serving=False)
        async with server:
            assert not server.is_serving()
            await server.start_serving()
            assert server.is_serving()
            await server.start_serving()  # a second call does nothing
            address = server.sockets[0].getsockname()
            assert await _echo_once(loop, address, b"late") == b"late"
        await accepted.all_lost()

    loop.run_until_complete(main())


def test_a_server_not_yet_serving_does_not_listen(loop: asyncio.AbstractEventLoop) -> None:
    # asyncio calls listen() when serving starts, not when the socket is bound.
    async def main() -> None:
        server = await loop.create_server(Echo, "127.0.0.1", 0, start_serving=False)
        async with server:
            address = server.sockets[0].getsockname()
            with pytest.raises(ConnectionRefusedError):
                (await _client(loop, address)).close()

    loop.run_until_complete(main())


@pytest.mark.parametrize("listening", [False, True])
def test_server_on_a_given_sock(loop: asyncio.AbstractEventLoop, listening: bool) -> None:
    async def main() -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        if listening:
            sock.listen()
        accepted = Accepted(Echo)
        server = await loop.create_server(accepted, sock=sock)
        assert server.is_serving()
        assert sock.gettimeout() == 0  # made non-blocking
        [listening_sock] = server.sockets
        assert listening_sock.getsockname() == sock.getsockname()
        assert await _echo_once(loop, sock.getsockname(), b"given") == b"given"
        server.close()
        await server.wait_closed()
        assert sock.fileno() == -1  # the server closed the socket it was given
        await accepted.all_lost()

    loop.run_until_complete(main())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"host": "127.0.0.1", "port": 0, "sock": "tcp"}, ValueError,
         "host/port and sock can not be specified at the same time"),
        ({}, ValueError, "Neither host/port nor sock were specified"),
        ({"sock": "udp"}, ValueError, "A Stream Socket was expected, got"),
        ({"host": "127.0.0.1", "port": 0, "ssl": True}, TypeError,
         "ssl argument must be an SSLContext or None"),
        ({"host": "127.0.0.1", "port": 0, "ssl_handshake_timeout": 1.0}, ValueError,
         "ssl_handshake_timeout is only meaningful with ssl"),
    ],
    ids=["host-and-sock", "nothing", "datagram-sock", "ssl-true", "handshake-timeout"],
)  # fmt: skip
def test_create_server_argument_errors(
    loop: asyncio.AbstractEventLoop, kwargs: dict[str, Any], error: type, message: str
) -> None:
    kinds = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}
    sock = socket.socket(type=kinds[kwargs["sock"]]) if "sock" in kwargs else None
    if sock is not None:
        kwargs = {**kwargs, "sock": sock}
    try:
        with pytest.raises(error, match=re.escape(message)):
            loop.run_until_complete(loop.create_server(Echo, **kwargs))
    finally:
        if sock is not None:
            sock.close()


def test_serve_forever_runs_until_cancelled(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        accepted = Accepted(Echo)
        server = await loop.create_server(accepted, "127.0.0.1", 0, start_serving=False)
        address = server.sockets[0].getsockname()
        serving = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        assert server.is_serving()
        assert await _echo_once(loop, address, b"forever") == b"forever"
        with pytest.raises(RuntimeError, match="is already being awaited on serve_forever"):
            await server.serve_forever()
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        # Cancelling serve_forever closed the server.
        assert not server.is_serving()
        assert server.sockets == ()
        with pytest.raises(RuntimeError, match="is closed"):
            await server.serve_forever()
        with pytest.raises(ConnectionRefusedError):
            (await _client(loop, address)).close()
        await accepted.all_lost()

    loop.run_until_complete(main())


def test_close_ends_serve_forever(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        serving = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        server.close()
        with pytest.raises(asyncio.CancelledError):
            await serving
        assert serving.cancelled()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_async_with_closes_the_server(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        accepted = Accepted(Echo)
        server = await loop.create_server(accepted, "127.0.0.1", 0)
        async with server as entered:
            assert entered is server
            address = server.sockets[0].getsockname()
            assert await _echo_once(loop, address, b"inside") == b"inside"
        assert not server.is_serving()
        assert server.sockets == ()
        server.close()  # closing again does nothing
        await server.wait_closed()
        with pytest.raises(ConnectionRefusedError):
            (await _client(loop, address)).close()
        await accepted.all_lost()

    loop.run_until_complete(main())


def test_each_connection_gets_its_own_protocol(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        accepted = Accepted(Echo)
        async with await loop.create_server(accepted, "127.0.0.1", 0) as server:
            address = server.sockets[0].getsockname()
            replies = await asyncio.gather(
                *(_echo_once(loop, address, f"client {i}".encode()) for i in range(10))
            )
            assert replies == [f"client {i}".encode() for i in range(10)]
            protocols = [await accepted.next() for _ in range(10)]
            assert len(accepted.protocols) == 10
            assert len({id(p) for p in protocols}) == 10
            for protocol in protocols:
                await protocol.lost  # each client closed its end
                assert protocol.calls() == ["made", "data", "eof", "lost"]

    loop.run_until_complete(main())


def test_close_with_a_live_connection(loop: asyncio.AbstractEventLoop) -> None:
    """close() stops accepting and leaves live connections alone. A
    wait_closed() begun before close() waits for them on every version; one
    begun after close() returns at once up to 3.12.0 and waits from 3.12.1."""

    async def main() -> None:
        accepted = Accepted(Echo)
        server = await loop.create_server(accepted, "127.0.0.1", 0)
        address = server.sockets[0].getsockname()
        with await _client(loop, address) as client:
            protocol = await accepted.next()
            waiting_before = asyncio.ensure_future(server.wait_closed())
            await asyncio.sleep(0)
            server.close()
            waiting_after = asyncio.ensure_future(server.wait_closed())
            # The live connection still works after close().
            await loop.sock_sendall(client, b"still here")
            assert await recv_exactly(loop, client, 10) == b"still here"
            assert not protocol.transport.is_closing()
            assert not waiting_before.done()
            assert waiting_after.done() == (sys.version_info < (3, 12, 1))
            with pytest.raises(ConnectionRefusedError):
                (await _client(loop, address)).close()
        # The client closed its end; the server's transport follows.
        assert await protocol.lost is None
        await waiting_before
        await waiting_after
        assert protocol.calls() == ["made", "data", "eof", "lost"]

    loop.run_until_complete(main())


def test_server_side_transport_sees_the_client_close(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        accepted = Accepted()
        async with await loop.create_server(accepted, "127.0.0.1", 0) as server:
            with await _client(loop, server.sockets[0].getsockname()) as client:
                protocol = await accepted.next()
                protocol.transport.write(b"bye")
                protocol.transport.close()
                assert await recv_to_eof(loop, client) == b"bye"
            assert await protocol.lost is None

    loop.run_until_complete(main())
