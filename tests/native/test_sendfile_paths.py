"""Which path pyloop's ``loop.sendfile`` takes (``os.sendfile`` for a file
on a plain socket transport, copying otherwise), and that the user's
protocol sees balanced ``pause_writing``/``resume_writing`` calls across a
copying sendfile whose blocks are larger than the high-water mark (asyncio
copies 16 KiB blocks and does not reconcile them), and that a second sendfile
on a busy transport is refused without disturbing the first."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import socket
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.pyloop_only

DATA = os.urandom(3 * 1024 * 1024)
PREFIX = 1024 * 1024  # written first: more than the kernel takes at once


class Recorder(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.calls: list[str] = []
        self.reply = bytearray()
        self.lost = loop.create_future()

    def pause_writing(self) -> None:
        self.calls.append("pause")

    def resume_writing(self) -> None:
        self.calls.append("resume")

    def data_received(self, data: bytes) -> None:
        self.reply += data

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.set_result(exc)


async def _digest_sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    digest = hashlib.sha256(await reader.readexactly(PREFIX + len(DATA)))
    writer.write(digest.hexdigest().encode())
    await writer.drain()
    writer.close()


def _run(pyloop: ModuleType, file: Any) -> tuple[int, list[str], str]:
    """Writes 1 MiB through a 4 KiB kernel buffer (so the protocol starts
    paused), then sendfile()s `file`; returns the count, the protocol's
    flow-control calls and whether the peer's digest matched."""
    loop = pyloop.new_event_loop()

    async def main() -> tuple[int, list[str], str]:
        server = await asyncio.start_server(_digest_sink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, proto = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1", port)
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        transport.set_write_buffer_limits(high=1024)
        transport.write(b"x" * PREFIX)
        sent = await loop.sendfile(transport, file)
        exc = await asyncio.wait_for(proto.lost, 30)
        server.close()
        await server.wait_closed()
        ok = bytes(proto.reply).decode() == hashlib.sha256(b"x" * PREFIX + DATA).hexdigest()
        return sent, proto.calls, "digest ok" if ok and exc is None else "digest wrong"

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def _alternating(calls: list[str]) -> bool:
    return calls == ["pause", "resume"] * (len(calls) // 2)


def test_a_regular_file_goes_through_os_sendfile(
    pyloop: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyloop import _sendfile, _transport_sendfile

    calls = []
    real_sendfile = os.sendfile

    def counting_sendfile(*args: Any) -> int:
        calls.append(args)
        return real_sendfile(*args)

    async def no_copy(*args: Any) -> int:
        raise AssertionError("the copying path was taken")

    monkeypatch.setattr(_sendfile.os, "sendfile", counting_sendfile, raising=True)
    monkeypatch.setattr(_transport_sendfile.TransportSendfileMixin, "_sendfile_fallback", no_copy)
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    with path.open("rb") as f:
        sent, flow_calls, digest = _run(pyloop, f)
    assert (sent, digest) == (len(DATA), "digest ok")
    assert calls
    assert _alternating(flow_calls) and flow_calls


def test_the_copying_path_leaves_the_protocol_in_step(pyloop: ModuleType) -> None:
    sent, flow_calls, digest = _run(pyloop, io.BytesIO(DATA))
    assert (sent, digest) == (len(DATA), "digest ok")
    assert _alternating(flow_calls) and flow_calls


def test_a_second_sendfile_on_a_busy_transport_is_refused(
    pyloop: ModuleType, tmp_path: Path
) -> None:
    # asyncio's selector loop fails here with a KeyError from its transport
    # table; pyloop refuses with the empty waiter's RuntimeError and leaves
    # the first call alone.
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    loop = pyloop.new_event_loop()

    async def main() -> tuple[str, int, str]:
        server = await asyncio.start_server(_digest_sink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, proto = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1", port)
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        transport.write(b"x" * PREFIX)
        with path.open("rb") as first, path.open("rb") as second:
            sending = asyncio.ensure_future(loop.sendfile(transport, first))
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError) as caught:
                await loop.sendfile(transport, second)
            sent = await sending
            untouched = second.tell()
        await asyncio.wait_for(proto.lost, 30)
        server.close()
        await server.wait_closed()
        ok = bytes(proto.reply).decode() == hashlib.sha256(b"x" * PREFIX + DATA).hexdigest()
        return str(caught.value), sent + untouched, "digest ok" if ok else "digest wrong"

    try:
        message, sent, digest = loop.run_until_complete(main())
    finally:
        loop.close()
    assert message == "Empty waiter is already set"
    assert (sent, digest) == (len(DATA), "digest ok")
