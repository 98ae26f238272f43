"""Unix stream sockets: create_unix_server (a path, a path-like, the abstract
namespace, a given sock, a stale socket file, something else in the way) and
create_unix_connection (path, sock, errors), with data both ways, half-close
and the names the transports report."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
import stat
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from recording import Recorder, finish, recv_exactly, recv_to_eof


class Accepted:
    """A protocol factory that resolves `first` with its first protocol."""

    def __init__(self) -> None:
        self.protocols: list[Recorder] = []
        self.first: asyncio.Future[Recorder] = asyncio.get_running_loop().create_future()

    def __call__(self) -> Recorder:
        protocol = Recorder(keep_open_on_eof=True)
        self.protocols.append(protocol)
        if not self.first.done():
            self.first.set_result(protocol)
        return protocol

    async def all_lost(self) -> None:
        for protocol in self.protocols:
            await protocol.lost


async def _exchange(
    loop: asyncio.AbstractEventLoop, path: Any, accepted: Accepted
) -> tuple[Any, Any, Any]:
    """Connects to `path`, sends a line each way, and half-closes both ways;
    returns the client's peername and the server side's sockname/peername."""
    transport, client = await loop.create_unix_connection(Recorder, path)
    assert client.events == ["made"]
    server_side = await accepted.first
    await server_side.made
    transport.write(b"from the client")
    assert await server_side.received(15) == b"from the client"
    server_side.transport.write(b"from the server")
    assert await client.received(15) == b"from the server"
    assert transport.can_write_eof()
    transport.write_eof()
    await server_side.until(lambda: "eof" in server_side.events)
    server_side.transport.write(b"after eof")
    assert await client.received(24) == b"from the serverafter eof"
    server_side.transport.close()
    assert await client.lost is None
    assert await server_side.lost is None
    names = (
        transport.get_extra_info("peername"),
        server_side.transport.get_extra_info("sockname"),
        server_side.transport.get_extra_info("peername"),
    )
    assert client.calls() == ["made", "data", "eof", "lost"]
    return names


def test_server_and_connection_on_a_path(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    path = str(tmp_path / "server.sock")

    async def main() -> tuple[Any, ...]:
        accepted = Accepted()
        server = await loop.create_unix_server(accepted, path)
        async with server:
            assert server.is_serving()
            assert isinstance(server, asyncio.AbstractServer)
            [listening] = server.sockets
            assert listening.family == socket.AF_UNIX
            assert listening.getsockname() == path
            assert stat.S_ISSOCK(os.stat(path).st_mode)
            names = await _exchange(loop, path, accepted)
        await accepted.all_lost()
        return names

    # The client knows the path it dialled; the accepting end has no name.
    assert loop.run_until_complete(main()) == (path, path, "")


def test_path_like_paths(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    path = tmp_path / "pathlike.sock"

    async def main() -> tuple[Any, ...]:
        accepted = Accepted()
        async with await loop.create_unix_server(accepted, path) as server:
            assert server.sockets[0].getsockname() == str(path)
            names = await _exchange(loop, path, accepted)
        await accepted.all_lost()
        return names

    assert loop.run_until_complete(main()) == (str(path), str(path), "")


@pytest.mark.skipif(sys.platform != "linux", reason="the abstract namespace is Linux's")
def test_abstract_namespace(loop: asyncio.AbstractEventLoop) -> None:
    name = f"\0pyloop-test-{uuid.uuid4().hex}"

    async def main() -> tuple[Any, ...]:
        accepted = Accepted()
        async with await loop.create_unix_server(accepted, name) as server:
            bound = server.sockets[0].getsockname()
            names = await _exchange(loop, name, accepted)
        await accepted.all_lost()
        return (bound, *names)

    # Python reports abstract names as bytes.
    encoded = name.encode()
    assert loop.run_until_complete(main()) == (encoded, encoded, encoded, "")


def test_a_stale_socket_file_is_replaced(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    with socket.socket(socket.AF_UNIX) as old:
        old.bind(path)  # closing leaves the file behind
    assert stat.S_ISSOCK(os.stat(path).st_mode)

    async def main() -> None:
        accepted = Accepted()
        async with await loop.create_unix_server(accepted, path):
            await _exchange(loop, path, accepted)
        await accepted.all_lost()

    loop.run_until_complete(main())


def test_a_regular_file_in_the_way_is_left_alone(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    path = tmp_path / "not-a-socket"
    path.write_text("keep me")
    with pytest.raises(OSError) as caught:
        loop.run_until_complete(loop.create_unix_server(Recorder, str(path)))
    assert caught.value.errno == errno.EADDRINUSE
    assert (
        str(caught.value) == f"[Errno {errno.EADDRINUSE}] Address {str(path)!r} is already in use"
    )
    assert path.read_text() == "keep me"


def test_the_socket_file_after_close(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    path = tmp_path / "closed.sock"

    async def main() -> None:
        server = await loop.create_unix_server(Recorder, str(path))
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())
    # 3.13 removes the file on close (cleanup_socket=True); earlier versions keep it.
    assert path.exists() == (sys.version_info < (3, 13))


def test_connecting_to_nothing(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        loop.run_until_complete(loop.create_unix_connection(Recorder, str(tmp_path / "none")))
    stale = str(tmp_path / "stale.sock")
    with socket.socket(socket.AF_UNIX) as old:
        old.bind(stale)
    with pytest.raises(ConnectionRefusedError):
        loop.run_until_complete(loop.create_unix_connection(Recorder, stale))


def test_server_and_connection_over_given_socks(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    path = str(tmp_path / "given.sock")

    async def main() -> None:
        listening = socket.socket(socket.AF_UNIX)
        listening.bind(path)
        accepted = Accepted()
        async with await loop.create_unix_server(accepted, sock=listening) as server:
            assert server.sockets[0].getsockname() == path
            client_sock = socket.socket(socket.AF_UNIX)
            client_sock.connect(path)
            transport, _ = await loop.create_unix_connection(Recorder, sock=client_sock)
            server_side = await accepted.first
            await server_side.made
            transport.write(b"over a given sock")
            assert await server_side.received(17) == b"over a given sock"
            assert transport.get_extra_info("peername") == path
            await finish(transport)
            assert client_sock.fileno() == -1  # the transport closed it
            server_side.transport.close()
        assert listening.fileno() == -1  # so did the server
        await accepted.all_lost()

    loop.run_until_complete(main())


def test_unix_transport_moves_a_large_payload(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    payload = os.urandom(1 << 20) * 4  # 4 MiB: many socket buffers' worth
    path = str(tmp_path / "bulk.sock")

    async def main() -> bool:
        accepted = Accepted()
        async with await loop.create_unix_server(accepted, path):
            with socket.socket(socket.AF_UNIX) as peer:
                peer.setblocking(False)
                await loop.sock_connect(peer, path)
                server_side = await accepted.first
                await server_side.made
                server_side.transport.write(payload)
                server_side.transport.close()
                received = await recv_to_eof(loop, peer)
            assert await server_side.lost is None
        await accepted.all_lost()
        return received == payload

    assert loop.run_until_complete(main())


def _socket_of(kind: str) -> socket.socket:
    if kind == "tcp":
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    return socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)


@pytest.mark.parametrize(
    ("call", "kwargs", "message"),
    [
        ("create_unix_connection", {"path": "p", "sock": "tcp"},
         "path and sock can not be specified at the same time"),
        ("create_unix_connection", {}, "no path and sock were specified"),
        ("create_unix_connection", {"sock": "tcp"},
         "A UNIX Domain Stream Socket was expected, got"),
        ("create_unix_connection", {"sock": "unix-dgram"},
         "A UNIX Domain Stream Socket was expected, got"),
        ("create_unix_connection", {"path": "p", "server_hostname": "x"},
         "server_hostname is only meaningful with ssl"),
        ("create_unix_server", {"path": "p", "sock": "tcp"},
         "path and sock can not be specified at the same time"),
        ("create_unix_server", {}, "path was not specified, and no sock specified"),
        ("create_unix_server", {"sock": "tcp"},
         "A UNIX Domain Stream Socket was expected, got"),
        ("create_unix_server", {"path": "p", "ssl_handshake_timeout": 1.0},
         "ssl_handshake_timeout is only meaningful with ssl"),
    ],
)  # fmt: skip
def test_argument_errors(
    loop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    call: str,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    sock = _socket_of(kwargs["sock"]) if "sock" in kwargs else None
    if sock is not None:
        kwargs = {**kwargs, "sock": sock}
    if "path" in kwargs:
        kwargs = {**kwargs, "path": str(tmp_path / kwargs["path"])}
    try:
        with pytest.raises(ValueError, match=re.escape(message)):
            loop.run_until_complete(getattr(loop, call)(Recorder, **kwargs))
    finally:
        if sock is not None:
            sock.close()


def test_writelines_over_unix(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    path = str(tmp_path / "write.sock")

    async def main() -> bytes:
        accepted = Accepted()
        async with await loop.create_unix_server(accepted, path):
            with socket.socket(socket.AF_UNIX) as peer:
                peer.setblocking(False)
                await loop.sock_connect(peer, path)
                server_side = await accepted.first
                await server_side.made
                server_side.transport.writelines([b"one ", b"two ", b"three"])
                got = await recv_exactly(loop, peer, 13)
                server_side.transport.close()
        await accepted.all_lost()
        return got

    assert loop.run_until_complete(main()) == b"one two three"
