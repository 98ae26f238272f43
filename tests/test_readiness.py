"""add_reader / add_writer: asyncio's level-triggered readiness callbacks."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
from collections.abc import Iterator

import pytest
from conftest import nonblocking_pair, run_briefly


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with nonblocking_pair() as sockets:
        yield sockets


def test_reader_is_level_triggered(loop: asyncio.AbstractEventLoop, pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    got: list[bytes] = []

    def on_read() -> None:
        got.append(b.recv(1))  # one byte per call: the rest must call again
        if len(got) == 3:
            loop.remove_reader(b)
            loop.stop()

    loop.add_reader(b.fileno(), on_read)
    a.send(b"xyz")
    loop.run_forever()
    assert got == [b"x", b"y", b"z"]


def test_add_reader_replaces_and_remove_reports(loop: asyncio.AbstractEventLoop, pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    seen: list[str] = []
    loop.add_reader(b, seen.append, "first")
    loop.add_reader(b, lambda: (seen.append("second"), b.recv(10), loop.stop()))
    a.send(b"x")
    loop.run_forever()
    assert seen == ["second"]
    assert loop.remove_reader(b) is True
    assert loop.remove_reader(b) is False
    assert loop.remove_writer(b) is False


def test_writer_fires_when_writable(loop: asyncio.AbstractEventLoop, pair) -> None:  # type: ignore[no-untyped-def]
    _, b = pair
    calls: list[int] = []

    def on_write(tag: int) -> None:
        calls.append(tag)
        assert loop.remove_writer(b) is True
        loop.stop()

    loop.add_writer(b, on_write, 7)
    loop.run_forever()
    assert calls == [7]


def test_reader_and_writer_on_one_fd(loop: asyncio.AbstractEventLoop, pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    seen: set[str] = set()

    def done(kind: str) -> None:
        seen.add(kind)
        if kind == "read":
            b.recv(10)
            loop.remove_reader(b)
        else:
            loop.remove_writer(b)
        if seen == {"read", "write"}:
            loop.stop()

    loop.add_reader(b, done, "read")
    loop.add_writer(b, done, "write")
    a.send(b"x")
    loop.run_forever()
    assert seen == {"read", "write"}


def test_removed_reader_is_not_called(loop: asyncio.AbstractEventLoop, pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    seen: list[str] = []
    loop.add_reader(b, seen.append, "reader")
    assert loop.remove_reader(b)
    a.send(b"x")
    loop.call_later(0.02, loop.stop)
    loop.run_forever()
    assert seen == []


def test_fd_number_reused_after_close(loop: asyncio.AbstractEventLoop) -> None:
    # The first socket is removed and closed; the next one likely gets the
    # same fd number and must not inherit anything stale.
    a, b = socket.socketpair()
    loop.add_reader(b, print)
    loop.remove_reader(b)
    number = b.fileno()
    a.close()
    b.close()
    c, d = socket.socketpair()
    try:
        seen: list[int] = []
        loop.add_reader(d, lambda: (seen.append(d.fileno()), d.recv(10), loop.stop()))
        c.send(b"x")
        loop.run_forever()
        assert seen == [d.fileno()]
        assert isinstance(number, int)
        loop.remove_reader(d)
    finally:
        c.close()
        d.close()


def test_data_from_another_thread_wakes_an_idle_loop(loop: asyncio.AbstractEventLoop, pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    got: list[bytes] = []

    def on_read() -> None:
        got.append(b.recv(10))
        loop.remove_reader(b)
        loop.stop()

    loop.add_reader(b, on_read)
    sender = threading.Timer(0.05, a.send, args=(b"ping",))
    sender.start()
    loop.run_forever()  # no timer, no ready callback: only the fd can wake it
    sender.join()
    assert got == [b"ping"]


def test_failing_reader_goes_to_handler_and_stays(loop: asyncio.AbstractEventLoop, pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    contexts: list[dict[str, object]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    calls = [0]

    def on_read() -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("reader broke")
        b.recv(10)
        loop.remove_reader(b)
        loop.stop()

    loop.add_reader(b, on_read)
    a.send(b"x")
    loop.run_forever()
    assert calls[0] == 2
    assert isinstance(contexts[0]["exception"], RuntimeError)


def test_bad_fds(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
        loop.add_reader(-1, print)
    with pytest.raises(ValueError, match="Invalid file object: "):
        loop.add_writer(object(), print)
    with tempfile.TemporaryFile() as regular, pytest.raises(PermissionError):
        loop.add_reader(regular, print)  # epoll refuses regular files


def test_a_socket_closed_since_it_was_added_is_removed_by_identity(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # As asyncio's selectors: fileno() is -1 now, so the registration is
    # found by the object it was made with (anyio removes its reader after
    # closing the socket); an object never added still raises ValueError.
    a, b = socket.socketpair()
    other = socket.socket()
    other.close()
    loop.add_reader(a, lambda: None)
    loop.add_writer(b, lambda: None)
    a.close()
    b.close()
    assert loop.remove_reader(a) is True
    assert loop.remove_writer(b) is True
    for removal in (loop.remove_reader, loop.remove_writer):
        with pytest.raises(ValueError):  # no longer registered
            removal(a)
        with pytest.raises(ValueError):  # never was
            removal(other)


def test_closed_loop(loop: asyncio.AbstractEventLoop, pair) -> None:  # type: ignore[no-untyped-def]
    _, b = pair
    loop.add_reader(b, print)
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.add_reader(b, print)
    assert loop.remove_reader(b) is False


def test_ready_callbacks_do_not_starve_io(loop: asyncio.AbstractEventLoop, pair) -> None:  # type: ignore[no-untyped-def]
    # A callback that reschedules itself forever keeps the ready queue busy;
    # the reader must still run.
    a, b = pair
    spins = [0]

    def spin() -> None:
        spins[0] += 1
        loop.call_soon(spin)

    def on_read() -> None:
        b.recv(10)
        loop.remove_reader(b)
        loop.stop()

    loop.call_soon(spin)
    loop.add_reader(b, on_read)
    a.send(b"x")
    loop.run_forever()
    assert spins[0] >= 1
    run_briefly(loop)


def test_a_fd_ready_before_an_iteration_is_served_in_it(
    loop: asyncio.AbstractEventLoop, pair
) -> None:  # type: ignore[no-untyped-def]
    # asyncio polls its selector in every iteration, busy or not: data sent
    # before a sleep(0) reaches the reader in the next iteration, after the
    # sleeping task's step, so the task sees it after its second sleep(0).
    # Tests count on it (websockets' assertFrameSent).
    a, b = pair
    order: list[str] = []

    def on_read() -> None:
        order.append(f"read {b.recv(10)!r}")

    async def sender() -> None:
        loop.add_reader(b, on_read)
        for turn in range(3):
            a.send(b"%d" % turn)
            await asyncio.sleep(0)
            order.append("step")
            await asyncio.sleep(0)
            order.append("step")
        loop.remove_reader(b)

    loop.run_until_complete(sender())
    assert order == [entry for turn in range(3) for entry in ("step", f"read b'{turn}'", "step")]


def nonblocking_socketpair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def _reuse_number(number: int, replacement: int) -> None:
    """Closes the file ``number`` names and gives the number to the file
    ``replacement`` names, in one step (dup2), so no other file takes it."""
    os.dup2(replacement, number, inheritable=False)
    os.close(replacement)


@pytest.mark.parametrize("how", ["sock_recv", "add_reader"])
def test_closed_socket_number_given_to_another_socket(
    loop: asyncio.AbstractEventLoop, how: str
) -> None:
    # A socket's registration may outlive its last reader (pyloop keeps it
    # for the next wait); once the socket is closed and its number names a
    # new socket, waiting on the number must hear the new socket.
    async def wait_readable(sock: socket.socket) -> bytes:
        if how == "sock_recv":
            return await loop.sock_recv(sock, 10)
        ready = loop.create_future()
        loop.add_reader(sock, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            loop.remove_reader(sock)
        return sock.recv(10)

    async def main() -> bytes:
        a, b = nonblocking_socketpair()
        loop.call_soon(a.send, b"old")  # after the wait has begun
        assert await wait_readable(b) == b"old"
        number = b.detach()
        c, d = nonblocking_socketpair()
        _reuse_number(number, d.detach())
        a.close()  # only now: its hang-up must not reach the old socket
        e = socket.socket(fileno=number)
        with c, e:
            loop.call_later(0.01, c.send, b"new")
            return await asyncio.wait_for(wait_readable(e), 10)

    assert loop.run_until_complete(main()) == b"new"


def test_closed_socket_number_given_to_a_pipe(loop: asyncio.AbstractEventLoop) -> None:
    # The same, with a pipe taking the number: not a socket, registered anew.
    async def main() -> bytes:
        a, b = nonblocking_socketpair()
        loop.call_soon(a.send, b"x")
        assert await loop.sock_recv(b, 10) == b"x"
        number = b.detach()
        rfd, wfd = os.pipe()
        os.set_blocking(rfd, False)
        _reuse_number(number, rfd)
        a.close()
        try:
            ready = loop.create_future()
            loop.add_reader(number, lambda: ready.done() or ready.set_result(None))
            loop.call_later(0.01, os.write, wfd, b"pipe")
            await asyncio.wait_for(ready, 10)
            loop.remove_reader(number)
            return os.read(number, 10)
        finally:
            os.close(number)
            os.close(wfd)

    assert loop.run_until_complete(main()) == b"pipe"


def test_socket_waited_on_again_and_again(loop: asyncio.AbstractEventLoop, pair) -> None:  # type: ignore[no-untyped-def]
    # Alternating waits in both directions on one socket, each ended before
    # the next starts: every wait still hears its own readiness.
    a, b = pair

    async def main() -> list[bytes]:
        got = []
        for i in range(50):
            loop.call_soon(a.send, bytes([i]))
            got.append(await loop.sock_recv(b, 10))
            await loop.sock_sendall(b, bytes([i]))
            assert a.recv(10) == bytes([i])
        return got

    assert loop.run_until_complete(main()) == [bytes([i]) for i in range(50)]
