"""Transports when things go wrong: a peer that resets the connection, half
closes, a writer faster than its reader, accept() out of file descriptors,
closing and pausing from inside the protocol's own callbacks. Every byte is
checked, and every test checks that no file descriptor outlives it."""

from __future__ import annotations

import asyncio
import errno
import gc
import hashlib
import os
import resource
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from recording import (
    BufferedRecorder,
    Recorder,
    collect_exceptions,
    connected,
    open_fds,
    recv_exactly,
    recv_to_eof,
)

CHUNK = 64 * 1024


@pytest.fixture(autouse=True)
def no_fd_leak(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Counts open fds once the loop exists and again when the test is done,
    before the loop closes: what the test opened, it closed."""
    gc.collect()
    before = open_fds()
    yield
    gc.collect()
    assert open_fds() == before


def _reset(sock: socket.socket) -> None:
    """Closes `sock` so that the kernel sends a reset, not a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _numbered(index: int) -> bytes:
    """CHUNK bytes that say which chunk they are, so loss, duplication and
    reordering all change the digest."""
    return struct.pack(">Q", index) * (CHUNK // 8)


def test_peer_reset_mid_write(loop: asyncio.AbstractEventLoop) -> None:
    contexts = collect_exceptions(loop)

    async def main() -> None:
        async with connected(loop) as (transport, protocol, peer):
            transport.set_write_buffer_limits(high=1 << 30)
            while transport.get_write_buffer_size() < 4 * CHUNK:
                transport.write(_numbered(0))  # the peer never reads
            _reset(peer)
            lost = await protocol.lost
            assert type(lost) is ConnectionResetError
            assert protocol.calls() == ["made", "lost"]
            assert transport.is_closing()
            assert transport.get_write_buffer_size() == 0
            transport.write(b"into the void")  # ignored once the connection is lost

    loop.run_until_complete(main())
    assert contexts == []  # an OSError on the socket is not reported to the handler


def test_peer_reset_while_reading(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with connected(loop) as (_, protocol, peer):
            await loop.sock_sendall(peer, b"before the reset")
            await protocol.received(16)
            await loop.sock_sendall(peer, b"unread")
            # Unread data on the peer's side makes its close a reset too.
            _reset(peer)
            lost = await protocol.lost
            assert type(lost) is ConnectionResetError
            # As the socket module raises it: OSError(errno, strerror).
            assert (lost.errno, lost.strerror) == (errno.ECONNRESET, os.strerror(errno.ECONNRESET))
            assert protocol.calls() == ["made", "data", "lost"]

    loop.run_until_complete(main())


def test_half_close_each_way(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with connected(loop) as (transport, protocol, peer):
            transport.write(b"request")
            transport.write_eof()
            assert await recv_to_eof(loop, peer) == b"request"
            # Our write side is shut; the peer's still works.
            reply = os.urandom(3 * CHUNK)
            await loop.sock_sendall(peer, reply)
            peer.shutdown(socket.SHUT_WR)
            assert await protocol.lost is None  # eof_received returned None: closed
            assert bytes(protocol.data) == reply
            assert protocol.calls() == ["made", "data", "eof", "lost"]

    loop.run_until_complete(main())


def test_writer_faster_than_reader_is_held_back(loop: asyncio.AbstractEventLoop) -> None:
    chunks = 256  # 16 MiB
    high = 256 * 1024

    async def main() -> tuple[bytes, int, int]:
        async with connected(loop) as (transport, protocol, peer):
            transport.set_write_buffer_limits(high=high)
            largest = 0

            async def write_all() -> None:
                nonlocal largest
                for i in range(chunks):
                    if protocol.writing_paused:
                        await protocol.resumed()
                    transport.write(_numbered(i))
                    largest = max(largest, transport.get_write_buffer_size())

            writing = asyncio.ensure_future(write_all())
            digest = hashlib.sha256()
            received = 0
            while received < chunks * CHUNK:
                data = await loop.sock_recv(peer, 16384)  # small reads: a slow reader
                assert data
                digest.update(data)
                received += len(data)
                await asyncio.sleep(0)
            await writing
            return digest.digest(), largest, protocol.events.count("pause_writing")

    digest, largest, pauses = loop.run_until_complete(main())
    expected = hashlib.sha256(b"".join(_numbered(i) for i in range(chunks))).digest()
    assert digest == expected
    assert pauses >= 1
    assert largest <= high + CHUNK


class _Exhausted:
    """Lowers RLIMIT_NOFILE and fills every free fd below it, so the next
    accept() fails with EMFILE; release() undoes both."""

    def __init__(self) -> None:
        self.limits = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.fillers = [os.open(os.devnull, os.O_RDONLY)]
        highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 8, self.limits[1]))
        try:
            while True:
                self.fillers.append(os.dup(self.fillers[0]))
        except OSError as exc:
            assert exc.errno == errno.EMFILE

    def release(self) -> None:
        for fd in self.fillers:
            os.close(fd)
        self.fillers.clear()
        resource.setrlimit(resource.RLIMIT_NOFILE, self.limits)


BACKLOG = 5


def test_accept_out_of_file_descriptors_backs_off(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, Any]] = []
    reported = loop.create_future()

    def handler(lp: Any, context: dict[str, Any]) -> None:
        contexts.append(context)
        if not reported.done():
            reported.set_result(None)

    loop.set_exception_handler(handler)

    async def main() -> bytes:
        made: asyncio.Future[Recorder] = loop.create_future()

        def factory() -> Recorder:
            protocol = Recorder()
            made.set_result(protocol)
            return protocol

        server = await loop.create_server(factory, "127.0.0.1", 0, backlog=BACKLOG)
        async with server:
            with socket.socket() as client:
                client.setblocking(False)
                exhausted = _Exhausted()
                try:
                    await loop.sock_connect(client, server.sockets[0].getsockname())
                    await reported
                    # A server that retried at once would report again at every
                    # look at its readable socket while the descriptors stay
                    # exhausted (pyloop looks at fds every 100 us of busy loop).
                    for _ in range(2000):
                        await asyncio.sleep(0)
                finally:
                    exhausted.release()
                protocol = await made  # accepted once descriptors were free again
                await loop.sock_sendall(client, b"finally")
                data = await protocol.received(7)
                protocol.transport.close()
                await protocol.lost
        return data

    assert loop.run_until_complete(main()) == b"finally"
    # asyncio's accept loop reports each of its `backlog` tries in a burst, then
    # waits a second; a server spinning on the readable socket reports thousands.
    assert 1 <= len(contexts) <= BACKLOG, [c["message"] for c in contexts]
    for context in contexts:
        assert context["message"] == "socket.accept() out of system resource"
        assert context["exception"].errno == errno.EMFILE


class _ClosesInCallback:
    """Closes its transport on its first data and has the peer send more
    right then; none of it may be delivered."""

    peer: socket.socket

    def _first_data(self) -> None:
        self.transport.close()  # type: ignore[attr-defined]
        self.peer.send(b"after close")


class _ClosingRecorder(_ClosesInCallback, Recorder):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.events.count("data") == 1:
            self._first_data()


class _ClosingBufferedRecorder(_ClosesInCallback, BufferedRecorder):
    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        if self.events.count("data") == 1:
            self._first_data()


@pytest.mark.parametrize("cls", [_ClosingRecorder, _ClosingBufferedRecorder])
def test_close_from_inside_the_data_callback(loop: asyncio.AbstractEventLoop, cls: Any) -> None:
    async def main() -> tuple[list[str], bytes, object]:
        async with connected(loop, cls) as (_, protocol, peer):
            protocol.peer = peer
            await loop.sock_sendall(peer, b"first")
            lost = await protocol.lost
            for _ in range(3):  # iterations in which a late delivery would show
                await asyncio.sleep(0)
            return protocol.events, bytes(protocol.data), lost

    assert loop.run_until_complete(main()) == (["made", "data", "lost"], b"first", None)


class _PausesOnEveryDelivery(Recorder):
    """Pauses reading on each delivery and resumes on the next iteration."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.transport.pause_reading()
        asyncio.get_running_loop().call_soon(self.transport.resume_reading)


def test_pausing_inside_data_received_loses_nothing(loop: asyncio.AbstractEventLoop) -> None:
    payload = b"".join(_numbered(i) for i in range(64))  # 4 MiB

    async def main() -> bool:
        async with connected(loop, _PausesOnEveryDelivery) as (_, protocol, peer):
            await loop.sock_sendall(peer, payload)
            peer.shutdown(socket.SHUT_WR)
            assert await protocol.lost is None
            return bytes(protocol.data) == payload

    assert loop.run_until_complete(main())


def test_abort_from_inside_data_received_with_writes_pending(
    loop: asyncio.AbstractEventLoop,
) -> None:
    class AbortsAfterWriting(Recorder):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.transport.set_write_buffer_limits(high=1 << 30)
            while self.transport.get_write_buffer_size() == 0:
                self.transport.write(_numbered(1))
            self.transport.abort()

    async def main() -> tuple[list[str], object, int]:
        async with connected(loop, AbortsAfterWriting) as (transport, protocol, peer):
            await loop.sock_sendall(peer, b"go")
            lost = await protocol.lost
            return protocol.events, lost, transport.get_write_buffer_size()

    assert loop.run_until_complete(main()) == (["made", "data", "lost"], None, 0)


def test_refused_connection_and_missing_path_leak_nothing(
    loop: asyncio.AbstractEventLoop, tmp_path: Any
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()  # nothing listens there
    for _ in range(20):
        with pytest.raises(ConnectionRefusedError):
            loop.run_until_complete(loop.create_connection(Recorder, *address))
        with pytest.raises(FileNotFoundError):
            loop.run_until_complete(loop.create_unix_connection(Recorder, str(tmp_path / "x")))


def test_echo_through_a_server_keeps_every_byte(loop: asyncio.AbstractEventLoop) -> None:
    """Twenty clients at once, each sending numbered chunks through an echo
    server in odd-sized writes; each gets exactly its own bytes back."""

    class Echo(Recorder):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.transport.write(data)

    async def client(address: Any, index: int) -> bool:
        payload = b"".join(_numbered(index * 100 + i) for i in range(8))
        with socket.socket() as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
            for start in range(0, len(payload), 10007):
                await loop.sock_sendall(sock, payload[start : start + 10007])
            echoed = await recv_exactly(loop, sock, len(payload))
        return echoed == payload

    async def main() -> list[bool]:
        accepted: list[Echo] = []

        def factory() -> Echo:
            accepted.append(Echo())
            return accepted[-1]

        async with await loop.create_server(factory, "127.0.0.1", 0) as server:
            address = server.sockets[0].getsockname()
            results = await asyncio.gather(*(client(address, i) for i in range(20)))
            for protocol in accepted:
                await protocol.lost
        return results

    assert loop.run_until_complete(main()) == [True] * 20
