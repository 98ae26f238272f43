"""The differential fixtures: a behaviour test states its scenario once and runs
it on stock asyncio (the oracle) and on pyloop; both must observe the same.

pyloop is imported lazily, so `pytest -k "not pyloop"` still runs the asyncio
cases while the native extension is being rebuilt (the pyloop cases, and the
tests of pyloop's own entry points, then fail with ImportError)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

# A command-line report, not a test module (its gate is cpython/test_cpython_suite.py).
collect_ignore = ["cpython/run_suite.py"]

LOOP_NAMES = ["asyncio", "pyloop"]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _factory(name: str) -> LoopFactory:
    if name == "asyncio":
        return asyncio.new_event_loop
    import pyloop

    return pyloop.new_event_loop


@pytest.fixture(params=LOOP_NAMES)
def loop_factory(request: pytest.FixtureRequest) -> LoopFactory:
    """Makes new loops of one kind; the test closes what it makes."""
    return _factory(request.param)


@pytest.fixture
def loop(loop_factory: LoopFactory) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop, set as the current loop, closed afterwards."""
    lp = loop_factory()
    asyncio.set_event_loop(lp)
    try:
        yield lp
    finally:
        asyncio.set_event_loop(None)
        lp.close()


@pytest.fixture
def pyloop() -> ModuleType:
    """The pyloop package, for tests of its own entry points."""
    import pyloop as module

    return module


def run_briefly(loop: asyncio.AbstractEventLoop) -> None:
    """Runs what is ready now (one iteration of `loop`) and returns."""
    loop.call_soon(loop.stop)
    loop.run_forever()


def diverges_on_pyloop(request: pytest.FixtureRequest, reason: str) -> None:
    """Marks the pyloop case of a differential test as a known divergence:
    it must keep failing (strict xfail) until the difference is removed."""
    if request.node.callspec.params.get("loop_factory") == "pyloop":
        request.applymarker(pytest.mark.divergence)
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


@contextlib.contextmanager
def nonblocking_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair of non-blocking sockets, closed on exit."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    with a, b:
        yield a, b
