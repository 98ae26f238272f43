"""asyncio's ``sslproto.SSLProtocol`` with its data phase in Rust.

``SSLProtocol`` here derives from the native ``TlsCore`` first and asyncio's
``SSLProtocol`` second: ``TlsCore`` keeps the attributes the data phase reads
on every message as native fields under asyncio's names, and its
``get_buffer``, ``buffer_updated``, ``_do_read``, ``_do_write`` and
``_process_outgoing`` (``crates/pyloop-py/src/tls_core.rs`` and
``tls_data.rs``) do asyncio's steps on them. Everything else (handshake,
shutdown, time-outs, flow-control transitions, errors) is asyncio's own code,
inherited unchanged. ``_SSLProtocolTransport.write`` is native too. The
classes keep asyncio's names (CPython's tests look for "ssl" in the
transport's class name).
"""

from __future__ import annotations

from asyncio import sslproto

from . import _pyloop


class _SSLProtocolTransport(sslproto._SSLProtocolTransport):
    """asyncio's TLS app transport; ``write`` is native."""

    write = _pyloop.tls_transport_write


class SSLProtocol(_pyloop.TlsCore, sslproto.SSLProtocol):
    """asyncio's ``SSLProtocol``; the data phase is native."""

    def _get_app_transport(self) -> sslproto._SSLProtocolTransport:
        # asyncio's method, building the transport above.
        if self._app_transport is None:
            if self._app_transport_created:
                raise RuntimeError("Creating _SSLProtocolTransport twice")
            self._app_transport = _SSLProtocolTransport(self._loop, self)
            self._app_transport_created = True
        return self._app_transport
