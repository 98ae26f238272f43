"""The sock_* coroutines: data moved whole, errors as asyncio raises them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import socket
import ssl
from collections.abc import Iterator

import pytest
from conftest import nonblocking_pair


@contextlib.contextmanager
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A listening socket and a non-blocking client, closed afterwards."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    client = socket.socket()
    client.setblocking(False)
    try:
        yield server, client
    finally:
        server.close()
        client.close()


async def _connected(loop: asyncio.AbstractEventLoop, server, client):  # type: ignore[no-untyped-def]
    accepted = loop.create_task(loop.sock_accept(server))
    await loop.sock_connect(client, server.getsockname())
    conn, address = await accepted
    assert address == client.getsockname()
    assert conn.gettimeout() == 0  # accepted sockets are non-blocking
    return conn


def test_accept_connect_sendall_recv_moves_every_byte(loop: asyncio.AbstractEventLoop) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB: sendall must wait for the reader

    async def main() -> bytes:
        with tcp_pair() as (server, client):
            conn = await _connected(loop, server, client)
            with conn:
                sending = loop.create_task(loop.sock_sendall(client, data))
                got = bytearray()
                while len(got) < len(data):
                    got += await loop.sock_recv(conn, 65536)
                await sending
                return bytes(got)

    assert loop.run_until_complete(main()) == data


def test_many_concurrent_echo_pairs(loop: asyncio.AbstractEventLoop) -> None:
    async def echo_pair(i: int) -> bool:
        payload = bytes([i % 256]) * 65536
        with nonblocking_pair() as (a, b):

            async def echo() -> None:
                left = len(payload)
                while left:
                    chunk = await loop.sock_recv(b, 16384)
                    left -= len(chunk)
                    await loop.sock_sendall(b, chunk)

            echoing = loop.create_task(echo())
            await loop.sock_sendall(a, payload)
            got = bytearray()
            while len(got) < len(payload):
                got += await loop.sock_recv(a, 16384)
            await echoing
            return bytes(got) == payload

    async def main() -> list[bool]:
        return await asyncio.gather(*(echo_pair(i) for i in range(50)))

    assert loop.run_until_complete(main()) == [True] * 50


def test_recv_into_and_eof(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[int, bytes, bytes]:
        with nonblocking_pair() as (a, b):
            buf = bytearray(16)
            loop.call_soon(a.send, b"hello")
            n = await loop.sock_recv_into(b, buf)
            a.close()
            eof = await loop.sock_recv(b, 10)
            return n, bytes(buf[:n]), eof

    assert loop.run_until_complete(main()) == (5, b"hello", b"")


def test_udp_sendto_recvfrom(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[int, bytes, int, bytes]:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with rx, tx:
            rx.bind(("127.0.0.1", 0))
            rx.setblocking(False)
            tx.setblocking(False)
            sent = await loop.sock_sendto(tx, b"ping", rx.getsockname())
            data, sender = await loop.sock_recvfrom(rx, 100)
            assert sender[1] == tx.getsockname()[1]
            await loop.sock_sendto(tx, b"pong", rx.getsockname())
            buf = bytearray(10)
            n, _ = await loop.sock_recvfrom_into(rx, buf)
            return sent, data, n, bytes(buf[:n])

    assert loop.run_until_complete(main()) == (4, b"ping", 4, b"pong")


def test_connection_refused(loop: asyncio.AbstractEventLoop) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens on `port` now

    async def main() -> None:
        with socket.socket() as client:
            client.setblocking(False)
            await loop.sock_connect(client, ("127.0.0.1", port))

    with pytest.raises(ConnectionRefusedError):
        loop.run_until_complete(main())


def test_connect_resolves_host_names(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> str:
        with tcp_pair() as (server, client):
            accepted = loop.create_task(loop.sock_accept(server))
            await loop.sock_connect(client, ("localhost", server.getsockname()[1]))
            conn, _ = await accepted
            conn.close()
            return client.getpeername()[0]

    assert loop.run_until_complete(main()) == "127.0.0.1"


def test_cancelled_recv_loses_no_data(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> bytes:
        with nonblocking_pair() as (a, b):
            waiting = loop.create_task(loop.sock_recv(b, 100))
            await asyncio.sleep(0)
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            assert not loop.remove_reader(b)  # the cancelled wait left no interest
            a.send(b"kept")
            return await loop.sock_recv(b, 100)

    assert loop.run_until_complete(main()) == b"kept"


def test_blocking_socket_refused_in_debug_mode(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)

    async def main() -> None:
        a, b = socket.socketpair()  # blocking by default
        with a, b:
            await loop.sock_recv(b, 1)

    with pytest.raises(ValueError, match="the socket must be non-blocking"):
        loop.run_until_complete(main())


def test_ssl_socket_refused(loop: asyncio.AbstractEventLoop) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with socket.socket() as raw:
        wrapped = context.wrap_socket(raw, server_hostname="x", do_handshake_on_connect=False)
        coro = loop.sock_recv(wrapped, 1)
        with pytest.raises(TypeError, match="Socket cannot be of type SSLSocket"):
            loop.run_until_complete(coro)
        wrapped.close()


def test_recv_eof_bad_sizes_and_closed_sockets(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[object]:
        seen: list[object] = []
        with nonblocking_pair() as (a, b):
            waiting = loop.create_task(loop.sock_recv(b, 100))
            await asyncio.sleep(0)
            a.close()  # EOF while the recv waits
            seen.append(await waiting)
            seen.append(await loop.sock_recv(b, 0))
            with pytest.raises(ValueError):
                await loop.sock_recv(b, -1)
        with pytest.raises(OSError):
            await loop.sock_recv(b, 10)  # closed socket: fileno() is -1
        with pytest.raises(OSError):
            await loop.sock_sendall(b, b"x")
        return seen

    assert loop.run_until_complete(main()) == [b"", b""]


def test_sendall_to_a_slow_reader_and_cancelled_sendall(loop: asyncio.AbstractEventLoop) -> None:
    payload = bytes(range(256)) * 40_000  # ~10 MiB: far more than the socket buffers

    async def main() -> bool:
        with nonblocking_pair() as (a, b):
            sending = loop.create_task(loop.sock_sendall(a, payload))
            received = bytearray()
            while len(received) < len(payload):
                received += await loop.sock_recv(b, 65536)
                await asyncio.sleep(0)  # let the writer run between reads
            await sending
            intact = bytes(received) == payload

            stuck = loop.create_task(loop.sock_sendall(a, payload))
            await asyncio.sleep(0)  # its first step fills the socket buffer and waits
            stuck.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stuck
            await asyncio.sleep(0)
            # The cancelled call left no writer registered on the socket.
            return intact and loop.remove_writer(a) is False

    assert loop.run_until_complete(main())


@pytest.fixture
def data_file(tmp_path):  # type: ignore[no-untyped-def]
    payload = bytes(range(256)) * 20_000  # ~5 MiB
    path = tmp_path / "payload.bin"
    path.write_bytes(payload)
    return path, payload


async def _receive_all(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    received = bytearray()
    while chunk := await loop.sock_recv(sock, 1 << 20):
        received += chunk
    return bytes(received)


def test_sock_sendfile_zero_copy_with_offset_and_count(
    loop: asyncio.AbstractEventLoop,
    data_file,  # type: ignore[no-untyped-def]
) -> None:
    path, payload = data_file

    async def main() -> tuple[int, bytes, int, int]:
        with nonblocking_pair() as (a, b), open(path, "rb") as file:
            reading = loop.create_task(_receive_all(loop, b))
            whole = await loop.sock_sendfile(a, file, fallback=False)
            position = file.tell()
            assert await loop.sock_sendfile(a, file, 1000, 5000, fallback=False) == 5000
            a.shutdown(socket.SHUT_WR)
            return whole, await reading, position, file.tell()

    whole, received, position, after_part = loop.run_until_complete(main())
    assert whole == len(payload) == position
    assert received == payload + payload[1000:6000]
    assert after_part == 6000


def test_sock_sendfile_fallback_and_errors(
    loop: asyncio.AbstractEventLoop,
    data_file,  # type: ignore[no-untyped-def]
) -> None:
    path, payload = data_file

    async def main() -> tuple[int, bytes, int]:
        with nonblocking_pair() as (a, b):
            memory = io.BytesIO(payload)
            with pytest.raises(asyncio.SendfileNotAvailableError):
                await loop.sock_sendfile(a, memory, fallback=False)
            with pytest.raises(ValueError):
                await loop.sock_sendfile(a, memory, count=0)
            with pytest.raises(ValueError):
                await loop.sock_sendfile(a, memory, offset=-1)
            with pytest.raises(TypeError):
                await loop.sock_sendfile(a, memory, offset="1")  # type: ignore[arg-type]
            with open(path) as text, pytest.raises(ValueError):
                await loop.sock_sendfile(a, text)  # text mode
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.setblocking(False)
                with pytest.raises(ValueError):
                    await loop.sock_sendfile(udp, memory)
            reading = loop.create_task(_receive_all(loop, b))
            sent = await loop.sock_sendfile(a, memory, 10)
            a.shutdown(socket.SHUT_WR)
            return sent, await reading, memory.tell()

    sent, received, position = loop.run_until_complete(main())
    assert sent == len(payload) - 10
    assert received == payload[10:]
    assert position == len(payload)


def test_a_refused_sock_connect_leaves_no_future_holding_its_error(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # The error's traceback holds the awaiting frame; a future kept there
    # holding the error would be a cycle only the GC frees (CPython gh-124859;
    # anyio checks for it).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def main() -> list[object]:
        with socket.socket() as sock:
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, ("127.0.0.1", port))
            except OSError as exc:
                error = exc
            else:
                raise AssertionError("the connection was not refused")
        # A step later: the wake-up that delivered the error has let go of it.
        await asyncio.sleep(0)
        return [ref for ref in gc.get_referrers(error) if asyncio.isfuture(ref)]

    assert loop.run_until_complete(main()) == []
