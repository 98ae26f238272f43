"""asyncio's streams, unchanged, on the loop's transports: open_connection /
start_server and their Unix twins, readline, readexactly, readuntil, read to
EOF, drain against a slow reader, write_eof, close/wait_closed."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Handlers:
    """Wraps a client_connected_cb; `finished()` waits for every run of it
    (and raises what a run raised)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.runs: list[asyncio.Future[None]] = []

    def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Any:
        done = asyncio.get_running_loop().create_future()
        self.runs.append(done)
        return self._run(reader, writer, done)

    async def _run(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, done: Any
    ) -> None:
        try:
            await self.handler(reader, writer)
        except BaseException as exc:
            done.set_exception(exc)
            raise
        else:
            done.set_result(None)

    async def finished(self) -> None:
        await asyncio.gather(*self.runs)


async def upper_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each line upper-cased until EOF, then closes."""
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def _talk_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[bytes]:
    writer.write(b"first line\n")
    writer.writelines([b"second ", b"line\n", b"third line\n"])
    await writer.drain()
    replies = [await reader.readline() for _ in range(3)]
    assert writer.can_write_eof()
    writer.write_eof()
    replies.append(await reader.read())  # the server closes after our EOF
    assert reader.at_eof()
    writer.close()
    assert writer.is_closing()
    await writer.wait_closed()
    return replies


LINES_BACK = [b"FIRST LINE\n", b"SECOND LINE\n", b"THIRD LINE\n", b""]


def test_line_server_over_tcp(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[bytes]:
        handlers = Handlers(upper_lines)
        async with await asyncio.start_server(handlers, "127.0.0.1", 0) as server:
            address = server.sockets[0].getsockname()
            reader, writer = await asyncio.open_connection(*address)
            assert writer.get_extra_info("peername") == address
            replies = await _talk_lines(reader, writer)
            await handlers.finished()
        return replies

    assert loop.run_until_complete(main()) == LINES_BACK


def test_line_server_over_unix(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    path = str(tmp_path / "lines.sock")

    async def main() -> list[bytes]:
        handlers = Handlers(upper_lines)
        async with await asyncio.start_unix_server(handlers, path):
            reader, writer = await asyncio.open_unix_connection(path)
            assert writer.get_extra_info("peername") == path
            replies = await _talk_lines(reader, writer)
            await handlers.finished()
        return replies

    assert loop.run_until_complete(main()) == LINES_BACK


async def _serve_bytes(data: bytes, *, close: bool = True) -> tuple[asyncio.Server, Handlers]:
    """A server that writes `data` to each client, then closes (or only
    half-closes, writing EOF, and waits for the client's EOF)."""

    async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        if not close:
            writer.write_eof()
            await reader.read()
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    handlers = Handlers(send)
    return await asyncio.start_server(handlers, "127.0.0.1", 0), handlers


def test_readexactly_and_incomplete_read(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[bytes, bytes, int, bool]:
        server, handlers = await _serve_bytes(b"0123456789")
        async with server:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            head = await reader.readexactly(4)
            with pytest.raises(asyncio.IncompleteReadError) as caught:
                await reader.readexactly(10)
            writer.close()
            await writer.wait_closed()
            await handlers.finished()
        return head, caught.value.partial, caught.value.expected, reader.at_eof()

    assert loop.run_until_complete(main()) == (b"0123", b"456789", 10, True)


def test_readuntil_and_the_line_limit(loop: asyncio.AbstractEventLoop) -> None:
    data = b"key: value\r\n\r\nshort\n" + b"x" * 40 + b"\n"

    async def main() -> list[object]:
        server, handlers = await _serve_bytes(data)
        async with server:
            address = server.sockets[0].getsockname()
            reader, writer = await asyncio.open_connection(*address, limit=16)
            seen: list[object] = [await reader.readuntil(b"\r\n\r\n"), await reader.readline()]
            with pytest.raises(ValueError):
                await reader.readline()  # 41 bytes: over the limit
            seen.append(await reader.read())
            writer.close()
            await writer.wait_closed()
            await handlers.finished()
        return seen

    assert loop.run_until_complete(main()) == [b"key: value\r\n\r\n", b"short\n", b""]


def test_read_to_eof_while_the_other_way_stays_open(loop: asyncio.AbstractEventLoop) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB

    async def main() -> tuple[bool, bool]:
        server, handlers = await _serve_bytes(payload, close=False)
        async with server:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            received = await reader.read()
            at_eof = reader.at_eof()
            # The server wrote EOF but still reads: our EOF ends its handler.
            writer.write_eof()
            await handlers.finished()
            writer.close()
            await writer.wait_closed()
        return received == payload, at_eof

    assert loop.run_until_complete(main()) == (True, True)


def test_drain_holds_a_fast_writer_to_a_slow_reader(loop: asyncio.AbstractEventLoop) -> None:
    piece = hashlib.sha256(b"piece").digest() * 2048  # 64 KiB
    pieces = 128  # 8 MiB
    high = 128 * 1024

    async def slow_reader(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        digest = hashlib.sha256()
        while chunk := await reader.read(4096):
            digest.update(chunk)
            await asyncio.sleep(0)
        writer.write(digest.digest())
        writer.close()
        await writer.wait_closed()

    async def main() -> tuple[bytes, int]:
        handlers = Handlers(slow_reader)
        async with await asyncio.start_server(handlers, "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            writer.transport.set_write_buffer_limits(high=high)
            most_after_drain = 0
            for _ in range(pieces):
                writer.write(piece)
                await writer.drain()
                most_after_drain = max(most_after_drain, writer.transport.get_write_buffer_size())
            writer.write_eof()
            digest = await reader.read()
            writer.close()
            await writer.wait_closed()
            await handlers.finished()
        return digest, most_after_drain

    digest, most_after_drain = loop.run_until_complete(main())
    assert digest == hashlib.sha256(piece * pieces).digest()
    # drain() returns only once the buffer is back under the high mark.
    assert most_after_drain <= high


def test_close_and_wait_closed_end_the_peer_read(loop: asyncio.AbstractEventLoop) -> None:
    async def expect_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.read() == b"goodbye"
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        handlers = Handlers(expect_eof)
        async with await asyncio.start_server(handlers, "127.0.0.1", 0) as server:
            _, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            writer.write(b"goodbye")
            writer.close()
            assert writer.is_closing()
            await writer.wait_closed()
            await handlers.finished()

    loop.run_until_complete(main())


def test_serve_forever_with_streams(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[bytes]:
        handlers = Handlers(upper_lines)
        server = await asyncio.start_server(handlers, "127.0.0.1", 0, start_serving=False)
        serving = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)  # serve_forever's first step starts serving
        assert server.is_serving()
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        replies = await _talk_lines(reader, writer)
        await handlers.finished()
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        assert not server.is_serving()
        return replies

    assert loop.run_until_complete(main()) == LINES_BACK


def test_a_reset_reaches_the_reader_as_connection_reset(loop: asyncio.AbstractEventLoop) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(5)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # with SO_LINGER 0, closing sends a reset
        await asyncio.sleep(0)

    async def main() -> type:
        handlers = Handlers(reset)
        async with await asyncio.start_server(handlers, "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            writer.write(b"hello")
            with pytest.raises(ConnectionError) as caught:
                await reader.read()
            writer.close()
            with pytest.raises(ConnectionError):
                await writer.wait_closed()
            await handlers.finished()
        return type(caught.value)

    assert loop.run_until_complete(main()) is ConnectionResetError
