"""Stress (issue 6): 1,000 concurrent connections to one server, each echoing
64 KiB with a checksum; and one connection moving 200 MiB to a reader that
keeps pausing, with the writer's buffer held near its high-water mark."""

from __future__ import annotations

import asyncio
import hashlib
import resource
from collections.abc import Iterator
from typing import Any

import pytest
from recording import Recorder, finish

CONNECTIONS = 1000
ECHO_SIZE = 64 * 1024


@pytest.fixture
def enough_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * CONNECTIONS + 256  # both ends of every connection, and some spare
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Echo(Recorder):
    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        return False  # close once the client is done


def test_1000_connections_echo_64_kib_each(
    loop: asyncio.AbstractEventLoop, enough_fds: None
) -> None:
    async def client(address: Any, index: int) -> bool:
        payload = hashlib.sha256(index.to_bytes(4, "big")).digest() * (ECHO_SIZE // 32)
        transport, protocol = await loop.create_connection(Recorder, *address)
        transport.write(payload)
        echoed = await protocol.received(ECHO_SIZE)
        transport.close()
        await protocol.lost
        return hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()

    async def main() -> list[bool]:
        accepted: list[Echo] = []

        def factory() -> Echo:
            accepted.append(Echo())
            return accepted[-1]

        # A backlog as deep as the crowd: no connection waits for a SYN retry.
        server = await loop.create_server(factory, "127.0.0.1", 0, backlog=CONNECTIONS)
        async with server:
            address = server.sockets[0].getsockname()
            results = await asyncio.gather(*(client(address, i) for i in range(CONNECTIONS)))
            for protocol in accepted:
                await protocol.lost
        assert len(accepted) == CONNECTIONS
        return results

    assert loop.run_until_complete(main()) == [True] * CONNECTIONS


TOTAL = 200 * 1024 * 1024
WRITE_SIZE = 256 * 1024
HIGH_WATER = 1024 * 1024
# Odd-sized, so chunk boundaries and the pattern never line up.
PATTERN = hashlib.sha256(b"pattern").digest() * 32771
TWICE = PATTERN * 2
PAUSE_EVERY = 8 * 1024 * 1024  # the reader stops reading after each 8 MiB


class SlowReader(Recorder):
    """Hashes what arrives instead of keeping it; after every PAUSE_EVERY
    bytes it pauses reading and resumes a few milliseconds later."""

    def __init__(self) -> None:
        super().__init__()
        self.digest = hashlib.sha256()
        self.count = 0
        self.pauses = 0

    def data_received(self, data: bytes) -> None:
        before = self.count
        self.digest.update(data)
        self.count += len(data)
        if self.count // PAUSE_EVERY != before // PAUSE_EVERY:
            self.transport.pause_reading()
            self.pauses += 1
            asyncio.get_running_loop().call_later(0.005, self.transport.resume_reading)


def _expected_digest() -> bytes:
    digest = hashlib.sha256()
    offset = 0
    while offset < TOTAL:
        piece = _piece(offset)
        digest.update(piece)
        offset += len(piece)
    return digest.digest()


def _piece(offset: int) -> bytes:
    """The WRITE_SIZE bytes of the stream that start at `offset`."""
    start = offset % len(PATTERN)
    return TWICE[start : start + min(WRITE_SIZE, TOTAL - offset)]


def test_200_mib_to_a_slow_reader(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[bytes, int, int, int]:
        readers: list[SlowReader] = []

        def factory() -> SlowReader:
            readers.append(SlowReader())
            return readers[-1]

        async with await loop.create_server(factory, "127.0.0.1", 0) as server:
            transport, writer = await loop.create_connection(
                Recorder, *server.sockets[0].getsockname()
            )
            transport.set_write_buffer_limits(high=HIGH_WATER)
            largest = 0
            offset = 0
            while offset < TOTAL:
                if writer.writing_paused:
                    await writer.resumed()
                piece = _piece(offset)
                transport.write(piece)
                offset += len(piece)
                largest = max(largest, transport.get_write_buffer_size())
            transport.write_eof()
            [reader] = readers
            await reader.lost
            await finish(transport)
        return reader.digest.digest(), reader.count, largest, reader.pauses

    digest, count, largest, pauses = loop.run_until_complete(main())
    assert count == TOTAL
    assert digest == _expected_digest()
    assert pauses >= TOTAL // PAUSE_EVERY - 1
    assert largest <= HIGH_WATER + WRITE_SIZE
