"""The low-level socket coroutines (``sock_recv``, ``sock_sendall``, ...).

Each one tries its call at once; when the socket would block it waits for
native fd readiness (``add_reader``/``add_writer``) and tries again, until
the call completes or fails. The bytes are moved by the socket module; this
is once-per-call orchestration. ``sock_recv`` and ``sock_sendall``, the hot
pair, make their system calls natively instead (``sock_io.rs``). Cancelling a
waiting call removes its interest and leaves unread data in the socket.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

try:
    import ssl
except ImportError:  # pragma: no cover - Python built without ssl
    ssl = None  # type: ignore[assignment]

_WOULD_BLOCK = (BlockingIOError, InterruptedError)


def _is_ip_literal(host: Any, family: int) -> bool:
    try:
        socket.inet_pton(family, host)
    except (OSError, TypeError, ValueError):
        return False
    return True


def check_not_ssl_socket(sock: Any) -> None:
    if ssl is not None and isinstance(sock, ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")


class SockMixin:
    def _check_sock(self, sock: socket.socket) -> None:
        check_not_ssl_socket(sock)
        if self.get_debug() and sock.gettimeout() != 0:  # type: ignore[attr-defined]
            raise ValueError("the socket must be non-blocking")

    # -- fds owned by transports ------------------------------------------------
    #
    # As asyncio's selector loop: a live transport's fd must not get another
    # reader or writer behind its back. A closing transport no longer counts.

    def _ensure_fd_no_transport(self, fd: Any) -> None:
        fileno = fd
        if not isinstance(fileno, int):
            try:
                fileno = int(fd.fileno())
            except (AttributeError, TypeError, ValueError):
                raise ValueError(f"Invalid file object: {fd!r}") from None
        self._check_fd_free(fileno, fd)

    def _check_fd_free(self, fileno: int, shown: Any) -> None:
        """Raises asyncio's RuntimeError if a live transport owns `fileno`;
        `shown` is what the caller passed, for the message."""
        transport = self._live_transport(fileno)
        if transport is not None:
            raise RuntimeError(f"File descriptor {shown!r} is used by transport {transport!r}")

    def _live_transport(self, fileno: int) -> Any:
        transports = self._transports  # type: ignore[attr-defined]
        # The mapping's own dict: a C-level miss for the common case (the
        # WeakValueDictionary's methods are Python code, ~15x slower).
        if fileno not in transports.data:
            return None
        transport = transports.get(fileno)
        if transport is None or transport.is_closing():
            return None
        return transport

    async def _when_ready(
        self,
        sock: socket.socket,
        read: bool,
        attempt: Callable[[], Any],
        *,
        try_first: bool = True,
    ) -> Any:
        """Runs `attempt` now (unless `try_first` is False) and then each time
        the socket is ready, until it returns or raises something other than
        "would block"."""
        if try_first:
            try:
                result = attempt()
            except _WOULD_BLOCK:
                pass
            else:
                return result
        fd = sock.fileno()
        # asyncio refuses only a call that has to wait on a transport's fd.
        self._check_fd_free(fd, fd)
        done = self.create_future()  # type: ignore[attr-defined]

        def retry() -> None:
            if done.done():
                return
            try:
                result = attempt()
            except _WOULD_BLOCK:
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                unregister(None)
                done.set_exception(exc)
            else:
                # Unregistered at once, not from the done callback one
                # iteration later: the fd's readiness is then never
                # re-checked in between.
                unregister(None)
                done.set_result(result)

        handle = self._add_io(fd, read, retry, ())  # type: ignore[attr-defined]

        def unregister(_: object) -> None:
            # Cancelled: already removed, or replaced by a later
            # add_reader/add_writer on this fd, which must stay.
            if not handle.cancelled():
                self._remove_io(fd, read)  # type: ignore[attr-defined]

        done.add_done_callback(unregister)
        try:
            return await done
        finally:
            # A failure's traceback holds this frame, and the future holds the
            # failure: a cycle that would keep both until the GC ran.
            done = None

    async def _native_wait(self, fd: int, read: bool, pending: Any) -> Any:
        """Awaits a native socket call's future; a cancelled await drops the
        call's fd registration (unread data stays in the socket)."""
        try:
            return await pending
        except BaseException:
            self._sock_cancel(fd, read, pending)  # type: ignore[attr-defined]
            raise
        finally:
            pending = None  # as in _when_ready: no cycle through a failure

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        self._check_sock(sock)
        fd = sock.fileno()
        # (The dict test first keeps this hot path free of a method call.)
        if fd in self._transports.data and self._live_transport(fd) is not None:  # type: ignore[attr-defined]
            # Refused only if it would wait (as asyncio), and before the
            # native call could register over the transport's reader.
            try:
                return sock.recv(nbytes)
            except _WOULD_BLOCK:
                self._check_fd_free(fd, fd)
        got = self._sock_recv(fd, nbytes)  # type: ignore[attr-defined]
        if type(got) is bytes:
            return got
        return await self._native_wait(fd, True, got)

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        self._check_sock(sock)
        return await self._when_ready(sock, True, lambda: sock.recv_into(buf))

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Any]:
        self._check_sock(sock)
        return await self._when_ready(sock, True, lambda: sock.recvfrom(bufsize))

    async def sock_recvfrom_into(
        self, sock: socket.socket, buf: Any, nbytes: int = 0
    ) -> tuple[int, Any]:
        self._check_sock(sock)
        return await self._when_ready(sock, True, lambda: sock.recvfrom_into(buf, nbytes))

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        self._check_sock(sock)
        fd = sock.fileno()
        if fd in self._transports.data and self._live_transport(fd) is not None:  # type: ignore[attr-defined]
            # As in sock_recv: asyncio sends what goes at once, then refuses.
            try:
                sent = sock.send(data)
            except _WOULD_BLOCK:
                sent = 0
            if sent == len(data):
                return
            self._check_fd_free(fd, fd)
        pending = self._sock_sendall(fd, data)  # type: ignore[attr-defined]
        if pending is not None:
            await self._native_wait(fd, False, pending)

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Any) -> int:
        self._check_sock(sock)
        return await self._when_ready(sock, False, lambda: sock.sendto(data, address))

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Any]:
        self._check_sock(sock)

        def attempt() -> tuple[socket.socket, Any]:
            conn, address = sock.accept()
            conn.setblocking(False)
            return conn, address

        return await self._when_ready(sock, True, attempt)

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        self._check_sock(sock)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_ip_literal(
            address[0], sock.family
        ):
            # Resolve names off the loop thread, as asyncio does.
            infos = await self.getaddrinfo(  # type: ignore[attr-defined]
                address[0], address[1], family=sock.family, type=sock.type, proto=sock.proto
            )
            address = infos[0][4]
        try:
            sock.connect(address)
        except _WOULD_BLOCK:
            pass
        else:
            return

        def connected() -> None:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != 0:
                raise OSError(err, f"Connect call failed {address}")

        await self._when_ready(sock, False, connected, try_first=False)
