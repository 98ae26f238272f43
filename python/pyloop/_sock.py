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


class SockMixin:
    def _check_sock(self, sock: socket.socket) -> None:
        if ssl is not None and isinstance(sock, ssl.SSLSocket):
            raise TypeError("Socket cannot be of type SSLSocket")
        if self.get_debug() and sock.gettimeout() != 0:  # type: ignore[attr-defined]
            raise ValueError("the socket must be non-blocking")

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
        done = self.create_future()  # type: ignore[attr-defined]
        fd = sock.fileno()

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
        return await done

    async def _native_wait(self, fd: int, read: bool, pending: Any) -> Any:
        """Awaits a native socket call's future; a cancelled await drops the
        call's fd registration (unread data stays in the socket)."""
        try:
            return await pending
        except BaseException:
            self._sock_cancel(fd, read, pending)  # type: ignore[attr-defined]
            raise

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        self._check_sock(sock)
        fd = sock.fileno()
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
