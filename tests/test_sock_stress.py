"""Stress: 500 concurrent sock_sendall/sock_recv echo pairs over loopback,
1 MiB each, every byte checked (issue 5)."""

from __future__ import annotations

import asyncio
import hashlib
import resource
from collections.abc import Iterator

import pytest
from conftest import nonblocking_pair

PAIRS = 500
PAYLOAD = 1024 * 1024
CHUNK = 65536


@pytest.fixture
def enough_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * PAIRS + 256
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_500_echo_pairs_of_1_mib(loop: asyncio.AbstractEventLoop, enough_fds: None) -> None:
    async def pair(i: int) -> bool:
        payload = hashlib.sha256(str(i).encode()).digest() * (PAYLOAD // 32)
        with nonblocking_pair() as (a, b):

            async def echo() -> None:
                left = PAYLOAD
                while left:
                    chunk = await loop.sock_recv(b, CHUNK)
                    left -= len(chunk)
                    await loop.sock_sendall(b, chunk)

            echoing = asyncio.ensure_future(echo())
            sending = asyncio.ensure_future(loop.sock_sendall(a, payload))
            got = bytearray()
            while len(got) < PAYLOAD:
                got += await loop.sock_recv(a, CHUNK)
            await sending
            await echoing
            return hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()

    async def main() -> list[bool]:
        return await asyncio.gather(*(pair(i) for i in range(PAIRS)))

    assert loop.run_until_complete(main()) == [True] * PAIRS
