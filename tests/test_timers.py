"""call_later / call_at and TimerHandle: firing order (asyncio's heap order,
equal deadlines included), cancellation, `when`, reprs, comparisons, the clock.

Deadlines here are either already past or an hour and more away, so which
timers fire in an iteration never depends on how fast the machine is."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from conftest import run_briefly

FAR = 3600.0


def test_timer_handle_keeps_asyncios_private_when(loop: asyncio.AbstractEventLoop) -> None:
    handle = loop.call_at(loop.time() + 60, lambda: None)
    try:
        assert handle._when == handle.when()  # type: ignore[attr-defined]
    finally:
        handle.cancel()


def test_past_deadlines_fire_in_deadline_order(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    base = loop.time() - 10
    for i, offset in enumerate([3.0, 1.0, 2.0, 0.0, 1.5]):
        loop.call_at(base + offset, seen.append, i)
    far = loop.call_at(base + FAR * 2, seen.append, 99)
    run_briefly(loop)
    assert seen == [3, 1, 4, 2, 0]
    assert not far.cancelled()


def test_a_future_deadline_does_not_fire_in_this_iteration(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []
    far = loop.call_later(FAR, seen.append, "far")
    loop.call_at(far.when() + 1, seen.append, "farther")
    loop.call_later(-FAR, seen.append, "past")
    run_briefly(loop)
    assert seen == ["past"]


def test_timer_never_fires_before_its_deadline(loop: asyncio.AbstractEventLoop) -> None:
    # asyncio fires a timer once time() >= when - clock resolution; a timer
    # driver rounding to milliseconds would fire early and fail this.
    resolution = time.get_clock_info("monotonic").resolution
    fired: list[tuple[float, float]] = []
    handles: list[asyncio.TimerHandle] = []

    def record(i: int) -> None:
        fired.append((loop.time(), handles[i].when()))

    for i, delay in enumerate([0.0013, 0.0027, 0.0101, 0.0003, 0.0155]):
        handles.append(loop.call_later(delay, record, i))
    loop.call_later(0.05, loop.stop)
    loop.run_forever()
    assert len(fired) == 5
    assert all(now >= when - resolution for now, when in fired)


@pytest.mark.parametrize("count", [2, 3, 5, 7, 20, 64, 257])
def test_equal_deadlines_fire_in_asyncios_heap_order(
    loop: asyncio.AbstractEventLoop, count: int
) -> None:
    # asyncio keeps timers in a heapq, which is not stable: equal deadlines do
    # not fire first-in first-out. pyloop must give the very same order.
    seen: list[int] = []
    when = loop.time() - 1
    for i in range(count):
        loop.call_at(when, seen.append, i)
    run_briefly(loop)
    assert seen == _heap_order(count)


def _heap_order(count: int) -> list[int]:
    """The order asyncio's heap gives `count` equal deadlines (as heapq would)."""
    oracle = asyncio.new_event_loop()
    try:
        seen: list[int] = []
        when = oracle.time() - 1
        for i in range(count):
            oracle.call_at(when, seen.append, i)
        run_briefly(oracle)
        return seen
    finally:
        oracle.close()


def _random_timer_workload(loop: asyncio.AbstractEventLoop, seed: int) -> list[int]:
    """Schedules and cancels timers in rounds, with many equal deadlines and
    enough cancellations to make asyncio compact its heap; returns what fired."""
    rnd = random.Random(seed)
    fired: list[int] = []
    past = loop.time() - 100
    future = loop.time() + FAR * 24
    handles: list[asyncio.TimerHandle] = []
    for _ in range(rnd.randint(2, 6)):
        for _ in range(rnd.randint(0, 160)):
            base = past if rnd.random() < 0.55 else future
            n = len(handles)
            handles.append(loop.call_at(base + rnd.randint(0, 3), fired.append, n))
        for _ in range(rnd.randint(0, 140)):
            rnd.choice(handles).cancel()
        run_briefly(loop)
    for handle in handles:
        handle.cancel()
    return fired


@pytest.mark.parametrize("seed", range(40))
def test_random_timer_workload_matches_asyncio(loop: asyncio.AbstractEventLoop, seed: int) -> None:
    oracle = asyncio.new_event_loop()
    try:
        expected = _random_timer_workload(oracle, seed)
    finally:
        oracle.close()
    assert _random_timer_workload(loop, seed) == expected


