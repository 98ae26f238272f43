"""The ways in: pyloop.run, asyncio.Runner, the policy, install, python -m pyloop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pyloop


async def _loop_type() -> type:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


def test_run() -> None:
    assert pyloop.run(_loop_type()) is pyloop.Loop
    assert pyloop.PyLoop is pyloop.Loop


def test_run_debug() -> None:
    async def debug() -> bool:
        return asyncio.get_running_loop().get_debug()

    assert pyloop.run(debug(), debug=True) is True


def test_runner_loop_factory() -> None:
    with asyncio.Runner(loop_factory=pyloop.new_event_loop) as runner:
        assert runner.run(_loop_type()) is pyloop.Loop
        assert isinstance(runner.get_loop(), asyncio.AbstractEventLoop)


@pytest.fixture
def restore_policy():  # type: ignore[no-untyped-def]
    yield
    asyncio.set_event_loop_policy(None)


def test_policy_with_asyncio_run(restore_policy: None) -> None:
    asyncio.set_event_loop_policy(pyloop.EventLoopPolicy())
    assert asyncio.run(_loop_type()) is pyloop.Loop
    loop = asyncio.new_event_loop()
    assert isinstance(loop, pyloop.Loop)
    loop.close()


def test_install(restore_policy: None) -> None:
    pyloop.install()
    assert isinstance(asyncio.get_event_loop_policy(), pyloop.EventLoopPolicy)
    assert asyncio.run(_loop_type()) is pyloop.Loop


SCRIPT = """
import asyncio, sys
async def main():
    print(type(asyncio.get_running_loop()).__module__, sys.argv[1:])
asyncio.run(main())
"""


def test_python_m_pyloop_runs_a_script(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out = subprocess.run(
        [sys.executable, "-m", "pyloop", str(script), "a", "b"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "pyloop._loop ['a', 'b']"


def test_python_m_pyloop_without_arguments_shows_usage() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pyloop"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert "usage: python -m pyloop" in out.stderr
