"""call_later / call_at: order (asyncio's, equal deadlines included),
cancellation, `when`, reprs and the clock."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import run_briefly


def _run_until_idle(loop: asyncio.AbstractEventLoop, until: float) -> None:
    loop.call_at(until, loop.stop)
    loop.run_forever()


def test_order_by_deadline(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    base = loop.time()
    for i, offset in enumerate([0.03, 0.01, 0.02, 0.0, 0.015]):
        loop.call_at(base + offset, seen.append, i)
    _run_until_idle(loop, base + 0.05)
    assert seen == [3, 1, 4, 2, 0]


@pytest.mark.parametrize("count", [2, 3, 7, 20, 64])
def test_equal_deadlines_fire_in_asyncios_order(
    loop: asyncio.AbstractEventLoop, count: int
) -> None:
    # asyncio's heapq is not stable; pyloop must give the very same order.
    seen: list[int] = []
    when = loop.time() + 0.01
    for i in range(count):
        loop.call_at(when, seen.append, i)
    _run_until_idle(loop, when + 0.01)
    expected = _asyncio_order(count)
    assert seen == expected


def _asyncio_order(count: int) -> list[int]:
    oracle = asyncio.new_event_loop()
    try:
        seen: list[int] = []
        when = oracle.time() + 0.01
        for i in range(count):
            oracle.call_at(when, seen.append, i)
        oracle.call_at(when + 0.01, oracle.stop)
        oracle.run_forever()
        return seen
    finally:
        oracle.close()


def test_negative_delays_run_in_deadline_order(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    loop.call_later(-1, seen.append, 1)
    loop.call_later(-2, seen.append, 2)
    run_briefly(loop)
    assert seen == [2, 1]


def test_timers_and_ready_callbacks_interleave_like_asyncio(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []
    loop.call_later(-1, seen.append, "past-timer")
    loop.call_soon(seen.append, "soon")
    run_briefly(loop)
    assert seen == ["soon", "past-timer"]


def test_cancelled_timer_does_not_fire(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    handles = [loop.call_later(0.001 * i, seen.append, i) for i in range(10)]
    for h in handles[1::3]:
        h.cancel()
    _run_until_idle(loop, loop.time() + 0.03)
    assert seen == [0, 2, 3, 5, 6, 8, 9]


def test_many_cancelled_timers_are_dropped(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    handles = [loop.call_later(3600 + i, seen.append, i) for i in range(300)]
    for h in handles[:250]:
        h.cancel()
    loop.call_later(0, seen.append, -1)
    run_briefly(loop)
    assert seen == [-1]
    assert all(h.cancelled() for h in handles[:250])
    assert not any(h.cancelled() for h in handles[250:])


def test_when_and_arguments(loop: asyncio.AbstractEventLoop) -> None:
    at = loop.time() + 100
    handle = loop.call_at(at, print)
    assert handle.when() == at
    later = loop.call_later(10, print)
    assert at - 100 + 9 < later.when() < at
    with pytest.raises(TypeError, match="when cannot be None"):
        loop.call_at(None, print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="delay must not be None"):
        loop.call_later(None, print)  # type: ignore[arg-type]


def test_timer_repr(loop: asyncio.AbstractEventLoop) -> None:
    def tick() -> None:
        pass

    handle = loop.call_at(123.5, tick)
    assert repr(handle).startswith("<TimerHandle when=123.5 test_timer_repr.<locals>.tick() at ")
    handle.cancel()
    assert repr(handle) == "<TimerHandle cancelled when=123.5>"


def test_clock_is_time_monotonic(loop: asyncio.AbstractEventLoop) -> None:
    before = time.monotonic()
    now = loop.time()
    after = time.monotonic()
    assert before <= now <= after


def test_sleep_wakes_after_its_deadline(loop: asyncio.AbstractEventLoop) -> None:
    async def sleeper() -> float:
        start = loop.time()
        await asyncio.sleep(0.02)
        return loop.time() - start

    assert loop.run_until_complete(sleeper()) >= 0.02


def test_timer_handles_compare_by_deadline(loop: asyncio.AbstractEventLoop) -> None:
    early = loop.call_at(10.0, print, "x")
    late = loop.call_at(20.0, print, "x")
    twin = loop.call_at(10.0, print, "x")
    other = loop.call_at(10.0, print, "y")
    assert early < late and late > early
    assert early <= twin and early >= twin
    assert early == twin and early != other
    assert not (early <= other) and not (early >= other)
    assert hash(early) == hash(twin) == hash(10.0)
    twin.cancel()
    assert early != twin
    assert early.__lt__(object()) is NotImplemented
    assert sorted([late, early]) == [early, late]


@pytest.mark.parametrize("delay", [0.0001, 0.0003, 0.0015])
def test_timers_never_fire_before_their_deadline(
    loop: asyncio.AbstractEventLoop, delay: float
) -> None:
    fired: list[tuple[float, float]] = []
    for _ in range(5):
        handle = loop.call_later(delay, lambda h=None: None)
        deadline = handle.when()
        handle.cancel()
        loop.call_at(deadline, lambda d=deadline: fired.append((d, loop.time())))
        loop.call_at(deadline, loop.stop)
        loop.run_forever()
    assert len(fired) == 5
    assert all(now >= deadline for deadline, now in fired)
