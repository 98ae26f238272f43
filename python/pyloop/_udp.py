"""Datagram endpoints: ``create_datagram_endpoint`` (UDP over IPv4 and IPv6,
and Unix datagram sockets).

The once-per-call part, with asyncio's argument checks, messages and
exception types: name resolution through ``self.getaddrinfo``, pairing the
local and remote addresses by (family, protocol), creating, binding and
connecting the socket. The datagrams are moved by the native transport that
``self._make_datagram_transport`` builds (asyncio's selector-loop hook, same
signature): it schedules ``connection_made``, starts reading and resolves the
waiter.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from asyncio import base_events
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _compat
from ._tcp import _close_quietly, _set_reuse_port
from ._unix import _is_abstract, _remove_stale_socket

logger = logging.getLogger("asyncio")

# ((family, proto), (local address, remote address)): one socket to try.
_Candidate = tuple[tuple[int, int], tuple[Any, Any]]

if TYPE_CHECKING:
    _LoopBase = asyncio.AbstractEventLoop
else:
    _LoopBase = object


def _check_datagram_sock(sock: socket.socket) -> None:
    if _compat.ANY_DATAGRAM_SOCK:
        # Raw sockets (a CAN bus, ICMP) are datagram sockets too.
        if sock.type == socket.SOCK_STREAM:
            raise ValueError(f"A datagram socket was expected, got {sock!r}")
    elif sock.type != socket.SOCK_DGRAM:
        raise ValueError(f"A UDP Socket was expected, got {sock!r}")


def _refuse_socket_modifiers(**options: Any) -> None:
    """With ``sock=``, the caller made the socket: every option that would
    shape one is refused, the truthy ones named in the message."""
    given = [f"{name}={value}" for name, value in options.items() if value]
    if given:
        raise ValueError(
            "socket modifier keyword arguments can not be used "
            f"when sock is specified. ({', '.join(given)})"
        )


def _unix_candidates(
    local_addr: Any, remote_addr: Any, family: int, proto: int
) -> list[_Candidate]:
    for addr in (local_addr, remote_addr):
        # Only str: bytes and path-like objects are refused, as asyncio does.
        if addr is not None and not isinstance(addr, str):
            raise TypeError("string is expected")
    if local_addr and not _is_abstract(local_addr):
        # A socket file left by an earlier endpoint would make bind() fail.
        _remove_stale_socket(local_addr)
    return [((family, proto), (local_addr, remote_addr))]


class UdpMixin(_LoopBase):
    if TYPE_CHECKING:

        def _make_datagram_transport(
            self,
            sock: socket.socket,
            protocol: asyncio.BaseProtocol,
            address: Any = None,
            waiter: asyncio.Future[Any] | None = None,
            extra: dict[str, Any] | None = None,
        ) -> asyncio.DatagramTransport: ...

        async def _ensure_resolved(
            self,
            address: tuple[Any, ...],
            *,
            family: int = 0,
            type: int = socket.SOCK_STREAM,
            proto: int = 0,
            flags: int = 0,
            loop: Any = None,
        ) -> list[tuple[Any, ...]]: ...

    async def create_datagram_endpoint(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        local_addr: Any = None,
        remote_addr: Any = None,
        *,
        family: int = 0,
        proto: int = 0,
        flags: int = 0,
        reuse_port: bool | None = None,
        allow_broadcast: bool | None = None,
        sock: socket.socket | None = None,
    ) -> tuple[asyncio.DatagramTransport, asyncio.BaseProtocol]:
        # No reuse_address: 3.11 removed it (SO_REUSEADDR lets another
        # process take a UDP port), so it is an unknown keyword here too.
        if sock is not None:
            _check_datagram_sock(sock)
            _refuse_socket_modifiers(
                local_addr=local_addr,
                remote_addr=remote_addr,
                family=family,
                proto=proto,
                flags=flags,
                reuse_port=reuse_port,
                allow_broadcast=allow_broadcast,
            )
            sock.setblocking(False)
            r_addr = None
            owned = False
        else:
            candidates = await self._datagram_candidates(
                local_addr, remote_addr, family, proto, flags
            )
            sock, r_addr = await self._open_datagram_socket(
                candidates, bool(local_addr), bool(remote_addr), reuse_port, allow_broadcast
            )
            owned = True

        try:
            protocol = protocol_factory()
            waiter = self.create_future()
            transport = self._make_datagram_transport(sock, protocol, r_addr, waiter)
        except BaseException:
            # A socket this call made must not wait for the GC to be closed.
            if owned:
                _close_quietly(sock)
            raise
        if self.get_debug():
            if local_addr:
                logger.info(
                    "Datagram endpoint local_addr=%r remote_addr=%r created: (%r, %r)",
                    local_addr,
                    remote_addr,
                    transport,
                    protocol,
                )
            else:
                logger.debug(
                    "Datagram endpoint remote_addr=%r created: (%r, %r)",
                    remote_addr,
                    transport,
                    protocol,
                )
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol

    async def _datagram_candidates(
        self, local_addr: Any, remote_addr: Any, family: int, proto: int, flags: int
    ) -> list[_Candidate]:
        """The sockets to try, in order: one per (family, protocol) that has
        an address for each of the addresses given."""
        if not (local_addr or remote_addr):
            if family == 0:
                raise ValueError("unexpected address family")
            return [((family, proto), (None, None))]
        if family == socket.AF_UNIX:
            return _unix_candidates(local_addr, remote_addr, family, proto)

        # (family, proto) -> [local address, remote address], in the order
        # the resolver gave them (local first).
        pairs: dict[tuple[int, int], list[Any]] = {}
        for index, addr in enumerate((local_addr, remote_addr)):
            if addr is None:
                continue
            if not (isinstance(addr, tuple) and len(addr) == 2):
                raise TypeError("2-tuple is expected")
            infos = await self._ensure_resolved(
                addr, family=family, type=socket.SOCK_DGRAM, proto=proto, flags=flags, loop=self
            )
            if not infos:
                raise OSError("getaddrinfo() returned empty list")
            for info_family, _, info_proto, _, address in infos:
                pairs.setdefault((info_family, info_proto), [None, None])[index] = address

        candidates: list[_Candidate] = [
            (key, (pair[0], pair[1]))
            for key, pair in pairs.items()
            if not ((local_addr and pair[0] is None) or (remote_addr and pair[1] is None))
        ]
        if not candidates:
            # e.g. an IPv4 local address with an IPv6 remote one.
            raise ValueError("can not get address information")
        return candidates

    async def _open_datagram_socket(
        self,
        candidates: list[_Candidate],
        bind: bool,
        connect: bool,
        reuse_port: bool | None,
        allow_broadcast: bool | None,
    ) -> tuple[socket.socket, Any]:
        """The first candidate socket that can be made, bound and connected,
        with the remote address the transport sends to (None if none); if
        none can, the first candidate's error."""
        exceptions: list[OSError] | None = []
        for (family, proto), (local_address, remote_address) in candidates:
            sock = None
            try:
                # Through asyncio's module global: CPython's tests patch
                # `asyncio.base_events.socket` to fake the socket.
                sock = base_events.socket.socket(family=family, type=socket.SOCK_DGRAM, proto=proto)
                if reuse_port:
                    _set_reuse_port(sock)
                if allow_broadcast:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                sock.setblocking(False)
                if bind:
                    sock.bind(local_address)
                if connect and not allow_broadcast:
                    # A broadcast endpoint stays unconnected: it sends to the
                    # remote address, and hears from anyone.
                    await self.sock_connect(sock, remote_address)
            except OSError as exc:
                if sock is not None:
                    _close_quietly(sock)
                exceptions.append(exc)  # type: ignore[union-attr]
            except BaseException:
                if sock is not None:
                    _close_quietly(sock)
                raise
            else:
                return sock, remote_address if connect else None
        try:
            raise exceptions[0]  # type: ignore[index]
        finally:
            # The traceback holds this frame: no cycle through the list.
            exceptions = None
