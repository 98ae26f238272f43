"""TCP connections and servers: ``create_connection``, ``create_server``,
``connect_accepted_socket``, and the accepting side of every stream server.

This is the part that runs once per call or per connection: argument checks
(asyncio's exceptions and messages), name resolution through
``self.getaddrinfo``, happy eyeballs (asyncio's own ``staggered_race``),
binding and listening. The bytes are moved by the native transport that
``self._make_socket_transport`` builds. Servers are asyncio's own ``Server``
class, so ``close``/``wait_closed``/``serve_forever`` behave as the running
Python's; it calls back ``_start_serving``/``_stop_serving`` here.

With ``ssl``, connections get asyncio's TLS protocol between the native
transport and the user's protocol (``_tls.py``).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import inspect
import itertools
import logging
import os
import socket
import sys
from asyncio import base_events, constants, trsock
from asyncio.base_events import Server
from asyncio.staggered import staggered_race
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from . import _compat
from ._sock import check_not_ssl_socket

logger = logging.getLogger("asyncio")

_HAS_IPV6 = hasattr(socket, "AF_INET6")

# accept() failures that mean "out of resources now": asyncio pauses
# accepting for ACCEPT_RETRY_DELAY instead of spinning on a ready socket.
_ACCEPT_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

_F = TypeVar("_F", bound=Callable[..., Any])

if TYPE_CHECKING:
    _LoopBase = asyncio.AbstractEventLoop
else:
    _LoopBase = object


def asyncio_has_keyword(method: Any, name: str) -> bool:
    return name in inspect.signature(method).parameters


def keyword_if(supported: bool, name: str) -> Callable[[_F], _F]:
    """A keyword argument that only some Pythons' asyncio takes (3.12's
    ``all_errors``, 3.13's ``keep_alive``...): where asyncio lacks it, the
    method rejects it as an unknown keyword and does not show it."""

    def wrap(method: _F) -> _F:
        if supported:
            return method
        signature = inspect.signature(method)

        @functools.wraps(method)
        async def without(*args: Any, **kwargs: Any) -> Any:
            if name in kwargs:
                raise TypeError(
                    f"{method.__qualname__}() got an unexpected keyword argument {name!r}"
                )
            return await method(*args, **kwargs)

        params = [p for p in signature.parameters.values() if p.name != name]
        without.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return without  # type: ignore[return-value]

    return wrap


def _ip_literal_info(
    host: Any, port: Any, family: int, type_: int, proto: int, flowinfo: int = 0, scopeid: int = 0
) -> tuple[Any, ...] | None:
    """The addrinfo for a host that is already a numeric address, so that no
    getaddrinfo call is made for it (as asyncio); None to resolve it."""
    if host is None or proto not in (0, socket.IPPROTO_TCP, socket.IPPROTO_UDP):
        return None
    if type_ == socket.SOCK_STREAM:
        proto = socket.IPPROTO_TCP
    elif type_ == socket.SOCK_DGRAM:
        proto = socket.IPPROTO_UDP
    else:
        return None
    if port is None or port == "" or port == b"":
        port = 0
    else:
        try:
            port = int(port)
        except (TypeError, ValueError):
            return None  # a service name ("http"): getaddrinfo knows it
    if isinstance(host, bytes):
        host = host.decode("idna")
    if "%" in host:
        return None  # a zone index ("fe80::1%eth0"): inet_pton refuses it
    if family == socket.AF_UNSPEC:
        families = [socket.AF_INET, socket.AF_INET6] if _HAS_IPV6 else [socket.AF_INET]
    else:
        families = [family]
    for af in families:
        try:
            socket.inet_pton(af, host)
        except OSError:
            continue
        if _HAS_IPV6 and af == socket.AF_INET6:
            return af, type_, proto, "", (host, port, flowinfo, scopeid)
        return af, type_, proto, "", (host, port)
    return None


def _interleave(infos: list[Any], first_family_count: int) -> list[Any]:
    """Alternates address families (RFC 8305), starting with
    `first_family_count` addresses of the first family."""
    by_family: dict[int, list[Any]] = {}
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    groups = list(by_family.values())
    lead = groups[0][: max(first_family_count - 1, 0)]
    groups[0] = groups[0][len(lead) :]
    rounds = itertools.zip_longest(*groups)
    return lead + [info for row in rounds for info in row if info is not None]


def _bind_error(address: Any, err: OSError) -> OSError:
    # 3.13 shows the whole "[Errno N] ..." text, earlier versions the strerror.
    detail = str(err) if _compat.PY313 else err.strerror
    return OSError(
        err.errno, f"error while attempting to bind on address {address!r}: {detail.lower()}"
    )


def _connect_failure(exceptions: list[OSError], all_errors: bool) -> BaseException:
    """What create_connection raises when every address failed."""
    if all_errors:
        return ExceptionGroup("create_connection failed", exceptions)
    if not exceptions:
        return TimeoutError("create_connection failed")
    first = str(exceptions[0])
    if len(exceptions) == 1 or all(str(exc) == first for exc in exceptions):
        return exceptions[0]
    return OSError(f"Multiple exceptions: {', '.join(str(exc) for exc in exceptions)}")


def _set_reuse_port(sock: socket.socket) -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("reuse_port not supported by socket module")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        raise ValueError(
            "reuse_port not supported by socket module, SO_REUSEPORT defined but not implemented."
        ) from None


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass  # must not hide the error that made us close it


_HAS_ALL_ERRORS = asyncio_has_keyword(asyncio.BaseEventLoop.create_connection, "all_errors")
_HAS_KEEP_ALIVE = asyncio_has_keyword(asyncio.BaseEventLoop.create_server, "keep_alive")


class TcpMixin(_LoopBase):
    if TYPE_CHECKING:
        _transports: Any

        def _make_socket_transport(
            self,
            sock: socket.socket,
            protocol: asyncio.BaseProtocol,
            waiter: asyncio.Future[Any] | None = None,
            *,
            extra: dict[str, Any] | None = None,
            server: Any = None,
        ) -> asyncio.Transport: ...

        def _add_io(
            self, fd: int, read: bool, callback: Callable[..., object], args: tuple[Any, ...]
        ) -> asyncio.Handle: ...

        def _remove_io(self, fd: int, read: bool) -> bool: ...

    # -- connecting -----------------------------------------------------------------

    @keyword_if(_HAS_ALL_ERRORS, "all_errors")
    async def create_connection(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | None = None,
        port: int | None = None,
        *,
        ssl: Any = None,
        family: int = 0,
        proto: int = 0,
        flags: int = 0,
        sock: socket.socket | None = None,
        local_addr: tuple[str, int] | None = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        happy_eyeballs_delay: float | None = None,
        interleave: int | None = None,
        all_errors: bool = False,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        if server_hostname is not None and not ssl:
            raise ValueError("server_hostname is only meaningful with ssl")
        if server_hostname is None and ssl:
            # The host names the certificate to check, unless told otherwise.
            if not host:
                raise ValueError("You must set server_hostname when using ssl without a host")
            server_hostname = host
        _check_ssl_timeouts(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        if sock is not None:
            check_not_ssl_socket(sock)
        if happy_eyeballs_delay is not None and interleave is None:
            interleave = 1  # happy eyeballs alternates families by default
        resolve = host is not None or port is not None
        _check_address_or_sock(
            resolve, sock, "host/port", "host and port was not specified and no sock specified"
        )
        if sock is not None:
            # Any stream socket goes, AF_UNIX included (asyncio allows it).
            _check_stream_sock(sock)

        owned = sock is None
        if sock is None:
            sock = await self._connect_any(
                host,
                port,
                family,
                proto,
                flags,
                local_addr,
                happy_eyeballs_delay,
                interleave,
                all_errors,
            )
        transport, protocol = await self._create_connection_transport(
            sock,
            protocol_factory,
            ssl,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
            close_on_error=owned,
        )
        if self.get_debug():
            logger.debug(
                "%r connected to %s:%r: (%r, %r)",
                transport.get_extra_info("socket"),
                host,
                port,
                transport,
                protocol,
            )
        return transport, protocol

    async def _connect_any(
        self,
        host: Any,
        port: Any,
        family: int,
        proto: int,
        flags: int,
        local_addr: Any,
        happy_eyeballs_delay: float | None,
        interleave: int | None,
        all_errors: bool,
    ) -> socket.socket:
        """A socket connected to one of `host`'s addresses: one after the
        other, or staggered (happy eyeballs) when a delay is given."""
        infos = await self._ensure_resolved(
            (host, port), family=family, type=socket.SOCK_STREAM, proto=proto, flags=flags
        )
        if not infos:
            raise OSError("getaddrinfo() returned empty list")
        local_infos = None
        if local_addr is not None:
            local_infos = await self._ensure_resolved(
                local_addr, family=family, type=socket.SOCK_STREAM, proto=proto, flags=flags
            )
            if not local_infos:
                raise OSError("getaddrinfo() returned empty list")
        if interleave:
            infos = _interleave(infos, interleave)

        # One list per attempt, filled by _connect_sock, in attempt order.
        exceptions: list[list[OSError]] | None = []
        sock = None
        if happy_eyeballs_delay is None:
            for info in infos:
                try:
                    sock = await self._connect_sock(exceptions, info, local_infos)
                    break
                except OSError:
                    continue
        else:
            attempts = (
                functools.partial(self._connect_sock, exceptions, info, local_infos)
                for info in infos
            )
            sock = (await staggered_race(attempts, happy_eyeballs_delay, loop=self))[0]
        if sock is not None:
            return sock
        try:
            flat = [exc for attempt in exceptions or () for exc in attempt]
            raise _connect_failure(flat, all_errors)
        finally:
            # The raised exception's traceback holds this frame: drop the
            # list so that frame and exceptions do not form a cycle.
            exceptions = flat = None  # type: ignore[assignment]

    async def _connect_sock(
        self,
        exceptions: list[list[OSError]],
        addr_info: tuple[Any, ...],
        local_addr_infos: list[tuple[Any, ...]] | None = None,
    ) -> socket.socket:
        """Creates, binds (to a local address of its family) and connects
        one socket; its OSErrors are added to `exceptions`."""
        mine: list[OSError] | None = []
        exceptions.append(mine)  # type: ignore[arg-type]
        family, type_, proto, _, address = addr_info
        sock = None
        try:
            sock = socket.socket(family=family, type=type_, proto=proto)
            sock.setblocking(False)
            if local_addr_infos is not None:
                _bind_local(sock, family, local_addr_infos, mine)  # type: ignore[arg-type]
            await self.sock_connect(sock, address)
            return sock
        except OSError as exc:
            mine.append(exc)  # type: ignore[union-attr]
            if sock is not None:
                _close_quietly(sock)
            raise
        except BaseException:
            if sock is not None:
                _close_quietly(sock)
            raise
        finally:
            exceptions = mine = None  # type: ignore[assignment]

    async def _ensure_resolved(
        self,
        address: tuple[Any, ...],
        *,
        family: int = 0,
        type: int = socket.SOCK_STREAM,
        proto: int = 0,
        flags: int = 0,
        loop: Any = None,
    ) -> list[tuple[Any, ...]]:
        # `loop`: asyncio's helper of this name takes it (its callers pass it).
        host, port = address[:2]
        info = _ip_literal_info(host, port, family, type, proto, *address[2:])
        if info is not None:
            return [info]
        return await (loop or self).getaddrinfo(
            host, port, family=family, type=type, proto=proto, flags=flags
        )

    async def _create_connection_transport(
        self,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        ssl: Any,
        server_hostname: str | None,
        server_side: bool = False,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        *,
        close_on_error: bool = False,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        sock.setblocking(False)
        try:
            protocol = protocol_factory()
        except BaseException:
            # A socket this call made must not wait for the GC to be closed.
            if close_on_error:
                _close_quietly(sock)
            raise
        waiter = self.create_future()
        if ssl:
            transport = self._make_ssl_transport(
                sock,
                protocol,
                None if isinstance(ssl, bool) else ssl,  # True: the default context
                waiter,
                server_side=server_side,
                server_hostname=server_hostname,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout,
            )
        else:
            transport = self._make_socket_transport(sock, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol

    async def connect_accepted_socket(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        sock: socket.socket,
        *,
        ssl: Any = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        _check_stream_sock(sock)
        _check_ssl_timeouts(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        check_not_ssl_socket(sock)
        transport, protocol = await self._create_connection_transport(
            sock,
            protocol_factory,
            ssl,
            "",
            server_side=True,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )
        if self.get_debug():
            logger.debug(
                "%r handled: (%r, %r)", transport.get_extra_info("socket"), transport, protocol
            )
        return transport, protocol

    # -- serving --------------------------------------------------------------------

    @keyword_if(_HAS_KEEP_ALIVE, "keep_alive")
    async def create_server(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | Iterable[str] | None = None,
        port: int | None = None,
        *,
        family: int = socket.AF_UNSPEC,
        flags: int = socket.AI_PASSIVE,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        reuse_address: bool | None = None,
        reuse_port: bool | None = None,
        keep_alive: bool | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        start_serving: bool = True,
    ) -> Server:
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        # Unlike the other calls, asyncio tests `ssl is None` here.
        _check_ssl_timeouts(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        if sock is not None:
            check_not_ssl_socket(sock)
        bind = host is not None or port is not None
        _check_address_or_sock(bind, sock, "host/port", "Neither host/port nor sock were specified")
        if sock is not None:
            _check_stream_sock(sock)

        if bind:
            if reuse_address is None:
                reuse_address = os.name == "posix" and sys.platform != "cygwin"
            sockets = await self._bound_sockets(
                host, port, family, flags, reuse_address, reuse_port, keep_alive
            )
        else:
            sockets = [sock]  # type: ignore[list-item]
        server = await self._new_server(
            sockets,
            protocol_factory,
            ssl,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
            start_serving,
        )
        if self.get_debug():
            logger.info("%r is serving", server)
        return server

    async def _bound_sockets(
        self,
        host: Any,
        port: Any,
        family: int,
        flags: int,
        reuse_address: bool,
        reuse_port: bool | None,
        keep_alive: bool | None,
    ) -> list[socket.socket]:
        """One bound socket per distinct address of the host(s)."""
        if host == "":
            hosts: Iterable[Any] = [None]  # "" means every interface
        elif isinstance(host, str) or not isinstance(host, Iterable):
            hosts = [host]
        else:
            hosts = host
        resolved = await asyncio.gather(
            *(self._server_addresses(one, port, family, flags) for one in hosts)
        )
        # A host given twice, or two names for one address, binds once.
        # (asyncio dedupes through a set; an ordered dict keeps resolver order.)
        infos = list(dict.fromkeys(itertools.chain.from_iterable(resolved)))

        sockets: list[socket.socket] = []
        completed = False
        try:
            for af, socktype, proto, _, address in infos:
                try:
                    # Through asyncio's module global: CPython's tests patch
                    # `asyncio.base_events.socket` to fake the listening sockets.
                    sock = base_events.socket.socket(af, socktype, proto)
                except OSError:
                    # Taken for a family/type/protocol this host cannot make.
                    if self.get_debug():
                        logger.warning(
                            "create_server() failed to create socket.socket(%r, %r, %r)",
                            af,
                            socktype,
                            proto,
                            exc_info=True,
                        )
                    continue
                sockets.append(sock)
                if reuse_address:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
                if reuse_port:
                    _set_reuse_port(sock)
                if keep_alive:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
                if _HAS_IPV6 and af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                    # Linux's dual stack would make this socket take IPv4 too,
                    # and collide with the AF_INET socket for the same port.
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
                try:
                    sock.bind(address)
                except OSError as err:
                    error = _bind_error(address, err)
                    if _compat.PY313 and err.errno == errno.EADDRNOTAVAIL:
                        # 3.13: taken as a family not enabled here (bpo-30945).
                        sockets.pop()
                        sock.close()
                        if self.get_debug():
                            logger.warning(error.strerror)
                        continue
                    raise error from None
            if _compat.PY313 and not sockets:
                raise OSError(
                    f"could not bind on any address out of {[info[4] for info in infos]!r}"
                )
            completed = True
        finally:
            if not completed:
                for sock in sockets:
                    sock.close()
        return sockets

    async def _server_addresses(
        self, host: Any, port: Any, family: int, flags: int
    ) -> list[tuple[Any, ...]]:
        infos = await self._ensure_resolved(
            (host, port), family=family, type=socket.SOCK_STREAM, flags=flags
        )
        if not infos:
            raise OSError(f"getaddrinfo({host!r}) returned empty list")
        return infos

    async def _new_server(
        self,
        sockets: list[socket.socket],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        ssl: Any,
        backlog: int,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None,
        start_serving: bool,
    ) -> Server:
        for sock in sockets:
            sock.setblocking(False)
        server = Server(
            self,
            sockets,
            protocol_factory,
            ssl,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )
        if start_serving:
            server._start_serving()
            # asyncio yields once here, so callers see the same scheduling.
            await asyncio.sleep(0)
        return server

    # -- accepting (asyncio's Server calls these two) ------------------------------

    def _start_serving(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        sock: socket.socket,
        sslcontext: Any = None,
        server: Server | None = None,
        backlog: int = 100,
        ssl_handshake_timeout: float | None = constants.SSL_HANDSHAKE_TIMEOUT,
        ssl_shutdown_timeout: float | None = constants.SSL_SHUTDOWN_TIMEOUT,
    ) -> None:
        args = (
            protocol_factory,
            sock,
            sslcontext,
            server,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )
        self._add_io(sock.fileno(), True, self._accept_connection, args)

    def _stop_serving(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        if fd >= 0:
            self._remove_io(fd, True)
        sock.close()

    def _accept_connection(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        sock: socket.socket,
        sslcontext: Any,
        server: Server | None,
        backlog: int,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None,
    ) -> None:
        """The listening socket's reader: takes up to `backlog` pending
        connections per readiness (one per wake-up would starve a burst)."""
        debug = self.get_debug()
        for _ in range(backlog):
            try:
                conn, addr = sock.accept()
                if debug:
                    logger.debug("%r got a new connection from %r: %r", server, addr, conn)
                conn.setblocking(False)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # nothing more to accept now
            except OSError as exc:
                if exc.errno not in _ACCEPT_RESOURCE_ERRORS:
                    raise  # the loop reports it, as asyncio's does
                self.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": exc,
                        "socket": trsock.TransportSocket(sock),
                    }
                )
                # The socket stays readable, so stop watching it for a while.
                self._remove_io(sock.fileno(), True)
                self.call_later(
                    constants.ACCEPT_RETRY_DELAY,
                    self._resume_accepting,
                    protocol_factory,
                    sock,
                    sslcontext,
                    server,
                    backlog,
                    ssl_handshake_timeout,
                    ssl_shutdown_timeout,
                )
                return
            self._connection_accepted(
                protocol_factory,
                conn,
                addr,
                server,
                sslcontext,
                ssl_handshake_timeout,
                ssl_shutdown_timeout,
            )
            if sock.fileno() < 0:
                return  # a protocol factory closed the server

    def _resume_accepting(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        sock: socket.socket,
        sslcontext: Any,
        server: Server | None,
        backlog: int,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None,
    ) -> None:
        if sock.fileno() < 0:
            return  # the server was closed meanwhile
        self._start_serving(
            protocol_factory,
            sock,
            sslcontext,
            server,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )

    def _connection_accepted(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        conn: socket.socket,
        addr: Any,
        server: Server | None,
        sslcontext: Any = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> None:
        # No task: a plain socket transport cannot fail after it is made, so
        # the connection is set up right here; a TLS one reports a failed
        # handshake from its waiter's callback.
        protocol = None
        try:
            protocol = protocol_factory()
            extra = {"peername": addr}
            if not sslcontext:
                self._make_socket_transport(conn, protocol, extra=extra, server=server)
                return
            waiter = self.create_future()
            transport = self._make_ssl_transport(
                conn,
                protocol,
                sslcontext,
                waiter,
                server_side=True,
                extra=extra,
                server=server,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout,
            )
            waiter.add_done_callback(functools.partial(self._tls_accept_done, transport, protocol))
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            _close_quietly(conn)
            self._report_accept_error(exc, protocol)

    def _tls_accept_done(
        self, transport: asyncio.Transport, protocol: Any, waiter: asyncio.Future[Any]
    ) -> None:
        if waiter.cancelled() or waiter.exception() is None:
            return
        transport.close()
        self._report_accept_error(waiter.exception(), protocol)

    def _report_accept_error(self, exc: BaseException | None, protocol: Any) -> None:
        # asyncio reports these in debug mode only.
        if self.get_debug():
            context = {
                "message": "Error on transport creation for incoming connection",
                "exception": exc,
            }
            if protocol is not None:
                context["protocol"] = protocol
            self.call_exception_handler(context)


def _check_address_or_sock(given: bool, sock: Any, what: str, missing: str) -> None:
    """asyncio's rule for where to connect or listen: an address (`what`:
    host/port, a path) or `sock`, exactly one; `missing` is its message
    (it differs from call to call in asyncio)."""
    if given:
        if sock is not None:
            raise ValueError(f"{what} and sock can not be specified at the same time")
    elif sock is None:
        raise ValueError(missing)


def _check_stream_sock(sock: Any) -> None:
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A Stream Socket was expected, got {sock!r}")


def _check_ssl_timeouts(ssl: Any, handshake: float | None, shutdown: float | None) -> None:
    if handshake is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if shutdown is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")


def _bind_local(
    sock: socket.socket, family: int, local_infos: list[tuple[Any, ...]], errors: list[OSError]
) -> None:
    """Binds to the first local address of the socket's family that works."""
    for local_family, _, _, _, address in local_infos:
        if local_family != family:
            continue
        try:
            sock.bind(address)
            return
        except OSError as exc:
            errors.append(_bind_error(address, exc))
    if errors:
        raise errors.pop()  # the caller adds it back: every bind error is kept
    raise OSError(f"no matching local address with {family=} found")
