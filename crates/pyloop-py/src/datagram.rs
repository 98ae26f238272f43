//! `DatagramTransport`: the native transport of datagram sockets (UDP over
//! IPv4 and IPv6, Unix datagram sockets, and the other datagram sockets
//! `create_datagram_endpoint(sock=...)` accepts).
//!
//! Each reader callback receives one datagram, as asyncio's does, with
//! `recvfrom(2)` into the loop's receive buffer, and calls the protocol's
//! `datagram_received(data, addr)` directly; `sendto` sends at once when
//! nothing is queued, and queues `(datagram, destination)` pairs behind a
//! writer registration when the socket would block.
//!
//! Addresses (`sockaddr.rs`): for IPv4, IPv6 and Unix sockets the sender's
//! address is converted here, in `socket.recvfrom`'s form. Other families
//! (netlink, CAN, packet, ...) have formats only CPython knows, so their
//! datagrams are read through `sock.recvfrom`. A destination given to
//! `sendto` is converted here when it is a numeric literal or a Unix path;
//! anything else (a host name above all) goes through `sock.sendto`, which
//! resolves it as asyncio's transport lets it.
//!
//! The order of callbacks, what reaches `error_received` and what is a
//! fatal error follow asyncio's `_SelectorDatagramTransport`: an OSError of
//! a receive or a send goes to `error_received` and the endpoint stays open;
//! an exception raised by `datagram_received` or `error_received` is not the
//! transport's to catch (the loop reports it as a failed callback). Setting
//! the transport up is `_make_datagram_transport` in
//! `python/pyloop/_transports.py`.

use std::collections::VecDeque;
use std::ffi::{c_char, c_int};
use std::os::fd::RawFd;

use pyo3::exceptions::{
    PyBlockingIOError, PyInterruptedError, PyOSError, PyTypeError, PyValueError,
};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use crate::byte_view::{is_bytes_like, ByteView};
use crate::errors::io_to_py;
use crate::gil_cell::GilCell;
use crate::imports::asyncio_logger;
use crate::io_ready::IoReady;
use crate::loop_::Loop;
use crate::sockaddr::{self, SockAddr};
use crate::sys_io;
use crate::transport_core::{self as core, exc_object, Core, Native};
use crate::transport_flow::{self as flow, Buffered};
use crate::transport_repr::socket_repr;
use crate::write_side::{escapes, FlowControl, CONNLOST_WRITES_WARN};

/// asyncio's `max_size`: the most one receive asks the kernel for.
const MAX_READ: usize = 256 * 1024;
/// Datagrams one readiness delivers at most before other callbacks run.
const DATAGRAMS_PER_WAKEUP: usize = 32;
/// From 3.13 a queued datagram counts 8 bytes of header on top of its data
/// in `get_write_buffer_size` (`_SelectorDatagramTransport._header_size`).
const HEADER_SIZE_313: usize = 8;

const FATAL_READ: &str = "Fatal read error on datagram transport";
const FATAL_WRITE: &str = "Fatal write error on datagram transport";

extern "C" {
    // CPython's audit hook entry point (not in pyo3-ffi): `socket.sendto`
    // raises the "socket.sendto" event, and so does the native send.
    fn PySys_Audit(event: *const c_char, format: *const c_char, ...) -> c_int;
}

/// Where a datagram goes.
enum Dest {
    /// The connected peer: `send(2)`.
    Peer,
    /// An address converted here: `sendto(2)`. `shown` is the Python form
    /// (for the audit event).
    Native { addr: SockAddr, shown: Py<PyAny> },
    /// Left to `sock.sendto(data, addr)`: host names, and everything only
    /// CPython parses (or refuses).
    Python(Py<PyAny>),
}

impl Dest {
    /// Drops the Python objects held with the GIL known held: a plain drop
    /// of a `Py` asks PyO3's thread-local GIL count first.
    fn release(self, py: Python<'_>) {
        match self {
            Dest::Peer => {}
            Dest::Native { shown: obj, .. } | Dest::Python(obj) => obj.drop_ref(py),
        }
    }
}

struct Queued {
    data: Vec<u8>,
    dest: Dest,
}

