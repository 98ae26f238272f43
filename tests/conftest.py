"""The differential fixture: each behaviour test runs once on stock asyncio
(the oracle) and once on pyloop, and both must observe the same thing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

import pyloop

collect_ignore = ["cpython"]

FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "pyloop": pyloop.new_event_loop,
}


@pytest.fixture(params=list(FACTORIES))
def loop_factory(request: pytest.FixtureRequest) -> Callable[[], asyncio.AbstractEventLoop]:
    return FACTORIES[request.param]


@pytest.fixture
def loop(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> Iterator[asyncio.AbstractEventLoop]:
    lp = loop_factory()
    asyncio.set_event_loop(lp)
    try:
        yield lp
    finally:
        asyncio.set_event_loop(None)
        lp.close()


def run_briefly(loop: asyncio.AbstractEventLoop) -> None:
    """Runs one iteration of `loop` (everything ready now) and returns."""
    loop.call_soon(loop.stop)
    loop.run_forever()
