"""Making native transports: the setup that runs once per connection or
endpoint. The transports themselves (reads, writes, flow control, closing)
are Rust: ``SocketTransport`` for stream sockets (``transport.rs``) and
``DatagramTransport`` for datagram sockets (``datagram.rs``)."""

from __future__ import annotations

import asyncio
import socket
import sys
import warnings
from asyncio import constants, futures, trsock
from typing import Any

from ._native_face import NativeTransportFace
from ._pyloop import DatagramTransport as _NativeDatagramTransport
from ._pyloop import SocketTransport as _NativeSocketTransport


class _AsyncioFace(asyncio.Transport):
    """What a native transport reports as its ``__class__``. It cannot
    inherit from ``asyncio.Transport`` (whose ``__slots__`` give it a layout
    of its own), but ``isinstance`` falls back to ``__class__`` when the type
    check fails (as it does for mocks), so ``isinstance(t, asyncio.Transport)``
    holds, as CPython's tests and some libraries check."""

    __slots__ = ()


class SocketTransport(_NativeSocketTransport):
    """The stream transport of TCP and Unix sockets."""

    # loop.start_tls() may put TLS on top of it.
    _start_tls_compatible = True
    # loop.sendfile() tries os.sendfile on its fd (_transport_sendfile.py).
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return _AsyncioFace

    def __del__(self, _warn: Any = warnings.warn) -> None:
        # As asyncio's: a transport dropped before it was closed says so.
        sock = self._sock
        if sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            sock.close()


class _DatagramFace(asyncio.Transport, asyncio.DatagramTransport):
    """asyncio's selector datagram transport is a ``Transport`` (and from
    3.12 a ``DatagramTransport`` too); this face is both."""

    __slots__ = ()


class DatagramTransport(NativeTransportFace, _NativeDatagramTransport):
    """The transport of datagram sockets (UDP, Unix datagram sockets)."""

    __slots__ = ()
    face = _DatagramFace
    resource = "_sock"


def _set_nodelay(sock: socket.socket) -> None:
    # As asyncio: small writes of request/response protocols go out at once.
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _socket_extra(sock: socket.socket, extra: dict[str, Any] | None) -> dict[str, Any]:
    info = dict(extra) if extra else {}
    info["socket"] = trsock.TransportSocket(sock)
    try:
        info["sockname"] = sock.getsockname()
    except OSError:
        info["sockname"] = None
    if "peername" not in info:
        try:
            info["peername"] = sock.getpeername()
        except OSError:
            info["peername"] = None
    return info


class TransportMixin:
    def _make_socket_transport(
        self,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        *,
        extra: dict[str, Any] | None = None,
        server: Any = None,
    ) -> SocketTransport:
        """asyncio's selector-loop hook, same signature: the transport, with
        ``connection_made``, the first read and the waiter scheduled in
        asyncio's order."""
        _set_nodelay(sock)
        transport = SocketTransport(self, sock, protocol, _socket_extra(sock, extra), server)
        self._transports[sock.fileno()] = transport  # type: ignore[attr-defined]
        if server is not None:
            if _ATTACH_TAKES_TRANSPORT:
                server._attach(transport)
            else:
                server._attach()
        call_soon = self.call_soon  # type: ignore[attr-defined]
        call_soon(protocol.connection_made, transport)
        call_soon(transport._start_reading)
        if waiter is not None:
            call_soon(futures._set_result_unless_cancelled, waiter, None)
        return transport

    def _make_datagram_transport(
        self,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        address: Any = None,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> DatagramTransport:
        """asyncio's selector-loop hook, same signature and order:
        ``connection_made``, then reading, then the waiter."""
        transport = DatagramTransport(self, sock, protocol, address, _socket_extra(sock, extra))
        self._transports[sock.fileno()] = transport  # type: ignore[attr-defined]
        call_soon = self.call_soon  # type: ignore[attr-defined]
        call_soon(protocol.connection_made, transport)
        call_soon(transport._start_reading)
        if waiter is not None:
            call_soon(futures._set_result_unless_cancelled, waiter, None)
        return transport


# 3.13 made the server track its transports (for close_clients()); the
# native side passes the transport to `_detach` under the same rule.
_ATTACH_TAKES_TRANSPORT = sys.version_info >= (3, 13)
