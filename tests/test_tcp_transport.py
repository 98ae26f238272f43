"""The TCP transport API and the protocol callbacks it drives: writing,
half-closing, closing and aborting, extra info, write-buffer limits and flow
control, pausing reads, swapping protocols, BufferedProtocol, and the order of
callbacks. The peer is a plain socket driven by the sock_* coroutines."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import pytest
from recording import (
    BufferedRecorder,
    Recorder,
    collect_exceptions,
    connected,
    fill_until_paused,
    recv_exactly,
    recv_to_eof,
)

CHUNK = b"0123456789abcdef" * 4096  # 64 KiB


def test_write_and_writelines_reach_the_peer_in_order(loop: asyncio.AbstractEventLoop) -> None:
    expected = b"bytes,bytearray,memoryview,line1,line2,line3"

    async def main() -> bytes:
        async with connected(loop) as (transport, _, peer):
            transport.write(b"bytes,")
            transport.write(bytearray(b"bytearray,"))
            transport.write(memoryview(b"[memoryview,]")[1:-1])
            transport.write(b"")
            transport.writelines([b"line1,", bytearray(b"line2,"), memoryview(b"line3")])
            return await recv_exactly(loop, peer, len(expected))

    assert loop.run_until_complete(main()) == expected


def test_write_of_str_is_a_type_error(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with connected(loop) as (transport, _, _):
            with pytest.raises(
                TypeError, match="data argument must be a bytes-like object, not 'str'"
            ):
                transport.write("text")
            with pytest.raises(TypeError):
                transport.writelines(["text"])
            assert transport.get_write_buffer_size() == 0

    loop.run_until_complete(main())


def test_write_by_keyword_and_its_argument_errors(loop: asyncio.AbstractEventLoop) -> None:
    # pyloop parses write's (data) itself (a raw vectorcall method); the
    # forms and the errors are those of a Python method.
    async def main() -> None:
        async with connected(loop) as (transport, _, peer):
            transport.write(data=b"by keyword,")
            bad_calls: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
                ((), {}, r"write\(\) missing 1 required positional argument: 'data'"),
                ((b"x", b"y"), {}, r"write\(\) takes (1|2) positional arguments? but (2|3)"),
                ((b"x",), {"data": b"y"}, r"got multiple values for argument 'data'"),
                ((b"x",), {"bogus": 1}, r"got an unexpected keyword argument 'bogus'"),
            ]
            for args, kwargs, message in bad_calls:
                with pytest.raises(TypeError, match=message):
                    transport.write(*args, **kwargs)
            assert transport.get_write_buffer_size() == 0
            transport.write(b"then positional")
            assert await recv_exactly(loop, peer, 26) == b"by keyword,then positional"

    loop.run_until_complete(main())


def test_write_eof_half_closes_the_write_side(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with connected(loop) as (transport, protocol, peer):
            assert transport.can_write_eof()
            transport.write(b"last words")
            transport.write_eof()
            transport.write_eof()  # a second call does nothing
            with pytest.raises(
                RuntimeError, match=re.escape("Cannot call write() after write_eof()")
            ):
                transport.write(b"more")
            assert await recv_to_eof(loop, peer) == b"last words"
            assert not transport.is_closing()
            # The other direction still flows.
            await loop.sock_sendall(peer, b"still listening")
            assert await protocol.received(15) == b"still listening"
            peer.shutdown(socket.SHUT_WR)
            assert await protocol.lost is None
            assert protocol.calls() == ["made", "data", "eof", "lost"]

    loop.run_until_complete(main())


def test_close_flushes_what_is_buffered_then_reports_the_loss(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> tuple[int, int, list[str]]:
        async with connected(loop) as (transport, protocol, peer):
            transport.set_write_buffer_limits(high=1 << 30)
            written = 0
            while transport.get_write_buffer_size() == 0:
                transport.write(CHUNK)  # the peer is not reading yet
                written += len(CHUNK)
            transport.close()
            assert transport.is_closing()
            transport.close()  # a second close does nothing
            received = await recv_to_eof(loop, peer)
            assert received == CHUNK * (written // len(CHUNK))
            assert await protocol.lost is None
            return written, len(received), protocol.calls()

    written, received, calls = loop.run_until_complete(main())
    assert received == written
    assert calls == ["made", "lost"]


def test_abort_drops_the_buffer_and_reports_the_loss_once(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> tuple[int, int, int, list[str], object]:
        async with connected(loop) as (transport, protocol, peer):
            transport.set_write_buffer_limits(high=1 << 30)
            written = 0
            while transport.get_write_buffer_size() < 4 * len(CHUNK):
                transport.write(CHUNK)
                written += len(CHUNK)
            transport.abort()
            assert transport.is_closing()
            size_after_abort = transport.get_write_buffer_size()
            transport.abort()
            transport.close()
            lost = await protocol.lost
            try:
                received = len(await recv_to_eof(loop, peer))
            except ConnectionResetError:
                received = 0
            return written, received, size_after_abort, protocol.calls(), lost

    written, received, size_after_abort, calls, lost = loop.run_until_complete(main())
    assert received < written
    assert size_after_abort == 0
    assert calls == ["made", "lost"]
    assert lost is None


def test_write_after_close_is_ignored(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> bytes:
        async with connected(loop) as (transport, protocol, peer):
            transport.write(b"before")
            transport.close()
            await protocol.lost
            transport.write(b"after")  # no exception: the data goes nowhere
            return await recv_to_eof(loop, peer)

    assert loop.run_until_complete(main()) == b"before"


def test_get_extra_info(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with connected(loop) as (transport, _, peer):
            sock = transport.get_extra_info("socket")
            assert sock.family == socket.AF_INET
            assert sock.type == socket.SOCK_STREAM
            assert sock.getsockname() == peer.getpeername()
            assert transport.get_extra_info("sockname") == peer.getpeername()
            assert transport.get_extra_info("peername") == peer.getsockname()
            assert transport.get_extra_info("no such key") is None
            assert transport.get_extra_info("no such key", "fallback") == "fallback"
            # TCP_NODELAY is set on stream transports, as asyncio does.
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)

    loop.run_until_complete(main())


def test_write_buffer_limits(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[Any]:
        seen: list[Any] = []
        async with connected(loop) as (transport, _, _):
            seen.append(transport.get_write_buffer_limits())
            transport.set_write_buffer_limits(high=100)
            seen.append(transport.get_write_buffer_limits())
            transport.set_write_buffer_limits(low=100)
            seen.append(transport.get_write_buffer_limits())
            transport.set_write_buffer_limits(high=50, low=10)
            seen.append(transport.get_write_buffer_limits())
            transport.set_write_buffer_limits(high=0)
            seen.append(transport.get_write_buffer_limits())
            transport.set_write_buffer_limits()
            seen.append(transport.get_write_buffer_limits())
            for high, low in ((10, 20), (10, -1), (-3, None)):
                with pytest.raises(ValueError) as caught:
                    transport.set_write_buffer_limits(high=high, low=low)
                seen.append(str(caught.value))
            # A refused call leaves the limits as they were.
            seen.append(transport.get_write_buffer_limits())
            seen.append(transport.get_write_buffer_size())
        return seen

    assert loop.run_until_complete(main()) == [
        (16384, 65536),
        (25, 100),
        (100, 400),
        (10, 50),
        (0, 0),
        (16384, 65536),
        "high (10) must be >= low (20) must be >= 0",
        "high (10) must be >= low (-1) must be >= 0",
        "high (-3) must be >= low (-1) must be >= 0",  # low defaults to high // 4
        (16384, 65536),
        0,
    ]


def test_pause_and_resume_writing_at_the_water_marks(loop: asyncio.AbstractEventLoop) -> None:
    high, low = 256 * 1024, 64 * 1024
    piece = CHUNK[:16384]

    async def main() -> None:
        async with connected(loop) as (transport, protocol, peer):
            transport.set_write_buffer_limits(high=high, low=low)
            written = fill_until_paused(transport, protocol, piece)
            # pause_writing ran inside the write that crossed the high mark.
            [at_pause] = protocol.size_at_pause
            assert high < at_pause <= high + len(piece)
            # Written while paused: buffered, no second pause.
            transport.write(piece)
            written += len(piece)
            reading = asyncio.ensure_future(recv_exactly(loop, peer, written))
            await protocol.resumed()
            [at_resume] = protocol.size_at_resume
            assert at_resume <= low
            assert await reading == piece * (written // len(piece))
            assert protocol.calls() == ["made", "pause_writing", "resume_writing"]

    loop.run_until_complete(main())


def test_lowering_the_high_mark_pauses_at_once(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with connected(loop) as (transport, protocol, _):
            transport.set_write_buffer_limits(high=1 << 30)
            while transport.get_write_buffer_size() == 0:
                transport.write(CHUNK)
            assert protocol.calls() == ["made"]
            transport.set_write_buffer_limits(high=1, low=0)
            assert protocol.calls() == ["made", "pause_writing"]

    loop.run_until_complete(main())


def test_pause_and_resume_reading(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[object]:
        seen: list[object] = []
        async with connected(loop) as (transport, protocol, peer):
            seen.append(transport.is_reading())
            transport.pause_reading()
            transport.pause_reading()  # a second pause does nothing
            seen.append(transport.is_reading())
            await loop.sock_sendall(peer, b"held back")
            # Another connection's data, sent after, arrives first: the loop
            # polled while the paused transport had data waiting.
            async with connected(loop) as (_, witness, witness_peer):
                await loop.sock_sendall(witness_peer, b"ping")
                await witness.received(4)
            await asyncio.sleep(0)
            seen.append(bytes(protocol.data))
            transport.resume_reading()
            transport.resume_reading()
            seen.append(transport.is_reading())
            seen.append(await protocol.received(9))
            transport.close()
            seen.append(transport.is_reading())
        return seen

    assert loop.run_until_complete(main()) == [True, False, b"", True, b"held back", False]


def test_set_protocol_sends_later_callbacks_to_the_new_protocol(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> None:
        async with connected(loop) as (transport, first, peer):
            await loop.sock_sendall(peer, b"one")
            await first.received(3)
            second = Recorder()
            transport.set_protocol(second)
            assert transport.get_protocol() is second
            await loop.sock_sendall(peer, b"two")
            await second.received(3)
            peer.shutdown(socket.SHUT_WR)
            assert await second.lost is None
            assert (bytes(first.data), first.calls()) == (b"one", ["made", "data"])
            # set_protocol does not call connection_made on the new protocol.
            assert (bytes(second.data), second.calls()) == (b"two", ["data", "eof", "lost"])

    loop.run_until_complete(main())


def test_data_arrives_as_bytes(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> set[type]:
        async with connected(loop) as (_, protocol, peer):
            await loop.sock_sendall(peer, b"x" * 100_000)
            await protocol.received(100_000)
            return protocol.chunk_types

    assert loop.run_until_complete(main()) == {bytes}


def test_callback_order_when_the_peer_sends_and_closes(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[list[str], object, bytes]:
        async with connected(loop) as (_, protocol, peer):
            await loop.sock_sendall(peer, b"hello")
            peer.shutdown(socket.SHUT_WR)
            lost = await protocol.lost
            return protocol.calls(), lost, bytes(protocol.data)

    assert loop.run_until_complete(main()) == (["made", "data", "eof", "lost"], None, b"hello")


def test_eof_received_returning_true_keeps_the_write_side_open(
    loop: asyncio.AbstractEventLoop,
) -> None:
    def keeps_open() -> Recorder:
        return Recorder(keep_open_on_eof=True)

    async def main() -> None:
        async with connected(loop, keeps_open) as (transport, protocol, peer):
            await loop.sock_sendall(peer, b"question")
            peer.shutdown(socket.SHUT_WR)
            await protocol.until(lambda: "eof" in protocol.events)
            assert not transport.is_closing()
            transport.write(b"answer")
            assert await recv_exactly(loop, peer, 6) == b"answer"
            assert not protocol.lost.done()
            transport.close()
            assert await protocol.lost is None
            assert await recv_to_eof(loop, peer) == b""
            assert protocol.calls() == ["made", "data", "eof", "lost"]

    loop.run_until_complete(main())


@pytest.mark.parametrize("returned", [False, None])
def test_eof_received_returning_false_closes_the_transport(
    loop: asyncio.AbstractEventLoop, returned: bool | None
) -> None:
    def closes() -> Recorder:
        return Recorder(keep_open_on_eof=returned)

    async def main() -> None:
        async with connected(loop, closes) as (transport, protocol, peer):
            peer.shutdown(socket.SHUT_WR)
            assert await protocol.lost is None
            assert transport.is_closing()
            assert await recv_to_eof(loop, peer) == b""
            assert protocol.calls() == ["made", "eof", "lost"]

    loop.run_until_complete(main())


def test_buffered_protocol_reads_into_its_own_buffer(loop: asyncio.AbstractEventLoop) -> None:
    payload = bytes(range(256)) * 1000  # many times the 4 KiB buffer

    async def main() -> None:
        async with connected(loop, BufferedRecorder) as (_, protocol, peer):
            await loop.sock_sendall(peer, payload)
            peer.shutdown(socket.SHUT_WR)
            assert await protocol.lost is None
            assert bytes(protocol.data) == payload
            assert protocol.calls() == ["made", "data", "eof", "lost"]
            assert len(protocol.size_hints) >= len(payload) // len(protocol.buffer)
            assert all(isinstance(hint, int) for hint in protocol.size_hints)

    loop.run_until_complete(main())


class _EmptyBuffer(BufferedRecorder):
    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(bytearray())


class _ReadOnlyBuffer(BufferedRecorder):
    def get_buffer(self, sizehint: int) -> bytes:
        return b"read-only"


class _NoBuffer(BufferedRecorder):
    def get_buffer(self, sizehint: int) -> None:
        return None


class _FailingDataReceived(Recorder):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        raise ZeroDivisionError("protocol bug")


class _FailingBufferUpdated(BufferedRecorder):
    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        raise ZeroDivisionError("protocol bug")


class _FailingEofReceived(Recorder):
    def eof_received(self) -> bool | None:
        super().eof_received()
        raise ZeroDivisionError("protocol bug")


@pytest.mark.parametrize(
    ("factory", "message", "error"),
    [
        (_EmptyBuffer, "Fatal error: protocol.get_buffer() call failed.", RuntimeError),
        # asyncio's recv_into refuses a buffer it cannot write to.
        (_ReadOnlyBuffer, "Fatal read error on socket transport", TypeError),
        # asyncio's len() of the buffer fails first.
        (_NoBuffer, "Fatal error: protocol.get_buffer() call failed.", TypeError),
        (_FailingDataReceived, "Fatal error: protocol.data_received() call failed.", None),
        (_FailingBufferUpdated, "Fatal error: protocol.buffer_updated() call failed.", None),
        (_FailingEofReceived, "Fatal error: protocol.eof_received() call failed.", None),
    ],
    ids=[
        "empty-get_buffer",
        "read-only-buffer",
        "no-buffer",
        "data_received",
        "buffer_updated",
        "eof_received",
    ],
)
def test_a_failing_protocol_callback_is_fatal_to_the_transport(
    loop: asyncio.AbstractEventLoop, factory: Any, message: str, error: type | None
) -> None:
    contexts = collect_exceptions(loop)

    async def main() -> None:
        async with connected(loop, factory) as (transport, protocol, peer):
            await loop.sock_sendall(peer, b"data")
            peer.shutdown(socket.SHUT_WR)
            lost = await protocol.lost
            [context] = contexts
            assert context["message"] == message
            assert context["exception"] is lost
            assert type(lost) is (error or ZeroDivisionError)
            assert context["transport"] is transport
            assert context["protocol"] is protocol
            assert protocol.events.count("lost") == 1
            try:
                tail = await recv_to_eof(loop, peer)
            except ConnectionResetError:  # closed with unread data: a reset
                tail = b""
            assert tail == b""

    loop.run_until_complete(main())


def test_connection_lost_comes_once_after_close_and_abort(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[str]:
        async with connected(loop) as (transport, protocol, peer):
            transport.close()
            transport.abort()
            transport.close()
            await protocol.lost
            peer.close()
            # A few more iterations in which a second report could come.
            for _ in range(5):
                await asyncio.sleep(0)
            return protocol.events

    assert loop.run_until_complete(main()) == ["made", "lost"]


def test_the_transport_is_an_asyncio_transport(loop: asyncio.AbstractEventLoop) -> None:
    # Libraries and CPython's own tests check isinstance(t, asyncio.Transport).
    async def main() -> list[bool]:
        async with connected(loop) as (transport, _, _):
            return [
                isinstance(transport, cls)
                for cls in (asyncio.Transport, asyncio.ReadTransport, asyncio.WriteTransport)
            ]

    assert loop.run_until_complete(main()) == [True, True, True]


def test_a_buffer_changed_after_write_is_sent_as_it_was(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> bool:
        async with connected(loop) as (transport, _, peer):
            transport.set_write_buffer_limits(high=1 << 30)
            written = bytearray()
            while transport.get_write_buffer_size() == 0:
                transport.write(CHUNK)  # fill the socket: later writes are buffered
                written += CHUNK
            data = bytearray(b"original" * 1000)
            transport.write(data)
            transport.write(memoryview(data)[:8])
            written += data + data[:8]
            data[:] = b"changed!" * 1000
            transport.close()
            return await recv_to_eof(loop, peer) == written

    assert loop.run_until_complete(main())


def test_write_eof_waits_for_the_buffer_to_drain(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with connected(loop) as (transport, protocol, peer):
            transport.set_write_buffer_limits(high=1 << 30)
            written = 0
            while transport.get_write_buffer_size() == 0:
                transport.write(CHUNK)
                written += len(CHUNK)
            transport.write_eof()
            assert not transport.is_closing()
            assert len(await recv_to_eof(loop, peer)) == written
            assert transport.get_write_buffer_size() == 0
            assert not protocol.lost.done()  # half-closed, not closed

    loop.run_until_complete(main())


def test_eof_waits_while_reading_is_paused(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with connected(loop) as (transport, protocol, peer):
            transport.pause_reading()
            await loop.sock_sendall(peer, b"data then eof")
            peer.shutdown(socket.SHUT_WR)
            async with connected(loop) as (_, witness, witness_peer):
                await loop.sock_sendall(witness_peer, b"ping")
                await witness.received(4)
            await asyncio.sleep(0)
            assert protocol.calls() == ["made"]
            transport.resume_reading()
            assert await protocol.lost is None
            assert protocol.calls() == ["made", "data", "eof", "lost"]
            assert bytes(protocol.data) == b"data then eof"

    loop.run_until_complete(main())


def test_set_protocol_to_a_buffered_protocol_mid_stream(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with connected(loop) as (transport, first, peer):
            await loop.sock_sendall(peer, b"plain")
            await first.received(5)
            second = BufferedRecorder(16)
            transport.set_protocol(second)
            payload = bytes(range(256)) * 40
            await loop.sock_sendall(peer, payload)
            await second.received(len(payload))
            assert bytes(second.data) == payload
            assert len(second.size_hints) >= len(payload) // 16
            assert first.calls() == ["made", "data"]

    loop.run_until_complete(main())


class _FailingFlowControl(Recorder):
    def pause_writing(self) -> None:
        super().pause_writing()
        raise ZeroDivisionError("pause")

    def resume_writing(self) -> None:
        super().resume_writing()
        raise ZeroDivisionError("resume")


def test_failing_pause_and_resume_writing_are_reported(loop: asyncio.AbstractEventLoop) -> None:
    contexts = collect_exceptions(loop)

    async def main() -> None:
        async with connected(loop, _FailingFlowControl) as (transport, protocol, peer):
            transport.set_write_buffer_limits(high=64 * 1024)
            written = fill_until_paused(transport, protocol, CHUNK)
            await recv_exactly(loop, peer, written)
            await protocol.resumed()
            assert [c["message"] for c in contexts] == [
                "protocol.pause_writing() failed",
                "protocol.resume_writing() failed",
            ]
            assert [str(c["exception"]) for c in contexts] == ["pause", "resume"]
            assert all(c["transport"] is transport for c in contexts)
            assert all(c["protocol"] is protocol for c in contexts)
            # The transport carries on.
            transport.write(b"still fine")
            assert await recv_exactly(loop, peer, 10) == b"still fine"

    loop.run_until_complete(main())