/// The last sender heard from and its Python address: a run of datagrams
/// from one peer shares one address object, and a reply to that object
/// needs no conversion.
struct LastPeer {
    addr: SockAddr,
    shown: Py<PyAny>,
    /// `from_python(shown)` would give `addr` back.
    reusable: bool,
}

/// How a receive or a send failed, sorted as asyncio's except clauses sort
/// it.
enum Failure {
    /// BlockingIOError / InterruptedError: nothing now, try again later.
    WouldBlock,
    /// Any other OSError: the protocol's `error_received`.
    Os(PyErr),
    /// Anything else: a fatal error of the transport.
    Fatal(PyErr),
}

/// Sorts an exception raised by a socket call; KeyboardInterrupt and
/// SystemExit go straight back to the caller.
fn sort(py: Python<'_>, err: PyErr) -> PyResult<Failure> {
    if escapes(&err, py) {
        Err(err)
    } else if err.is_instance_of::<PyBlockingIOError>(py)
        || err.is_instance_of::<PyInterruptedError>(py)
    {
        Ok(Failure::WouldBlock)
    } else if err.is_instance_of::<PyOSError>(py) {
        Ok(Failure::Os(err))
    } else {
        Ok(Failure::Fatal(err))
    }
}

/// A system call's outcome as a `Failure` (EINTR was retried already).
fn sys_outcome(got: std::io::Result<Option<usize>>) -> Result<(), Failure> {
    match got {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Failure::WouldBlock),
        Err(err) => Err(Failure::Os(io_to_py(err))),
    }
}

fn audit_sendto(sock: &Bound<'_, PyAny>, addr: &Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: the GIL is held; "OO" takes the two borrowed object pointers.
    let status = unsafe {
        PySys_Audit(
            c"socket.sendto".as_ptr(),
            c"OO".as_ptr(),
            sock.as_ptr(),
            addr.as_ptr(),
        )
    };
    if status < 0 {
        Err(PyErr::fetch(sock.py()))
    } else {
        Ok(())
    }
}

pub(crate) struct State {
    /// The socket object, the protocol, extra, the registrations.
    core: Core,
    protocol_connected: bool,
    /// The `remote_addr` the endpoint was made for (None when not given or
    /// falsy, as asyncio's `if self._address` reads it).
    address: Option<Py<PyAny>>,
    buffer: VecDeque<Queued>,
    /// What `get_write_buffer_size` reports.
    buffer_size: usize,
    /// Non-zero once the endpoint is being torn down; counts the sends made
    /// after that.
    conn_lost: u32,
    flow: FlowControl,
    last_peer: Option<LastPeer>,
}

/// Subclassed in Python only to add `__del__` (`_transports.py`).
#[pyclass(frozen, subclass, weakref, module = "pyloop._pyloop")]
pub struct DatagramTransport {
    loop_: Py<Loop>,
    fd: RawFd,
    /// The socket's family (`sock.family`).
    family: c_int,
    /// IPv4, IPv6 or Unix: the sender's address is converted here.
    native_recv: bool,
    /// `extra['peername']` is set: datagrams go out with `send(2)`, whatever
    /// address `sendto` is given.
    connected: bool,
    /// 3.13+: `sendto(b"")` sends an empty datagram, and each queued one
    /// counts `header` more bytes.
    sends_empty: bool,
    header: usize,
    state: GilCell<State>,
}

impl Native for DatagramTransport {
    type State = State;
    fn loop_(&self) -> &Py<Loop> {
        &self.loop_
    }
    fn fd(&self) -> RawFd {
        self.fd
    }
    fn cell(&self) -> &GilCell<State> {
        &self.state
    }
    fn core(state: &mut State) -> &mut Core {
        &mut state.core
    }
    fn core_ref(state: &State) -> &Core {
        &state.core
    }
}

impl Buffered for DatagramTransport {
    fn flow(state: &mut State) -> (&mut FlowControl, usize) {
        (&mut state.flow, state.buffer_size)
    }
}

