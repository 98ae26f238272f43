"""Unix stream sockets: ``create_unix_connection`` and ``create_unix_server``.

Once-per-call orchestration with asyncio's checks and messages: paths (str,
bytes or path-like; a leading NUL byte is Linux's abstract namespace), a
stale socket file left by an earlier server is removed (a socket only, never
another kind of file), and on 3.13+ the server unlinks its file when closed
(``cleanup_socket``). Accepting and the transport are the TCP mixin's.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import stat
from asyncio.base_events import Server
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._tcp import _check_address_or_sock, _check_ssl_timeouts, asyncio_has_keyword, keyword_if

logger = logging.getLogger("asyncio")

if TYPE_CHECKING:
    from ._tcp import TcpMixin as _Base
else:
    _Base = object


def _has_cleanup_socket() -> bool:
    unix_events = getattr(asyncio, "unix_events", None)
    if unix_events is None:
        return False
    return asyncio_has_keyword(
        unix_events._UnixSelectorEventLoop.create_unix_server, "cleanup_socket"
    )


_HAS_CLEANUP_SOCKET = _has_cleanup_socket()


def _is_abstract(path: str | bytes) -> bool:
    # Linux's abstract namespace: no file in the file system to look at.
    return bool(path) and path[0] in (0, "\0")


def _check_unix_stream(sock: socket.socket) -> None:
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")


def _remove_stale_socket(path: str | bytes) -> None:
    """An earlier server's socket file would make bind() fail; only a socket
    is removed, never a regular file that happens to have that name."""
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        # The directory may allow creating the socket and nothing else.
        logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)


def _bind_unix(sock: socket.socket, path: str | bytes) -> None:
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
        raise
    except BaseException:
        sock.close()
        raise


class UnixMixin(_Base):
    # Listening sockets whose file is unlinked on close (3.13's
    # cleanup_socket), with the inode bound, so a file that replaced ours
    # since is left alone.
    _unix_server_inodes: dict[socket.socket, int] | None = None

    async def create_unix_connection(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        path: str | bytes | os.PathLike[Any] | None = None,
        *,
        ssl: Any = None,
        sock: socket.socket | None = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        assert server_hostname is None or isinstance(server_hostname, str)
        if ssl:
            if server_hostname is None:
                raise ValueError("you have to pass server_hostname when using ssl")
        else:
            if server_hostname is not None:
                raise ValueError("server_hostname is only meaningful with ssl")
            _check_ssl_timeouts(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        _check_address_or_sock(path is not None, sock, "path", "no path and sock were specified")
        if path is not None:
            path = os.fspath(path)
        else:
            _check_unix_stream(sock)

        owned = sock is None
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
            try:
                sock.setblocking(False)
                await self.sock_connect(sock, path)
            except BaseException:
                sock.close()
                raise
        else:
            sock.setblocking(False)
        return await self._create_connection_transport(
            sock,
            protocol_factory,
            ssl,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
            close_on_error=owned,
        )

    @keyword_if(_HAS_CLEANUP_SOCKET, "cleanup_socket")
    async def create_unix_server(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        path: str | bytes | os.PathLike[Any] | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        start_serving: bool = True,
        cleanup_socket: bool = True,
    ) -> Server:
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        _check_ssl_timeouts(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        _check_address_or_sock(
            path is not None, sock, "path", "path was not specified, and no sock specified"
        )
        if path is not None:
            path = os.fspath(path)
        else:
            _check_unix_stream(sock)

        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if not _is_abstract(path):  # type: ignore[arg-type]
                _remove_stale_socket(path)  # type: ignore[arg-type]
            _bind_unix(sock, path)  # type: ignore[arg-type]
        if _HAS_CLEANUP_SOCKET and cleanup_socket:
            self._remember_socket_file(sock)
        return await self._new_server(
            [sock],
            protocol_factory,
            ssl,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
            start_serving,
        )

    def _remember_socket_file(self, sock: socket.socket) -> None:
        path = sock.getsockname()
        if _is_abstract(path):
            return
        try:
            inode = os.stat(path).st_ino
        except FileNotFoundError:
            return
        if self._unix_server_inodes is None:
            self._unix_server_inodes = {}
        self._unix_server_inodes[sock] = inode

    def _stop_serving(self, sock: socket.socket) -> None:
        inodes = self._unix_server_inodes
        inode = inodes.pop(sock, None) if inodes else None
        path = None
        if inode is not None:
            try:
                path = sock.getsockname()  # before the close below
            except OSError:
                pass  # closed by its owner already: its name is gone with it
        super()._stop_serving(sock)
        if path is None:
            return
        try:
            if os.stat(path).st_ino == inode:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            logger.error("Unable to clean up listening UNIX socket %r: %r", path, err)
