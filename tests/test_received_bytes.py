"""The bytes objects a protocol is given. pyloop's datagram and stream readers
refill the last one in place when the protocol kept no reference to it
(``recv_buffer.rs``); that must never show: what a protocol keeps keeps its
content, a hash computed on one datagram is not the next one's, and the
one-byte and empty objects CPython shares are never written. The reuse itself
is invisible from Python by design (an allocator handing the freed block back
gives the same ``id`` too), so these run on both loops and check content only;
each fails against a reader that refills without one of its checks."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from conftest import nonblocking_pair

# Runs of one length (a dropped one is followed by a kept one and the other
# way round), length changes, CPython's shared one-byte objects, and sizes on
# both sides of obmalloc's 512-byte limit.
MESSAGES = [
    *(bytes([c]) * 2 for c in b"abc"),
    *(bytes([c]) * 1200 for c in b"def"),
    b"g",
    b"h",
    *(bytes([c]) * 2 for c in b"ij"),
    *(bytes([c]) * 300 for c in b"klm"),
]


class Checker:
    """Checks each piece of data as it arrives, keeps every other one, and
    records a copy of everything."""

    def __init__(self) -> None:
        self.copies: list[bytes] = []
        self.kept: list[bytes] = []
        self.hash_mismatches: list[bytes] = []

    def check(self, data: bytes) -> None:
        copy = bytes(bytearray(data))
        # hash() caches the value in the object: a refilled one must not
        # answer with its previous content's.
        if hash(data) != hash(copy):
            self.hash_mismatches.append(copy)
        if len(self.copies) % 2 == 0:
            self.kept.append(data)
        self.copies.append(copy)


class DatagramChecker(asyncio.DatagramProtocol):
    def __init__(self, checker: Checker, count: int) -> None:
        self.checker = checker
        self.count = count
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.checker.check(data)
        if len(self.checker.copies) == self.count:
            self.done.set_result(None)


class StreamChecker(asyncio.Protocol):
    def __init__(self, checker: Checker) -> None:
        self.checker = checker
        self.changed: asyncio.Event = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.checker.check(data)
        self.changed.set()


def assert_untouched(checker: Checker, expected: list[bytes]) -> None:
    assert checker.copies == expected
    assert checker.kept == expected[::2]
    assert checker.hash_mismatches == []


def test_datagrams_kept_or_hashed_are_never_rewritten(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        checker = Checker()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: DatagramChecker(checker, len(MESSAGES)), local_addr=("127.0.0.1", 0)
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            # One at a time, so each is its own wake-up, then all at once
            # (one batch of receives).
            for message in MESSAGES[:6]:
                sender.sendto(message, transport.get_extra_info("sockname"))
                await asyncio.sleep(0.01)
            for message in MESSAGES[6:]:
                sender.sendto(message, transport.get_extra_info("sockname"))
            await asyncio.wait_for(protocol.done, 5)
        transport.close()
        assert_untouched(checker, MESSAGES)

    loop.run_until_complete(main())


def test_stream_data_kept_or_hashed_is_never_rewritten(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        checker = Checker()
        with nonblocking_pair() as (a, b):
            transport, protocol = await loop.connect_accepted_socket(
                lambda: StreamChecker(checker), a
            )
            for message in MESSAGES:
                protocol.changed.clear()
                b.send(message)
                await asyncio.wait_for(protocol.changed.wait(), 5)
            transport.close()
        assert_untouched(checker, MESSAGES)

    loop.run_until_complete(main())


# Messages of 16 KiB and more, which pyloop reads into its spare bytes object
# first: runs of one length (handed out whole), shorter ones (copied out),
# longer ones (the spare and the loop's buffer joined).
LARGE = [
    bytes([c]) * n
    for c, n in zip(
        b"nopqrstuvwxy",
        [32768, 32768, 32768, 32768, 20000, 20000, 49152, 49152, 32768, 17000, 65536, 16384],
        strict=True,
    )
]


class PieceChecker(asyncio.Protocol):
    """Keeps every other piece with a copy made on arrival, and checks the
    hash of each."""

    def __init__(self) -> None:
        self.copies: list[bytes] = []
        self.kept: list[tuple[bytes, bytes]] = []
        self.hash_mismatches = 0
        self.changed: asyncio.Event = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        copy = bytes(bytearray(data))
        if hash(data) != hash(copy):
            self.hash_mismatches += 1
        if len(self.copies) % 2 == 0:
            self.kept.append((data, copy))
        self.copies.append(copy)
        self.changed.set()


def test_large_stream_reads_keep_content_and_hash(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> PieceChecker:
        protocol = PieceChecker()
        with nonblocking_pair() as (a, b):
            transport, _ = await loop.connect_accepted_socket(lambda: protocol, a)
            b.setblocking(True)
            for message in LARGE:
                protocol.changed.clear()
                b.sendall(message)
                await asyncio.wait_for(protocol.changed.wait(), 5)
            expected = sum(map(len, LARGE))
            while sum(map(len, protocol.copies)) < expected:
                protocol.changed.clear()
                await asyncio.wait_for(protocol.changed.wait(), 5)
            transport.close()
        return protocol

    protocol = loop.run_until_complete(main())
    assert b"".join(protocol.copies) == b"".join(LARGE)
    assert all(kept == copy for kept, copy in protocol.kept)
    assert protocol.hash_mismatches == 0