def test_negative_delays_fire_by_deadline(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    loop.call_later(-1, seen.append, 1)
    loop.call_later(-2, seen.append, 2)
    loop.call_later(0, seen.append, 3)
    run_briefly(loop)
    assert seen == [2, 1, 3]


def test_ready_callbacks_run_before_expired_timers(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []
    loop.call_later(-1, lambda: (seen.append("timer"), loop.call_soon(seen.append, "late")))
    loop.call_soon(seen.append, "soon")
    run_briefly(loop)
    assert seen == ["soon", "timer"]
    run_briefly(loop)
    assert seen == ["soon", "timer", "late"]


def test_cancelled_timers_do_not_fire(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    base = loop.time() - 1
    handles = [loop.call_at(base + 0.001 * i, seen.append, i) for i in range(10)]
    for h in handles[1::3]:
        h.cancel()
    run_briefly(loop)
    assert seen == [0, 2, 3, 5, 6, 8, 9]
    assert [h.cancelled() for h in handles] == [i % 3 == 1 for i in range(10)]


def test_timer_cancelled_by_an_earlier_timer_of_the_same_iteration(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []
    base = loop.time() - 10
    victim: list[asyncio.TimerHandle] = []

    def first() -> None:
        seen.append("first")
        victim[0].cancel()

    loop.call_at(base, first)
    victim.append(loop.call_at(base + 1, seen.append, "victim"))
    loop.call_at(base + 2, seen.append, "third")
    run_briefly(loop)
    assert seen == ["first", "third"]


def test_many_cancelled_timers_are_dropped(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    handles = [loop.call_later(FAR + i, seen.append, i) for i in range(300)]
    for h in handles[:250]:
        h.cancel()
    loop.call_later(0, seen.append, -1)
    run_briefly(loop)
    assert seen == [-1]
    assert all(h.cancelled() for h in handles[:250])
    assert not any(h.cancelled() for h in handles[250:])


def test_when(loop: asyncio.AbstractEventLoop) -> None:
    at = loop.time() + 100
    assert loop.call_at(at, int).when() == at
    assert loop.call_at(12, int).when() == 12
    before = loop.time()
    later = loop.call_later(10, int)
    after = loop.time()
    assert before + 10 <= later.when() <= after + 10


def test_when_is_the_deadline_object_given(loop: asyncio.AbstractEventLoop) -> None:
    # asyncio stores call_at's `when` as given: an int stays an int.
    handle = loop.call_at(7, print)
    assert (type(handle.when()), repr(handle)) == (int, "<TimerHandle when=7 print()>")


def test_none_and_bad_times_are_type_errors(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(TypeError, match=r"^when cannot be None$"):
        loop.call_at(None, int)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^delay must not be None$"):
        loop.call_later(None, int)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        loop.call_later("1", int)  # type: ignore[arg-type]
    loop.close()
    # asyncio checks for None before it checks whether the loop is closed.
    with pytest.raises(TypeError, match=r"^when cannot be None$"):
        loop.call_at(None, int)  # type: ignore[arg-type]


def _tick() -> None:
    pass


def test_timer_repr(loop: asyncio.AbstractEventLoop) -> None:
    source = f"{__file__}:{_tick.__code__.co_firstlineno}"
    handle = loop.call_at(123.5, _tick)
    assert repr(handle) == f"<TimerHandle when=123.5 _tick() at {source}>"
    with_args = loop.call_at(7.25, print, "a", 2)
    assert repr(with_args) == "<TimerHandle when=7.25 print('a', 2)>"
    handle.cancel()
    assert repr(handle) == "<TimerHandle cancelled when=123.5>"


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


def test_clock_is_time_monotonic(loop: asyncio.AbstractEventLoop) -> None:
    readings: list[float] = []
    for _ in range(1000):
        before = time.monotonic()
        now = loop.time()
        after = time.monotonic()
        assert before <= now <= after
        readings.append(now)
    assert readings == sorted(readings)


def test_clock_moves_while_a_callback_runs(loop: asyncio.AbstractEventLoop) -> None:
    # time() is read when asked, not cached once per iteration.
    moved: list[bool] = []

    def sample() -> None:
        first = loop.time()
        moved.append(any(loop.time() != first for _ in range(100_000)))

    loop.call_soon(sample)
    run_briefly(loop)
    assert moved == [True]