impl DatagramTransport {
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut State) -> R) -> PyResult<R> {
        self.state.with(py, f)
    }

    /// `protocol.error_received(exc)`; what it raises is the caller's (as
    /// in asyncio, where the call sits in an except clause).
    fn error_received(&self, py: Python<'_>, err: PyErr) -> PyResult<()> {
        let Some(protocol) = self.protocol(py)? else {
            return Ok(());
        };
        protocol
            .call_method1(intern!(py, "error_received"), (err.into_value(py),))
            .map(drop)
    }

    /// Hands a failed receive or send on: would-block is nothing, an
    /// OSError goes to `error_received`, anything else is fatal.
    fn failed(slf: &Bound<'_, Self>, failure: Failure, fatal_message: &str) -> PyResult<()> {
        let py = slf.py();
        match failure {
            Failure::WouldBlock => Ok(()),
            Failure::Os(err) => slf.get().error_received(py, err),
            Failure::Fatal(err) => Self::fatal_error(slf, exc_object(py, err), fatal_message),
        }
    }

    /// The reader registration fired: receive what is queued, a batch at
    /// most (as libuv does), so a busy socket costs one wake-up per batch
    /// and the last, failing receive tells the loop the socket ran dry.
    fn read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        for _ in 0..DATAGRAMS_PER_WAKEUP {
            if !Self::read_one(slf)? {
                break;
            }
        }
        Ok(())
    }

    /// Receives and delivers one datagram; true if another may follow now
    /// (a native receive delivered one and the reader is still registered:
    /// `close` with datagrams still to send stops reading at once).
    fn read_one(slf: &Bound<'_, Self>) -> PyResult<bool> {
        let py = slf.py();
        let this = slf.get();
        // The socket object is needed only for a Python-level receive: the
        // native one reads the fd (a clone dropped here costs a reference
        // count round trip through PyO3's GIL check per datagram).
        let native = this.native_recv;
        let (open, sock) = this.with(py, |s| {
            let open = s.conn_lost == 0 && s.core.reading && s.core.resource.is_some();
            let sock = if open && !native {
                s.core.resource.as_ref().map(|p| p.clone_ref(py))
            } else {
                None
            };
            (open, sock)
        })?;
        if !open {
            return Ok(false);
        }
        let received = match sock {
            None => Self::receive(slf)?,
            Some(sock) => {
                let got = sock
                    .bind(py)
                    .call_method1(intern!(py, "recvfrom"), (MAX_READ,))
                    .and_then(|pair| pair.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>());
                match got {
                    Ok(pair) => Ok(pair),
                    Err(err) => Err(sort(py, err)?),
                }
            }
        };
        let (data, addr) = match received {
            Ok(pair) => pair,
            Err(failure) => return Self::failed(slf, failure, FATAL_READ).map(|()| false),
        };
        let Some(protocol) = this.protocol(py)? else {
            return Ok(false);
        };
        protocol.call_method1(intern!(py, "datagram_received"), (&data, addr))?;
        if this.native_recv {
            this.loop_
                .get()
                .with_scratch(py, |scratch| scratch.recycle(data))?;
        }
        Ok(this.native_recv)
    }

    /// `recvfrom(2)` and the sender's address, natively.
    #[allow(clippy::type_complexity)]
    fn receive<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<Result<(Bound<'py, PyAny>, Bound<'py, PyAny>), Failure>> {
        let py = slf.py();
        let this = slf.get();
        let loop_ = this.loop_.get();
        let mut from = SockAddr::for_recv();
        let got = loop_.with_scratch(py, |scratch| {
            let buf = scratch.get(MAX_READ);
            let (storage, len) = from.parts_mut();
            sys_io::recvfrom(this.fd, buf, storage, len)
                .map(|got| got.map(|n| scratch.take_bytes(py, n.min(MAX_READ))))
        })?;
        let data = match got {
            Ok(Some(data)) => data,
            Ok(None) => {
                loop_.note_drained(this.fd, true);
                return Ok(Err(Failure::WouldBlock));
            }
            Err(err) => return Ok(Err(Failure::Os(io_to_py(err)))),
        };
        let cached = this.with(py, |s| {
            s.last_peer
                .as_ref()
                .filter(|last| last.addr.same(&from))
                .map(|last| last.shown.clone_ref(py))
        })?;
        let addr = match cached {
            Some(addr) => addr.into_bound(py),
            None => match sockaddr::to_python(py, &from) {
                Ok(addr) => {
                    if !addr.is_none() {
                        let last = LastPeer {
                            addr: from,
                            shown: addr.clone().unbind(),
                            reusable: from.round_trips(this.family),
                        };
                        let old = this.with(py, |s| s.last_peer.replace(last))?;
                        drop(old);
                    }
                    addr
                }
                // As asyncio: an error raised by the receive call.
                Err(err) => return Ok(Err(sort(py, err)?)),
            },
        };
        Ok(Ok((data.into_any(), addr)))
    }

    /// Where a datagram for `addr` goes (asyncio's `sendto(data, addr)` on
    /// an unconnected socket, `send(data)` on a connected one).
    fn dest_for(&self, py: Python<'_>, addr: Option<&Bound<'_, PyAny>>) -> PyResult<Dest> {
        if self.connected {
            return Ok(Dest::Peer);
        }
        let Some(addr) = addr else {
            // socket.sendto(data, None) raises the TypeError asyncio reports.
            return Ok(Dest::Python(py.None()));
        };
        let reused = self.with(py, |s| {
            s.last_peer
                .as_ref()
                .filter(|last| last.reusable && last.shown.bind(py).is(addr))
                .map(|last| last.addr)
        })?;
        Ok(
            match reused.or_else(|| sockaddr::from_python(self.family, addr)) {
                Some(native) => Dest::Native {
                    addr: native,
                    shown: addr.clone().unbind(),
                },
                None => Dest::Python(addr.clone().unbind()),
            },
        )
    }

    /// One send of `data` to `dest`. `original` is the object `sendto` was
    /// given, handed to `sock.sendto` as is when the send is Python's.
    fn send_one(
        &self,
        sock: &Bound<'_, PyAny>,
        data: &[u8],
        dest: &Dest,
        original: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Result<(), Failure>> {
        let py = sock.py();
        match dest {
            Dest::Peer => Ok(sys_outcome(sys_io::send(self.fd, data))),
            Dest::Native { addr, shown } => {
                if let Err(err) = audit_sendto(sock, shown.bind(py)) {
                    return Ok(Err(sort(py, err)?));
                }
                Ok(sys_outcome(sys_io::sendto(
                    self.fd,
                    data,
                    addr.storage(),
                    addr.len(),
                )))
            }
            Dest::Python(addr) => {
                let payload = match original {
                    Some(original) => original.clone(),
                    None => PyBytes::new(py, data).into_any(),
                };
                match sock.call_method1(intern!(py, "sendto"), (payload, addr.bind(py))) {
                    Ok(_) => Ok(Ok(())),
                    Err(err) => Ok(Err(sort(py, err)?)),
                }
            }
        }
    }

    /// The writer registration fired: send the queue, in order, until the
    /// socket would block (asyncio's `_sendto_ready`).
    fn write_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let Some(sock) = this.resource(py)?.map(|s| s.into_bound(py)) else {
            return Ok(());
        };
        let header = this.header;
        loop {
            let next = this.with(py, |s| {
                let next = s.buffer.pop_front();
                if let Some(item) = &next {
                    s.buffer_size = s.buffer_size.saturating_sub(item.data.len() + header);
                }
                next
            })?;
            let Some(item) = next else {
                break;
            };
            match this.send_one(&sock, &item.data, &item.dest, None)? {
                Ok(()) => drop(item),
                Err(Failure::WouldBlock) => {
                    this.with(py, |s| {
                        s.buffer_size += item.data.len() + header;
                        s.buffer.push_front(item);
                    })?;
                    this.loop_.get().note_drained(this.fd, false);
                    break;
                }
                // The datagram is dropped; the writer stays registered and
                // the next writable event goes on with the queue.
                Err(failure) => {
                    drop(item);
                    return Self::failed(slf, failure, FATAL_WRITE);
                }
            }
        }
        flow::maybe_resume_protocol(slf)?;
        let (empty, closing) = this.with(py, |s| (s.buffer.is_empty(), s.core.closing))?;
        if empty {
            this.unwatch(py, false)?;
            if closing {
                return Self::call_connection_lost(slf, None);
            }
        }
        Ok(())
    }

    /// asyncio's `_fatal_error`: an OSError is only logged in debug mode;
    /// anything else goes to the exception handler. Either way the
    /// transport closes at once.
    fn fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        core::report_fatal(slf, &exc, message, exc.is_instance_of::<PyOSError>())?;
        Self::force_close(slf, Some(exc))
    }

    /// Closes without flushing: the queue is dropped and connection_lost is
    /// scheduled with `exc`.
    fn force_close(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let taken = this.with(py, |s| {
            if s.conn_lost > 0 {
                return None;
            }
            s.conn_lost += 1;
            s.buffer_size = 0;
            let dropped = std::mem::take(&mut s.buffer);
            Some((dropped, std::mem::replace(&mut s.core.closing, true)))
        })?;
        let Some((dropped, was_closing)) = taken else {
            return Ok(());
        };
        drop(dropped);
        this.unwatch(py, false)?;
        if !was_closing {
            this.unwatch(py, true)?;
        }
        core::schedule_connection_lost(slf, exc)
    }

    /// Tells the protocol the endpoint is gone, then releases the socket and
    /// the protocol (even if the protocol raised).
    fn call_connection_lost(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let (connected, protocol) = this.with(py, |s| {
            (
                s.protocol_connected,
                s.core.protocol.as_ref().map(|p| p.clone_ref(py)),
            )
        })?;
        let outcome = core::tell_connection_lost(py, protocol.filter(|_| connected), exc);
        // No registration may outlive the fd: the number can be reused.
        let unwatched = this.unwatch(py, true).and(this.unwatch(py, false));
        let (sock, protocol, buffer, last_peer) = this.with(py, |s| {
            s.buffer_size = 0;
            (
                s.core.resource.take(),
                s.core.protocol.take(),
                std::mem::take(&mut s.buffer),
                s.last_peer.take(),
            )
        })?;
        drop((protocol, buffer, last_peer));
        let closed = this.close_resource(py, sock);
        outcome.and(unwatched).and(closed)
    }

    /// The bytes to queue: a copy, as asyncio's `bytes(data)`.
    fn owned_bytes(data: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
        if let Ok(bytes) = data.downcast::<PyBytes>() {
            return Ok(bytes.as_bytes().to_vec());
        }
        match ByteView::read(data, <[u8]>::to_vec) {
            Ok(copy) => Ok(copy),
            // A non-contiguous memoryview: bytes() still copies it.
            Err(_) => {
                let copied = data.py().get_type::<PyBytes>().call1((data,))?;
                Ok(copied.downcast::<PyBytes>()?.as_bytes().to_vec())
            }
        }
    }

    /// Sends at once (the queue is empty): Ok(true) if it went, Ok(false)
    /// if it must be queued (the writer is registered then).
    fn send_now(
        slf: &Bound<'_, Self>,
        sock: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
        dest: &Dest,
    ) -> PyResult<bool> {
        let py = slf.py();
        let this = slf.get();
        let sent = if let Ok(bytes) = data.downcast::<PyBytes>() {
            this.send_one(sock, bytes.as_bytes(), dest, Some(data))?
        } else if matches!(dest, Dest::Python(_)) {
            // sock.sendto takes the object itself.
            this.send_one(sock, &[], dest, Some(data))?
        } else {
            match ByteView::read(data, |view| this.send_one(sock, view, dest, Some(data))) {
                Ok(sent) => sent?,
                // A non-contiguous memoryview: socket.send refuses it too.
                Err(err) => Err(sort(py, err)?),
            }
        };
        match sent {
            Ok(()) => Ok(true),
            Err(Failure::WouldBlock) => {
                if this.with(py, |s| s.conn_lost == 0)? {
                    core::watch(slf, false)?;
                }
                Ok(false)
            }
            Err(failure) => Self::failed(slf, failure, FATAL_WRITE).map(|()| true),
        }
    }
    /// `sendto(data, addr=None)`, installed as a raw vectorcall method
    /// (`fastcall::install_datagram`): PyO3's argument parser and its lazy
    /// type-object check were ~110 instructions of every call.
    pub(crate) fn sendto(
        slf: &Bound<'_, Self>,
        data: &Bound<'_, PyAny>,
        addr: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if !is_bytes_like(data) {
            return Err(PyTypeError::new_err(format!(
                "data argument must be a bytes-like object, not '{}'",
                data.get_type().name()?
            )));
        }
        if !this.sends_empty && !data.is_truthy()? {
            return Ok(());
        }
        let mut addr = addr.filter(|a| !a.is_none());
        let address = this.with(py, |s| s.address.as_ref().map(|a| a.clone_ref(py)))?;
        let has_address = address.is_some();
        if let Some(address) = address {
            let address = address.into_bound(py);
            if let Some(given) = &addr {
                // asyncio's `addr not in (None, self._address)`.
                let allowed = PyTuple::new(py, [py.None().into_bound(py), address.clone()])?;
                if !allowed.contains(given)? {
                    return Err(PyValueError::new_err(format!(
                        "Invalid address: must be None or {}",
                        address.str()?
                    )));
                }
            }
            addr = Some(address);
        }
        let (lost, sock, queued) = this.with(py, |s| {
            (
                s.conn_lost,
                s.core.resource.as_ref().map(|p| p.clone_ref(py)),
                !s.buffer.is_empty(),
            )
        })?;
        // Once an endpoint made for a remote address is being torn down, its
        // datagrams are dropped and counted, as asyncio does; so is anything
        // sent after connection_lost closed the socket (asyncio fails there
        // on its `None` socket).
        let sock = match sock {
            Some(sock) if lost == 0 || !has_address => sock.into_bound(py),
            _ => {
                if lost >= CONNLOST_WRITES_WARN {
                    asyncio_logger(py)?
                        .call_method1("warning", ("socket.send() raised exception.",))?;
                }
                return this.with(py, |s| s.conn_lost += 1);
            }
        };
        let dest = this.dest_for(py, addr.as_ref())?;
        if !queued && Self::send_now(slf, &sock, data, &dest)? {
            dest.release(py);
            return Ok(());
        }
        if lost > 0 {
            // Torn down already: no writer may be registered for a socket
            // about to close, so what would block is dropped.
            return Ok(());
        }
        let bytes = Self::owned_bytes(data)?;
        let header = this.header;
        this.with(py, |s| {
            s.buffer_size += bytes.len() + header;
            s.buffer.push_back(Queued { data: bytes, dest });
        })?;
        flow::maybe_pause_protocol(slf)
    }
}

