"""The ways in: pyloop.run, asyncio.Runner(loop_factory=...), the policy with
asyncio.run, pyloop.install, and `python -m pyloop script.py`. Each checks the
loop that actually runs is a pyloop.Loop, and that pyloop.run keeps
asyncio.run's contract (the differential cases)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import LOOP_NAMES


async def _running_loop() -> asyncio.AbstractEventLoop:
    await asyncio.sleep(0)
    return asyncio.get_running_loop()


def test_run(pyloop: ModuleType) -> None:
    loop = pyloop.run(_running_loop())
    assert type(loop) is pyloop.Loop
    assert loop.is_closed()
    assert pyloop.PyLoop is pyloop.Loop
    assert issubclass(pyloop.Loop, asyncio.AbstractEventLoop)


def test_new_event_loop(pyloop: ModuleType) -> None:
    first, second = pyloop.new_event_loop(), pyloop.new_event_loop()
    try:
        assert type(first) is pyloop.Loop and first is not second
        assert first.run_until_complete(_running_loop()) is first
    finally:
        first.close()
        second.close()


def test_runner_loop_factory(pyloop: ModuleType) -> None:
    with asyncio.Runner(loop_factory=pyloop.new_event_loop) as runner:
        loop = runner.get_loop()
        assert type(loop) is pyloop.Loop
        # One loop serves every run() of the runner.
        assert runner.run(_running_loop()) is loop
        assert runner.run(_running_loop()) is loop
    assert loop.is_closed()


@pytest.fixture
def restore_policy() -> Iterator[None]:
    yield
    asyncio.set_event_loop_policy(None)


def test_policy_with_asyncio_run(pyloop: ModuleType, restore_policy: None) -> None:
    asyncio.set_event_loop_policy(pyloop.EventLoopPolicy())
    assert type(asyncio.run(_running_loop())) is pyloop.Loop
    loop = asyncio.new_event_loop()
    try:
        assert type(loop) is pyloop.Loop
    finally:
        loop.close()
    with asyncio.Runner() as runner:
        assert type(runner.get_loop()) is pyloop.Loop


def test_policy_get_event_loop_outside_a_running_loop(
    pyloop: ModuleType, restore_policy: None
) -> None:
    asyncio.set_event_loop_policy(pyloop.EventLoopPolicy())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        assert asyncio.get_event_loop() is loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_install(pyloop: ModuleType, restore_policy: None) -> None:
    pyloop.install()
    assert isinstance(asyncio.get_event_loop_policy(), pyloop.EventLoopPolicy)
    assert type(asyncio.run(_running_loop())) is pyloop.Loop


# -- pyloop.run keeps asyncio.run's contract -----------------------------------------

Run = Callable[..., Any]


@pytest.fixture(params=LOOP_NAMES)
def run(request: pytest.FixtureRequest) -> Run:
    """asyncio.run, or pyloop.run: the same scenarios must behave the same."""
    if request.param == "asyncio":
        return asyncio.run
    import pyloop

    return pyloop.run


def test_run_returns_and_raises(run: Run) -> None:
    async def answer() -> int:
        return 42

    async def fail() -> None:
        raise ValueError("from main")

    assert run(answer()) == 42
    with pytest.raises(ValueError, match=r"^from main$"):
        run(fail())


def test_run_debug_flag(run: Run) -> None:
    async def debug() -> bool:
        return asyncio.get_running_loop().get_debug()

    assert run(debug(), debug=True) is True
    assert run(debug(), debug=False) is False


def test_run_rejects_a_non_coroutine(run: Run) -> None:
    with pytest.raises(ValueError, match=r"^a coroutine was expected, got 42$"):
        run(42)


def test_run_inside_a_running_loop(run: Run) -> None:
    outcome: list[str] = []

    async def inner() -> None:
        pass

    async def outer() -> None:
        coro = inner()
        try:
            run(coro)
        except RuntimeError as exc:
            outcome.append(str(exc))
        finally:
            coro.close()

    asyncio.run(outer())
    [message] = outcome
    assert message.endswith("cannot be called from a running event loop")


def test_run_cleans_up_tasks_generators_and_executor(run: Run) -> None:
    log: list[str] = []
    state: dict[str, Any] = {}

    async def forgotten() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            log.append("task cancelled")
            raise

    async def gen() -> Any:
        try:
            yield 1
            yield 2
        finally:
            log.append("generator closed")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        state["loop"] = loop
        state["task"] = asyncio.create_task(forgotten())
        state["gen"] = gen()
        await state["gen"].__anext__()
        await loop.run_in_executor(None, int)
        state["executor"] = loop._default_executor  # type: ignore[attr-defined]
        await asyncio.sleep(0)

    run(main())
    assert log == ["task cancelled", "generator closed"]
    assert state["task"].cancelled()
    assert state["loop"].is_closed()
    assert state["executor"]._shutdown
    assert asyncio._get_running_loop() is None


def test_run_reports_a_task_failing_while_cancelled(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise ValueError("on cancel") from None

    tasks: list[asyncio.Task[None]] = []

    async def main() -> None:
        tasks.append(asyncio.create_task(fails_on_cancel()))
        await asyncio.sleep(0)

    run(main())
    messages = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert len(messages) == 1
    assert messages[0].startswith("unhandled exception during asyncio.run() shutdown")


# -- python -m pyloop --------------------------------------------------------------

SCRIPT = """
import asyncio, sys
import pyloop

async def main():
    loop = asyncio.get_running_loop()
    print(type(loop).__module__ + "." + type(loop).__qualname__)
    print(isinstance(loop, pyloop.Loop))
    print(sys.argv)
    print(__name__)

asyncio.run(main())
"""


def test_python_m_pyloop_runs_a_script(pyloop: ModuleType, tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out = subprocess.run(
        [sys.executable, "-m", "pyloop", str(script), "a", "--flag", "b c"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    loop_type = f"{pyloop.Loop.__module__}.{pyloop.Loop.__qualname__}"
    assert out.stdout.splitlines() == [
        loop_type,
        "True",
        str([str(script), "a", "--flag", "b c"]),
        "__main__",
    ]


def test_python_m_pyloop_passes_the_scripts_exit_status(tmp_path: Path) -> None:
    script = tmp_path / "exits.py"
    script.write_text("import sys\nsys.exit(3)\n")
    out = subprocess.run(
        [sys.executable, "-m", "pyloop", str(script)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 3, out.stderr


def test_python_m_pyloop_without_arguments_shows_usage() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pyloop"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert "usage: python -m pyloop" in out.stderr
