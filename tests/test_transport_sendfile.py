"""``loop.sendfile(transport, ...)`` on asyncio and pyloop: the zero-copy path
of plain TCP transports, the copying path of TLS transports and of files
``os.sendfile`` cannot take, the file position afterwards, the order of the
bytes around it, and asyncio's argument checks and errors."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import pytest
from conftest import diverges_on_pyloop
from tls_certs import localhost_contexts, needs_openssl

BIG = 50 * 1024 * 1024
PREFIX = b"before-sendfile:" * 1000
SUFFIX = b":after-sendfile" * 1000
SMALL = bytes(range(256)) * 1024  # 256 KiB


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """50 MiB of random bytes on disk, and their sha256."""
    path = tmp_path_factory.mktemp("sendfile") / "big.bin"
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(BIG // (1 << 20)):
            chunk = os.urandom(1 << 20)
            digest.update(chunk)
            f.write(chunk)
    return path, digest.hexdigest()


@pytest.fixture
def small_file(tmp_path: Path) -> Iterator[BinaryIO]:
    path = tmp_path / "small.bin"
    path.write_bytes(SMALL)
    with path.open("rb") as f:
        yield f


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    return localhost_contexts(tmp_path_factory.mktemp("tls"))


class Sink:
    """A streams server that hashes `expect` bytes (None: up to EOF), then
    answers with the hex digest (so the client must read again after its
    sendfile)."""

    def __init__(self, expect: int | None) -> None:
        self.expect = expect
        self.received = bytearray()
        self.count = 0
        self.keep = expect is not None and expect <= 4 * len(SMALL)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        digest = hashlib.sha256()
        left = self.expect if self.expect is not None else 1 << 62
        while left:
            chunk = await reader.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            self.count += len(chunk)
            digest.update(chunk)
            if self.keep:
                self.received += chunk
        writer.write(digest.hexdigest().encode() + b"\n")
        await writer.drain()
        writer.close()


async def _connect(
    sink: Sink, server_ctx: ssl.SSLContext | None, client_ctx: ssl.SSLContext | None
) -> tuple[asyncio.AbstractServer, asyncio.StreamReader, asyncio.StreamWriter]:
    server = await asyncio.start_server(sink.handle, "localhost", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("localhost", port, ssl=client_ctx)
    return server, reader, writer


async def _finish(server: asyncio.AbstractServer, writer: asyncio.StreamWriter) -> None:
    writer.close()
    server.close()
    await server.wait_closed()
    for _ in range(10):  # the server side's close finishes a few iterations later
        await asyncio.sleep(0)


def _send_big(
    loop: asyncio.AbstractEventLoop, big_file: tuple[Path, str], tls: Any
) -> tuple[int, int, str, str]:
    path, _ = big_file
    server_ctx, client_ctx = tls if tls else (None, None)

    async def main() -> tuple[int, int, str, str]:
        sink = Sink(len(PREFIX) + BIG + len(SUFFIX))
        server, reader, writer = await _connect(sink, server_ctx, client_ctx)
        with path.open("rb") as f:
            writer.write(PREFIX)
            sent = await loop.sendfile(writer.transport, f)
            position = f.tell()
        writer.write(SUFFIX)
        await writer.drain()  # the stream's flow control survived the swap
        answer = (await reader.readline()).decode().strip()
        await _finish(server, writer)
        expected = hashlib.sha256()
        with path.open("rb") as f:
            expected.update(PREFIX + f.read() + SUFFIX)
        return sent, position, answer, expected.hexdigest()

    return loop.run_until_complete(main())


def test_50_mib_over_plain_tcp_arrive_whole_and_in_order(
    loop: asyncio.AbstractEventLoop, big_file: tuple[Path, str]
) -> None:
    sent, position, answer, expected = _send_big(loop, big_file, None)
    assert (sent, position) == (BIG, BIG)
    assert answer == expected


@needs_openssl
def test_50_mib_over_tls_arrive_whole_and_in_order(
    loop: asyncio.AbstractEventLoop, big_file: tuple[Path, str], contexts: Any
) -> None:
    sent, position, answer, expected = _send_big(loop, big_file, contexts)
    assert (sent, position) == (BIG, BIG)
    assert answer == expected


def _send_small(
    loop: asyncio.AbstractEventLoop,
    file: Any,
    expect: int,
    tls: Any = None,
    **kwargs: Any,
) -> tuple[Any, bytes, int | None]:
    """sendfile(file, **kwargs) to a Sink of `expect` bytes; returns the
    result (or the exception), what arrived, and the file position."""
    server_ctx, client_ctx = tls if tls else (None, None)

    async def main() -> tuple[Any, bytes, int | None]:
        sink = Sink(expect)
        server, reader, writer = await _connect(sink, server_ctx, client_ctx)
        try:
            outcome: Any = await loop.sendfile(writer.transport, file, **kwargs)
        except Exception as exc:
            outcome = exc
        # The transport still works afterwards: fill up what the sink expects.
        writer.write(b"\0" * (expect - len(sink.received)) if expect else b"")
        await reader.readline()
        await _finish(server, writer)
        position = file.tell() if hasattr(file, "tell") else None
        return outcome, bytes(sink.received), position

    return loop.run_until_complete(main())


@pytest.mark.parametrize("tls", [False, pytest.param(True, marks=needs_openssl)])
def test_offset_and_count_send_a_slice_and_leave_the_position_after_it(
    loop: asyncio.AbstractEventLoop, small_file: BinaryIO, contexts: Any, tls: bool
) -> None:
    sent, received, position = _send_small(
        loop, small_file, 5000, contexts if tls else None, offset=1000, count=5000
    )
    assert sent == 5000
    assert received == SMALL[1000:6000]
    assert position == 6000


@pytest.mark.parametrize("tls", [False, pytest.param(True, marks=needs_openssl)])
def test_offset_alone_sends_to_the_end(
    loop: asyncio.AbstractEventLoop, small_file: BinaryIO, contexts: Any, tls: bool
) -> None:
    offset = len(SMALL) - 70000
    sent, received, position = _send_small(
        loop, small_file, 70000, contexts if tls else None, offset=offset
    )
    assert sent == 70000
    assert received == SMALL[offset:]
    assert position == len(SMALL)


def test_a_file_without_fileno_takes_the_copying_path(loop: asyncio.AbstractEventLoop) -> None:
    data = io.BytesIO(SMALL)
    sent, received, position = _send_small(loop, data, len(SMALL))
    assert sent == len(SMALL)
    assert received == SMALL
    assert position == len(SMALL)


def test_fallback_false_with_a_file_os_sendfile_cannot_take(
    loop: asyncio.AbstractEventLoop,
) -> None:
    data = io.BytesIO(SMALL)
    error, received, position = _send_small(loop, data, 0, fallback=False)
    assert type(error) is asyncio.SendfileNotAvailableError
    assert received == b""
    assert position == 0


@needs_openssl
def test_fallback_false_on_tls_is_refused(
    loop: asyncio.AbstractEventLoop, small_file: BinaryIO, contexts: Any
) -> None:
    error, received, position = _send_small(loop, small_file, 0, contexts, fallback=False)
    # asyncio's own TLS transport only offers the copying path, and
    # BaseEventLoop.sendfile refuses it with a RuntimeError (not the
    # SendfileNotAvailableError subclass) when fallback is disabled.
    assert type(error) is RuntimeError
    assert str(error).startswith("fallback is disabled and native sendfile is not supported")
    assert (received, position) == (b"", 0)


@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        ({"offset": -1}, ValueError, "offset must be a non-negative integer (got -1)"),
        ({"offset": 1.0}, TypeError, "offset must be a non-negative integer (got 1.0)"),
        ({"count": 0}, ValueError, "count must be a positive integer (got 0)"),
        ({"count": "10"}, TypeError, "count must be a positive integer (got '10')"),
    ],
)
def test_bad_offset_or_count(
    loop: asyncio.AbstractEventLoop,
    small_file: BinaryIO,
    kwargs: dict[str, Any],
    kind: type,
    message: str,
) -> None:
    error, received, position = _send_small(loop, small_file, 0, **kwargs)
    assert type(error) is kind
    assert str(error) == message
    assert (received, position) == (b"", 0)


def test_a_text_file_is_refused(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    path = tmp_path / "text.txt"
    path.write_text("not bytes")
    with path.open("r") as text:
        error, received, _ = _send_small(loop, text, 0)
    assert type(error) is ValueError
    assert str(error) == "file should be opened in binary mode"
    assert received == b""


def test_a_closing_transport_is_refused(
    loop: asyncio.AbstractEventLoop, small_file: BinaryIO
) -> None:
    async def main() -> BaseException:
        sink = Sink(0)
        server, _, writer = await _connect(sink, None, None)
        writer.close()
        with pytest.raises(RuntimeError) as caught:
            await loop.sendfile(writer.transport, small_file)
        await _finish(server, writer)
        return caught.value

    error = loop.run_until_complete(main())
    assert str(error) == "Transport is closing"
    assert small_file.tell() == 0


def test_a_datagram_transport_is_not_supported(
    loop: asyncio.AbstractEventLoop, small_file: BinaryIO
) -> None:
    async def main() -> str:
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        try:
            with pytest.raises(RuntimeError) as caught:
                await loop.sendfile(transport, small_file)
        finally:
            transport.close()
        return str(caught.value)

    message = loop.run_until_complete(main())
    assert message.startswith("sendfile is not supported for transport")
    assert small_file.tell() == 0


def test_write_during_a_zero_copy_sendfile_is_refused(
    loop: asyncio.AbstractEventLoop, big_file: tuple[Path, str]
) -> None:
    path, _ = big_file
    count = 4 * 1024 * 1024  # more than loopback buffers take before the sink reads

    async def main() -> tuple[str, int, str, str]:
        sink = Sink(len(PREFIX) + count)
        server, reader, writer = await _connect(sink, None, None)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        with path.open("rb") as f:
            writer.write(PREFIX)
            sending = asyncio.ensure_future(loop.sendfile(writer.transport, f, 0, count))
            await asyncio.sleep(0)  # sendfile has started and waits for the kernel
            with pytest.raises(RuntimeError) as caught:
                writer.transport.write(b"must not interleave")
            sent = await sending
            f.seek(0)
            expected = hashlib.sha256(PREFIX + f.read(count)).hexdigest()
        answer = (await reader.readline()).decode().strip()
        await _finish(server, writer)
        return str(caught.value), sent, answer, expected

    message, sent, answer, expected = loop.run_until_complete(main())
    assert message == "unable to write; sendfile is in progress"
    assert sent == count
    assert answer == expected


def _cancel_a_sendfile(
    loop: asyncio.AbstractEventLoop, path: Path
) -> tuple[bool, int, int, str, str]:
    """Cancels a zero-copy sendfile of 8 MiB while it waits for the kernel,
    then writes SUFFIX and EOF. Returns whether it was cancelled, the file
    position, the bytes of the file that arrived, and the digest the
    receiver saw against the one expected from that count."""
    count = 8 * 1024 * 1024

    async def main() -> tuple[bool, int, int, str, str]:
        sink = Sink(None)
        server, reader, writer = await _connect(sink, None, None)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        with path.open("rb") as f:
            sending = asyncio.ensure_future(loop.sendfile(writer.transport, f, 0, count))
            await asyncio.sleep(0)
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
            position = f.tell()
            # The transport is usable again: more goes after what was sent.
            writer.write(SUFFIX)
            writer.write_eof()
            answer = (await reader.readline()).decode().strip()
            from_file = sink.count - len(SUFFIX)
            f.seek(0)
            expected = hashlib.sha256(f.read(from_file) + SUFFIX).hexdigest()
        await _finish(server, writer)
        return sending.cancelled(), position, from_file, answer, expected

    return loop.run_until_complete(main())


def test_a_cancelled_sendfile_keeps_the_stream_in_order(
    loop: asyncio.AbstractEventLoop, big_file: tuple[Path, str]
) -> None:
    cancelled, _, from_file, answer, expected = _cancel_a_sendfile(loop, big_file[0])
    assert cancelled
    assert 0 < from_file < 8 * 1024 * 1024
    assert answer == expected


def test_a_cancelled_sendfile_leaves_the_file_position_unchanged(
    loop: asyncio.AbstractEventLoop,
    big_file: tuple[Path, str],
    request: pytest.FixtureRequest,
) -> None:
    diverges_on_pyloop(
        request,
        "pyloop moves the position past the bytes a cancelled sendfile sent, as its "
        "docstring promises for errors; asyncio's stays where it was",
    )
    _, position, from_file, _, _ = _cancel_a_sendfile(loop, big_file[0])
    assert from_file > 0
    assert position == 0


def test_sendfile_over_a_unix_socket(
    loop: asyncio.AbstractEventLoop, small_file: BinaryIO, tmp_path: Path
) -> None:
    path = str(tmp_path / "sendfile.sock")

    async def main() -> tuple[int, str, int]:
        sink = Sink(len(SMALL))
        server = await asyncio.start_unix_server(sink.handle, path)
        reader, writer = await asyncio.open_unix_connection(path)
        sent = await loop.sendfile(writer.transport, small_file)
        answer = (await reader.readline()).decode().strip()
        await _finish(server, writer)
        return sent, answer, small_file.tell()

    sent, answer, position = loop.run_until_complete(main())
    assert (sent, position) == (len(SMALL), len(SMALL))
    assert answer == hashlib.sha256(SMALL).hexdigest()


@pytest.mark.pyloop_only
def test_pyloop_puts_the_position_after_what_a_cancelled_sendfile_sent(
    pyloop: ModuleType, big_file: tuple[Path, str]
) -> None:
    # The other side of the divergence above.
    loop = pyloop.new_event_loop()
    try:
        _, position, from_file, _, _ = _cancel_a_sendfile(loop, big_file[0])
    finally:
        loop.close()
    assert 0 < position == from_file