#[pymethods]
impl DatagramTransport {
    #[new]
    #[pyo3(signature = (loop_, sock, protocol, address=None, extra=None))]
    fn py_new(
        loop_: Bound<'_, Loop>,
        sock: Bound<'_, PyAny>,
        protocol: Bound<'_, PyAny>,
        address: Option<Bound<'_, PyAny>>,
        extra: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let py = sock.py();
        let fd: RawFd = sock.call_method0(intern!(py, "fileno"))?.extract()?;
        let family: c_int = sock.getattr(intern!(py, "family"))?.extract()?;
        let connected = match &extra {
            Some(extra) => match extra.get_item("peername")? {
                Some(peer) => peer.is_truthy()?,
                None => false,
            },
            None => false,
        };
        let address = match address {
            Some(address) if address.is_truthy()? => Some(address.unbind()),
            _ => None,
        };
        let from_313 = py.version_info() >= (3, 13);
        Ok(Self {
            loop_: loop_.unbind(),
            fd,
            family,
            native_recv: matches!(family, libc::AF_INET | libc::AF_INET6 | libc::AF_UNIX),
            connected,
            sends_empty: from_313,
            header: if from_313 { HEADER_SIZE_313 } else { 0 },
            state: GilCell::new(State {
                core: Core::new(sock, protocol, extra),
                protocol_connected: true,
                address,
                buffer: VecDeque::new(),
                buffer_size: 0,
                conn_lost: 0,
                flow: FlowControl::default(),
                last_peer: None,
            }),
        })
    }

