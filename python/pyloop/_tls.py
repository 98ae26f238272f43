"""TLS over the native transports: asyncio's own ``sslproto.SSLProtocol``
sits between the native socket transport and the user's protocol, so
handshakes, certificates, shutdown and every error are asyncio's; its data
phase (reading, decrypting, encrypting, writing) is native
(``_tls_protocol.SSLProtocol``, DESIGN.md section 4's measured speed step)."""

from __future__ import annotations

import asyncio
import socket
from asyncio import constants
from typing import Any

from ._tls_protocol import SSLProtocol

try:
    import ssl as _ssl
except ImportError:  # pragma: no cover - Python built without ssl
    _ssl = None  # type: ignore[assignment]


class TlsMixin:
    def _make_ssl_transport(
        self,
        rawsock: socket.socket,
        protocol: asyncio.BaseProtocol,
        sslcontext: Any,
        waiter: asyncio.Future[Any] | None = None,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        extra: dict[str, Any] | None = None,
        server: Any = None,
        ssl_handshake_timeout: float | None = constants.SSL_HANDSHAKE_TIMEOUT,
        ssl_shutdown_timeout: float | None = constants.SSL_SHUTDOWN_TIMEOUT,
        call_connection_made: bool = True,
    ) -> asyncio.Transport:
        """asyncio's selector-loop hook, same signature: the TLS transport the
        user's protocol sees."""
        tls = SSLProtocol(
            self,
            protocol,
            sslcontext,
            waiter,
            server_side,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
            call_connection_made=call_connection_made,
        )
        self._make_socket_transport(rawsock, tls, extra=extra, server=server)  # type: ignore[attr-defined]
        return tls._app_transport

    async def start_tls(
        self,
        transport: asyncio.BaseTransport,
        protocol: asyncio.BaseProtocol,
        sslcontext: Any,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> asyncio.Transport:
        """Upgrades a live connection to TLS; the old transport must not be
        used afterwards (asyncio's rules and messages)."""
        if _ssl is None:
            raise RuntimeError("Python ssl module is not available")
        if not isinstance(sslcontext, _ssl.SSLContext):
            raise TypeError(
                f"sslcontext is expected to be an instance of ssl.SSLContext, got {sslcontext!r}"
            )
        if not getattr(transport, "_start_tls_compatible", False):
            raise TypeError(f"transport {transport!r} is not supported by start_tls()")
        waiter = self.create_future()  # type: ignore[attr-defined]
        tls = SSLProtocol(
            self,
            protocol,
            sslcontext,
            waiter,
            server_side,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
            call_connection_made=False,
        )
        # No reading until the TLS protocol is in place, so no byte of the
        # handshake goes to the old protocol.
        transport.pause_reading()  # type: ignore[attr-defined]
        transport.set_protocol(tls)
        call_soon = self.call_soon  # type: ignore[attr-defined]
        made = call_soon(tls.connection_made, transport)
        resumed = call_soon(transport.resume_reading)  # type: ignore[attr-defined]
        try:
            await waiter
        except BaseException:
            transport.close()
            made.cancel()
            resumed.cancel()
            raise
        return tls._app_transport
