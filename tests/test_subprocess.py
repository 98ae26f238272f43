"""Subprocesses: create_subprocess_exec/_shell and subprocess_exec/_shell with
stdin/stdout/stderr as PIPE, DEVNULL, STDOUT or a file descriptor; exit codes,
signals, a child closing its stdin early, argument errors, other code's
children left alone, and no zombie when the loop closes first."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT


class Recorder(asyncio.SubprocessProtocol):
    """Records the protocol calls of a subprocess transport."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.events: list[Any] = []
        self.data: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        self.lost: asyncio.Future[None] = loop.create_future()
        self.exited: asyncio.Future[int | None] = loop.create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.data[fd] += data

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.events.append(("pipe_lost", fd, exc))

    def process_exited(self) -> None:
        self.events.append("exited")
        self.exited.set_result(self.transport.get_returncode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("lost", exc))
        self.lost.set_result(None)


@contextlib.contextmanager
def temp_file(content: bytes = b"") -> Iterator[int]:
    """An fd of a temporary file holding `content`, positioned at its start."""
    with tempfile.TemporaryFile() as f:
        f.write(content)
        f.flush()
        f.seek(0)
        yield f.fileno()


def read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


# -- exec and shell, the standard streams --------------------------------------------


def test_exec_and_shell_report_output_and_exit_code(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[Any]:
        p = await asyncio.create_subprocess_exec(
            "sh", "-c", 'printf "%s|" "$@"; exit 3', "sh", "a b", b"c", stdout=PIPE
        )
        out, err = await p.communicate()
        shell = await asyncio.create_subprocess_shell("echo $((6 * 7)); exit 4", stdout=PIPE)
        shell_out, _ = await shell.communicate()
        return [out, err, p.returncode, shell_out, shell.returncode]

    assert loop.run_until_complete(main()) == [b"a b|c|", None, 3, b"42\n", 4]


def test_stdin_stdout_stderr_pipes(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[bytes, bytes, int | None]:
        p = await asyncio.create_subprocess_shell(
            "cat; echo to-stderr >&2", stdin=PIPE, stdout=PIPE, stderr=PIPE
        )
        out, err = await p.communicate(b"to-stdout\n")
        return out, err, p.returncode

    assert loop.run_until_complete(main()) == (b"to-stdout\n", b"to-stderr\n", 0)


def test_stderr_to_stdout(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[bytes, Any, int | None]:
        p = await asyncio.create_subprocess_shell(
            "echo one; echo two >&2; echo three", stdout=PIPE, stderr=STDOUT
        )
        out, err = await p.communicate()
        return out, err, p.returncode

    assert loop.run_until_complete(main()) == (b"one\ntwo\nthree\n", None, 0)


def test_devnull(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[Any]:
        p = await asyncio.create_subprocess_exec(
            "sh", "-c", "cat; echo out; echo err >&2", stdin=DEVNULL, stdout=PIPE, stderr=DEVNULL
        )
        out, err = await p.communicate()
        q = await asyncio.create_subprocess_exec("echo", "x", stdout=DEVNULL)
        return [out, err, p.stdin, p.stderr, q.stdout, await q.wait()]

    assert loop.run_until_complete(main()) == [b"out\n", None, None, None, None, 0]


def test_file_descriptors(loop: asyncio.AbstractEventLoop) -> None:
    async def main(stdin_fd: int, out_fd: int) -> tuple[int, int | None]:
        p = await asyncio.create_subprocess_shell(
            "cat; echo err >&2", stdin=stdin_fd, stdout=out_fd, stderr=STDOUT
        )
        assert (p.stdin, p.stdout, p.stderr) == (None, None, None)
        return await p.wait(), p.returncode

    with temp_file(b"from a file\n") as stdin_fd, temp_file() as out_fd:
        assert loop.run_until_complete(main(stdin_fd, out_fd)) == (0, 0)
        assert read_all(out_fd) == b"from a file\nerr\n"


def test_ten_mib_through_cat(loop: asyncio.AbstractEventLoop) -> None:
    data = os.urandom(10 * 1024 * 1024)

    async def main() -> tuple[bytes, int | None]:
        p = await asyncio.create_subprocess_exec("cat", stdin=PIPE, stdout=PIPE)
        out, _ = await p.communicate(data)
        return out, p.returncode

    out, code = loop.run_until_complete(main())
    assert code == 0
    assert len(out) == len(data)
    assert hashlib.sha256(out).digest() == hashlib.sha256(data).digest()


def test_ten_mib_through_cat_with_streams(loop: asyncio.AbstractEventLoop) -> None:
    """Writing and reading at once, through the StreamWriter/StreamReader."""
    data = os.urandom(10 * 1024 * 1024)

    async def main() -> tuple[str, int]:
        p = await asyncio.create_subprocess_exec("cat", stdin=PIPE, stdout=PIPE)
        assert p.stdin is not None and p.stdout is not None

        async def feed() -> None:
            assert p.stdin is not None
            for start in range(0, len(data), 1 << 20):
                p.stdin.write(data[start : start + (1 << 20)])
                await p.stdin.drain()
            p.stdin.close()
            await p.stdin.wait_closed()

        feeding = asyncio.ensure_future(feed())
        digest = hashlib.sha256()
        while chunk := await p.stdout.read(1 << 16):
            digest.update(chunk)
        await feeding
        return digest.hexdigest(), await p.wait()

    assert loop.run_until_complete(main()) == (hashlib.sha256(data).hexdigest(), 0)


def test_fifty_concurrent_children(loop: asyncio.AbstractEventLoop) -> None:
    async def one(n: int) -> int:
        p = await asyncio.create_subprocess_exec("sh", "-c", f"exit {n}")
        return await p.wait()

    async def main() -> list[int]:
        return await asyncio.gather(*(one(n) for n in range(50)))

    assert loop.run_until_complete(main()) == list(range(50))


# -- signals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (lambda p: p.terminate(), -signal.SIGTERM),
        (lambda p: p.kill(), -signal.SIGKILL),
        (lambda p: p.send_signal(signal.SIGUSR1), -signal.SIGUSR1),
    ],
    ids=["terminate", "kill", "send_signal"],
)
def test_signals(
    loop: asyncio.AbstractEventLoop,
    action: Callable[[asyncio.subprocess.Process], None],
    expected: int,
) -> None:
    async def main() -> tuple[int, int | None]:
        p = await asyncio.create_subprocess_exec("sleep", "30")
        assert p.returncode is None
        action(p)
        code = await p.wait()
        # Once the transport has finished, there is no process to signal.
        with pytest.raises(ProcessLookupError):
            action(p)
        return code, p.returncode

    assert loop.run_until_complete(main()) == (expected, expected)


# -- a child that stops reading ----------------------------------------------------------


def test_communicate_ignores_a_stdin_closed_early(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[bytes, int | None]:
        p = await asyncio.create_subprocess_exec("head", "-c", "10", stdin=PIPE, stdout=PIPE)
        out, _ = await p.communicate(b"x" * (10 * 1024 * 1024))
        return out, p.returncode

    assert loop.run_until_complete(main()) == (b"x" * 10, 0)


def test_drain_after_the_child_closed_stdin(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))

    async def main() -> tuple[bytes, int, BaseException | None]:
        p = await asyncio.create_subprocess_exec("head", "-c", "10", stdin=PIPE, stdout=PIPE)
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write(b"y" * 10)
        out = await p.stdout.read()
        # wait() returns once every pipe is lost, stdin too: the transport
        # saw the read end close.
        code = await p.wait()
        error = None
        try:
            p.stdin.write(b"x" * (1024 * 1024))
            await p.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            error = exc
        p.stdin.close()
        return out, code, error

    out, code, error = loop.run_until_complete(main())
    assert (out, code) == (b"y" * 10, 0)
    assert isinstance(error, (BrokenPipeError, ConnectionResetError))
    assert contexts == []


# -- the protocol-level API ------------------------------------------------------------


def test_transport_methods_and_protocol_calls(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[Any]:
        transport, proto = await loop.subprocess_exec(
            Recorder, "sh", "-c", "read line; echo $line; echo e >&2; exit 5"
        )
        assert isinstance(transport, asyncio.SubprocessTransport)
        assert proto.events == ["made"]
        pid = transport.get_pid()
        assert isinstance(pid, int)
        assert isinstance(transport.get_extra_info("subprocess"), subprocess.Popen)
        assert transport.get_extra_info("subprocess").pid == pid
        assert transport.get_returncode() is None
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        assert isinstance(transport.get_pipe_transport(1), asyncio.ReadTransport)
        assert isinstance(transport.get_pipe_transport(2), asyncio.ReadTransport)
        assert transport.get_pipe_transport(3) is None
        stdin.write(b"hello\n")
        stdin.close()
        code = await proto.exited
        await proto.lost
        events = proto.events
        assert events[0] == "made"
        assert events[-1] == ("lost", None)
        assert sorted(map(str, events[1:-1])) == sorted(
            map(
                str,
                ["exited", ("pipe_lost", 0, None), ("pipe_lost", 1, None), ("pipe_lost", 2, None)],
            )
        )
        assert not transport.is_closing()
        transport.close()
        assert transport.is_closing()
        return [code, transport.get_returncode(), bytes(proto.data[1]), bytes(proto.data[2])]

    assert loop.run_until_complete(main()) == [5, 5, b"hello\n", b"e\n"]


def test_shell_protocol_api_without_pipes(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[Any, ...]:
        transport, proto = await loop.subprocess_shell(
            Recorder, "exit 9", stdin=None, stdout=None, stderr=None
        )
        pipes = tuple(transport.get_pipe_transport(fd) for fd in (0, 1, 2))
        code = await proto.exited
        await proto.lost
        transport.close()
        return pipes, code, proto.events

    assert loop.run_until_complete(main()) == (
        (None, None, None),
        9,
        ["made", "exited", ("lost", None)],
    )


def test_close_kills_a_running_child(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[int | None, int | None]:
        transport, proto = await loop.subprocess_exec(Recorder, "sleep", "30")
        transport.close()
        code = await proto.exited
        await proto.lost
        return code, transport.get_returncode()

    assert loop.run_until_complete(main()) == (-signal.SIGKILL, -signal.SIGKILL)


def test_signals_after_the_transport_finished_raise(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        transport, proto = await loop.subprocess_exec(
            Recorder, "true", stdin=None, stdout=None, stderr=None
        )
        await proto.lost
        for call in (transport.kill, transport.terminate, lambda: transport.send_signal(0)):
            with pytest.raises(ProcessLookupError):
                call()
        transport.close()

    loop.run_until_complete(main())


def test_wait_many_times_and_concurrently(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[int]:
        p = await asyncio.create_subprocess_shell("exit 6")
        first = await asyncio.gather(p.wait(), p.wait(), p.wait())
        return [*first, await p.wait()]

    assert loop.run_until_complete(main()) == [6, 6, 6, 6]


def test_cancelled_while_starting(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> bool:
        task = asyncio.ensure_future(asyncio.create_subprocess_exec("sleep", "30"))
        loop.call_soon(task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    assert loop.run_until_complete(main())


# -- argument errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "kwargs", "error", "message"),
    [
        ("exec", {"universal_newlines": True}, ValueError, "universal_newlines must be False"),
        ("exec", {"shell": True}, ValueError, "shell must be False"),
        ("exec", {"bufsize": 1}, ValueError, "bufsize must be 0"),
        ("exec", {"text": True}, ValueError, "text must be False"),
        ("exec", {"encoding": "utf-8"}, ValueError, "encoding must be None"),
        ("exec", {"errors": "strict"}, ValueError, "errors must be None"),
        ("shell", {"universal_newlines": True}, ValueError, "universal_newlines must be False"),
        ("shell", {"shell": False}, ValueError, "shell must be True"),
        ("shell", {"bufsize": 1}, ValueError, "bufsize must be 0"),
        ("shell", {"text": True}, ValueError, "text must be False"),
        ("shell", {"encoding": "utf-8"}, ValueError, "encoding must be None"),
        ("shell", {"errors": "strict"}, ValueError, "errors must be None"),
    ],
)
def test_argument_errors(
    loop: asyncio.AbstractEventLoop,
    kind: str,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    made: list[Recorder] = []

    def factory() -> Recorder:
        made.append(Recorder())
        return made[-1]

    async def main() -> None:
        if kind == "exec":
            await loop.subprocess_exec(factory, "true", **kwargs)
        else:
            await loop.subprocess_shell(factory, "true", **kwargs)

    with pytest.raises(error) as info:
        loop.run_until_complete(main())
    assert str(info.value) == message
    assert made == []  # checked before the protocol is made


def test_shell_needs_a_string_command(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        await loop.subprocess_shell(asyncio.SubprocessProtocol, ["true"])  # type: ignore[arg-type]

    with pytest.raises(ValueError, match=r"^cmd must be a string$"):
        loop.run_until_complete(main())


def test_bad_program_arguments_are_popens_errors(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[str]:
        raised = []
        for args in (("echo", 1), ("/nonexistent/program",)):
            try:
                await asyncio.create_subprocess_exec(*args)  # type: ignore[arg-type]
            except (TypeError, OSError) as exc:
                raised.append(f"{type(exc).__name__}")
        try:
            await loop.subprocess_exec(asyncio.SubprocessProtocol, "true", cwd="/nonexistent")
        except OSError as exc:
            raised.append(type(exc).__name__)
        return raised

    assert loop.run_until_complete(main()) == [
        "TypeError",
        "FileNotFoundError",
        "FileNotFoundError",
    ]


def test_debug_logging(loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture) -> None:
    loop.set_debug(True)

    async def main() -> None:
        p = await asyncio.create_subprocess_exec("true", stdin=PIPE, stderr=STDOUT, stdout=PIPE)
        await p.communicate()
        q = await asyncio.create_subprocess_shell("exit 2", stdin=DEVNULL)
        await q.wait()

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        loop.run_until_complete(main())
    messages = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert "execute program 'true' stdin=<pipe> stdout=stderr=<pipe>" in messages
    assert f"run shell command 'exit 2' stdin={DEVNULL!r}" in messages
    assert any(m.startswith("execute program 'true': <") for m in messages)
    assert any(m.startswith("run shell command 'exit 2': <") for m in messages)
    assert any(m.endswith("exited with return code 2") for m in messages)


# -- other code's children and zombies --------------------------------------------------


def test_other_codes_children_are_left_alone(loop: asyncio.AbstractEventLoop) -> None:
    other = subprocess.Popen(["sh", "-c", "exit 3"])
    # Exited (a zombie, not reaped) before the loop's children come and go.
    os.waitid(os.P_PID, other.pid, os.WEXITED | os.WNOWAIT)

    async def main() -> list[int]:
        children = [await asyncio.create_subprocess_exec("true") for _ in range(5)]
        return [await p.wait() for p in children]

    assert loop.run_until_complete(main()) == [0] * 5
    assert other.wait() == 3


def test_no_zombie_when_the_loop_closes_first(
    request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop
) -> None:
    if request.node.callspec.params["loop_factory"] == "asyncio" and sys.version_info >= (3, 12):
        pytest.skip("asyncio's PidfdChildWatcher leaves the child to its closed loop (a zombie)")
    before = set(threading.enumerate())

    async def main() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec("sleep", "30")

    p = loop.run_until_complete(main())
    loop.close()
    os.kill(p.pid, signal.SIGKILL)
    # Whatever reaps the child after the loop closed is a thread (asyncio's
    # watcher, pyloop's reaper): once they end, the child must be gone.
    for thread in set(threading.enumerate()) - before:
        thread.join(30)
        assert not thread.is_alive()
    try:
        with open(f"/proc/{p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        pass  # reaped
    else:
        state, ppid = fields[0], int(fields[1])
        assert not (state == "Z" and ppid == os.getpid()), "a zombie was left"
    # The transport was never closed: close it so no ResourceWarning comes later.
    p._transport.close()  # type: ignore[attr-defined]


# -- pyloop's own -------------------------------------------------------------------------


@pytest.mark.pyloop_only
def test_no_child_watcher_is_used(pyloop, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    def refuse(*_args: Any) -> None:
        raise AssertionError("asyncio's child watcher was used")

    for owner in (asyncio, asyncio.events):
        if hasattr(owner, "get_child_watcher"):
            monkeypatch.setattr(owner, "get_child_watcher", refuse)

    async def main() -> tuple[int, int]:
        p = await asyncio.create_subprocess_shell("exit 4")
        q = await asyncio.create_subprocess_exec("sh", "-c", "exit 5")
        return await p.wait(), await q.wait()

    assert pyloop.run(main()) == (4, 5)
    with asyncio.Runner(loop_factory=pyloop.new_event_loop) as runner:
        assert runner.run(main()) == (4, 5)


@pytest.mark.pyloop_only
@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfd_open")
def test_a_pidfd_not_a_thread_watches_each_child(pyloop) -> None:  # type: ignore[no-untyped-def]
    async def main() -> int:
        p = await asyncio.create_subprocess_exec("sleep", "30")
        names = [t.name for t in threading.enumerate()]
        assert not any("waitpid" in name for name in names), names
        p.kill()
        return await p.wait()

    assert pyloop.run(main()) == -signal.SIGKILL


@pytest.mark.pyloop_only
@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfd_open")
def test_a_child_reaped_by_someone_else_reports_255(
    pyloop,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> tuple[int, int | None]:
        p = await asyncio.create_subprocess_exec("sleep", "30")
        # Without yielding to the loop: its status is taken before pyloop looks.
        os.kill(p.pid, signal.SIGKILL)
        os.waitpid(p.pid, 0)
        return await p.wait(), p.returncode

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        assert pyloop.run(main()) == (255, 255)
    assert any("exit status already read" in r.getMessage() for r in caplog.records)


@pytest.mark.pyloop_only
def test_a_pipe_that_fails_to_connect_raises(pyloop) -> None:  # type: ignore[no-untyped-def]
    """asyncio waits forever here (its _wait() needs connection_made first);
    pyloop kills the child, waits for its exit and raises the error."""
    lp = pyloop.new_event_loop()

    async def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("no pipe today")

    lp.connect_read_pipe = refuse

    async def main() -> None:
        await asyncio.create_subprocess_exec("sleep", "30", stdin=PIPE, stdout=PIPE)

    try:
        with pytest.raises(OSError, match="no pipe today"):
            lp.run_until_complete(main())
    finally:
        lp.close()


@pytest.mark.pyloop_only
def test_a_thread_watches_children_where_pidfds_are_missing(
    pyloop,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The macOS path (and Linux < 5.3, seccomp): waitpid(pid) in a thread."""
    from pyloop import _subprocess

    monkeypatch.setattr(_subprocess, "_open_pidfd", lambda pid: None)

    async def main() -> list[Any]:
        p = await asyncio.create_subprocess_shell("cat; exit 3", stdin=PIPE, stdout=PIPE)
        out, _ = await p.communicate(b"through a thread")
        q = await asyncio.create_subprocess_exec("sleep", "30")
        q.terminate()
        return [out, p.returncode, await q.wait()]

    assert pyloop.run(main()) == [b"through a thread", 3, -signal.SIGTERM]