    /// Starts reading, unless the transport was closed or paused before.
    fn _start_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        core::start_reading(slf)
    }

    /// The reader callback (what a reader handle shows in reprs).
    fn _read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::read_ready(slf)
    }

    /// The writer callback.
    fn _write_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::write_ready(slf)
    }

    #[pyo3(signature = (exc=None))]
    fn _call_connection_lost(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        Self::call_connection_lost(slf, exc.filter(|e| !e.is_none()))
    }

    #[pyo3(signature = (exc=None))]
    fn _force_close(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        Self::force_close(slf, exc.filter(|e| !e.is_none()))
    }

    #[pyo3(signature = (exc, message="Fatal error on transport"))]
    fn _fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        Self::fatal_error(slf, exc, message)
    }

    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        core::close_after_flush(slf, |s| {
            let empty = s.buffer.is_empty();
            s.conn_lost += u32::from(empty);
            empty
        })
    }

    fn abort(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::force_close(slf, None)
    }

    fn is_closing(&self, py: Python<'_>) -> PyResult<bool> {
        Native::is_closing(self, py)
    }

    #[pyo3(signature = (name, default=None))]
    fn get_extra_info(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        Native::get_extra_info(self, py, name, default)
    }

    #[pyo3(signature = (high=None, low=None))]
    fn set_write_buffer_limits(
        slf: &Bound<'_, Self>,
        high: Option<i64>,
        low: Option<i64>,
    ) -> PyResult<()> {
        flow::set_write_buffer_limits(slf, high, low)
    }

    fn get_write_buffer_limits(&self, py: Python<'_>) -> PyResult<(usize, usize)> {
        flow::get_write_buffer_limits(self, py)
    }

    fn get_write_buffer_size(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |s| s.buffer_size)
    }

    fn pause_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        core::pause_reading(slf, true)
    }

    fn resume_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        if core::unpause(slf)? {
            core::watch(slf, true)?;
            core::debug_log(slf, "%r resumes reading")?;
        }
        Ok(())
    }

    fn is_reading(&self, py: Python<'_>) -> PyResult<bool> {
        Native::is_reading(self, py)
    }

    fn get_protocol(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Native::get_protocol(self, py)
    }

    fn set_protocol(&self, protocol: Bound<'_, PyAny>) -> PyResult<()> {
        self.with(protocol.py(), |s| s.protocol_connected = true)?;
        self.replace_protocol(protocol)
    }

    #[getter]
    fn _sock_fd(&self) -> RawFd {
        self.fd
    }

    #[getter]
    fn _loop(&self, py: Python<'_>) -> Py<Loop> {
        self.loop_.clone_ref(py)
    }

    #[getter]
    fn _sock(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.resource(py)
    }

    /// The remote address the endpoint was made for (None if none).
    #[getter]
    fn _address(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.with(py, |s| s.address.as_ref().map(|p| p.clone_ref(py)))
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        let (closed, closing, reading, writing, size) = this.with(slf.py(), |s| {
            let c = &s.core;
            (
                c.resource.is_none(),
                c.closing,
                c.reading,
                c.writing,
                s.buffer_size,
            )
        })?;
        let open = !closed && !this.loop_.get().is_closed();
        let class = slf.get_type().name()?.to_string();
        let registrations = open.then_some((reading, writing, size));
        Ok(socket_repr(&class, closed, closing, this.fd, registrations))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.traverse_core(&visit)?;
        if let Some(s) = self.state.peek() {
            if let Some(address) = &s.address {
                visit.call(address)?;
            }
            if let Some(last) = &s.last_peer {
                visit.call(&last.shown)?;
            }
            for item in &s.buffer {
                match &item.dest {
                    Dest::Peer => {}
                    Dest::Native { shown, .. } => visit.call(shown)?,
                    Dest::Python(addr) => visit.call(addr)?,
                }
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        Python::attach(|py| {
            let taken = self.with(py, |s| {
                (
                    s.core.take(),
                    s.address.take(),
                    s.last_peer.take(),
                    std::mem::take(&mut s.buffer),
                )
            });
            drop(taken);
        });
    }
}

impl IoReady for DatagramTransport {
    const WRITES_SELDOM_WAIT: bool = true;

    fn on_ready(slf: &Bound<'_, Self>, read: bool) -> PyResult<()> {
        if read {
            Self::read_ready(slf)
        } else {
            Self::write_ready(slf)
        }
    }
}
