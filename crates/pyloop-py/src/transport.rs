//! `SocketTransport`: the native stream transport of TCP and Unix sockets.
//!
//! Reads and writes are made here, in the loop's reader and writer
//! callbacks, and the protocol is called directly: `data_received` with the
//! bytes just read (or `get_buffer`/`buffer_updated` for a BufferedProtocol),
//! `eof_received`, `pause_writing`/`resume_writing` at the water marks and,
//! once, `connection_lost`. The write buffer is a Rust byte buffer; `write`
//! sends at once when nothing is queued.
//!
//! The states, the order of callbacks and the error reports follow asyncio's
//! selector transport, so streams and protocols written for asyncio see the
//! same sequence. Setting the transport up (`connection_made`, the first
//! reader registration, the waiter) is once-per-connection orchestration in
//! `python/pyloop/_transports.py`.

use std::os::fd::RawFd;

use pyo3::exceptions::{PyConnectionError, PyOSError, PyRuntimeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView};
use pyo3::{PyTraverseError, PyVisit};

use crate::byte_view::ByteView;
use crate::empty_waiter::{self, EmptyWaiter};
use crate::gil_cell::GilCell;
use crate::imports::{asyncio_logger, buffered_protocol_class};
use crate::io_ready::IoReady;
use crate::loop_::Loop;
use crate::native_types;
use crate::sys_io;
use crate::tls_core::TlsCore;
use crate::tls_data;
use crate::transport_core::{self as core, exc_object, os_error, Core, Native};
use crate::transport_flow::{self as flow, Buffered};
use crate::transport_repr::socket_repr;
use crate::write_side::{escapes, FlowControl, Sent, WriteBuffer, CONNLOST_WRITES_WARN};

/// asyncio's `max_size`: the most one read asks the kernel for.
const MAX_READ: usize = 256 * 1024;
/// Reads for TLS up to this long go to its BIO as a bytes object (cheaper
/// to make than a memoryview), longer ones as a view (no copy).
const TLS_BYTES_READ: usize = 4 * 1024;
const FATAL_READ: &str = "Fatal read error on socket transport";
const GET_BUFFER_FAILED: &str = "Fatal error: protocol.get_buffer() call failed.";

fn empty_buffer() -> PyErr {
    PyRuntimeError::new_err("get_buffer() returned an empty buffer")
}
pub(crate) struct State {
    /// The socket object, the protocol, extra, the registrations.
    core: Core,
    /// The protocol is an `asyncio.BufferedProtocol`.
    buffered: bool,
    protocol_connected: bool,
    /// The `asyncio.Server` this connection counts against.
    server: Option<Py<PyAny>>,
    buffer: WriteBuffer,
    /// `write_eof` was called.
    eof: bool,
    /// Non-zero once the connection is being torn down; counts the writes
    /// made after that.
    conn_lost: u32,
    flow: FlowControl,
    /// Installed by `loop.sendfile` while the fd is used by `os.sendfile`.
    empty_waiter: EmptyWaiter,
}

/// Subclassed in Python only to add `__del__` (`_transports.py`).
#[pyclass(frozen, subclass, weakref, module = "pyloop._pyloop")]
pub struct SocketTransport {
    loop_: Py<Loop>,
    fd: RawFd,
    state: GilCell<State>,
}

fn is_buffered(protocol: &Bound<'_, PyAny>) -> PyResult<bool> {
    protocol.is_instance(buffered_protocol_class(protocol.py())?)
}

impl Native for SocketTransport {
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

impl Buffered for SocketTransport {
    fn flow(state: &mut State) -> (&mut FlowControl, usize) {
        (&mut state.flow, state.buffer.len())
    }
}

impl SocketTransport {
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut State) -> R) -> PyResult<R> {
        self.state.with(py, f)
    }

    /// The reader registration fired: read once and hand the data over.
    fn read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let (lost, buffered) = this.with(py, |s| (s.conn_lost > 0, s.buffered))?;
        if lost {
            return Ok(());
        }
        if buffered {
            Self::read_into_protocol_buffer(slf)
        } else {
            Self::read_as_bytes(slf)
        }
    }

    /// What a receive of up to MAX_READ bytes came to: a short one tells
    /// the loop the socket ran dry; end of stream and errors are handled
    /// here. Some(what the read made of the bytes) when bytes came.
    fn received<T>(
        slf: &Bound<'_, Self>,
        got: std::io::Result<Option<(usize, T)>>,
    ) -> PyResult<Option<T>> {
        let this = slf.get();
        if matches!(got, Ok(None) | Ok(Some((0..MAX_READ, _)))) {
            this.loop_.get().note_drained(this.fd, true);
        }
        match got {
            Ok(None) => Ok(None),
            Ok(Some((0, _))) => Self::eof_received(slf).map(|()| None),
            Ok(Some((_, made))) => Ok(Some(made)),
            Err(err) => Self::fatal_error(slf, os_error(slf.py(), err), FATAL_READ).map(|()| None),
        }
    }

    fn read_as_bytes(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let loop_ = this.loop_.bind(py);
        let got = loop_
            .get()
            .with_scratch(py, |scratch| scratch.receive(py, this.fd, MAX_READ))?;
        let Some(data) = Self::received(slf, got)? else {
            return Ok(());
        };
        let Some(protocol) = this.protocol(py)? else {
            return Ok(());
        };
        match protocol.call_method1(intern!(py, "data_received"), (&data,)) {
            Ok(_) => loop_
                .get()
                .with_scratch(py, |scratch| scratch.recycle(data.into_any())),
            Err(err) => Self::protocol_failed(
                slf,
                err,
                "Fatal error: protocol.data_received() call failed.",
            ),
        }
    }

    /// BufferedProtocol: read straight into the buffer the protocol gives.
    fn read_into_protocol_buffer(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let Some(protocol) = this.protocol(py)? else {
            return Ok(());
        };
        // pyloop's TLS protocol is called directly (its methods, without
        // the Python method call).
        let tls = native_types::as_tls_core(&protocol);
        if let Some(tls) = tls {
            if tls_data::takes_bytes(tls, MAX_READ)? {
                return Self::read_for_tls(slf, tls);
            }
        }
        let buffer = match tls {
            Some(tls) => TlsCore::buffer_for(tls, -1),
            None => protocol.call_method1(intern!(py, "get_buffer"), (-1,)),
        };
        let buffer = match buffer {
            Ok(buffer) => buffer,
            Err(err) => return Self::protocol_failed(slf, err, GET_BUFFER_FAILED),
        };
        // The bytes are received while the buffer is held, and the view is
        // released before the protocol hears of them.
        let received = ByteView::write(&buffer, |bytes| {
            let asked = bytes.len();
            (asked > 0).then(|| (asked, sys_io::recv(this.fd, bytes)))
        });
        let (asked, got) = match received {
            Ok(Some(received)) => received,
            // asyncio asks len() first: an empty buffer (or none) is the
            // protocol's error; a full one refused is recv_into's.
            Ok(None) => return Self::protocol_failed(slf, empty_buffer(), GET_BUFFER_FAILED),
            Err(refused) => {
                return match buffer.len() {
                    Err(err) => Self::protocol_failed(slf, err, GET_BUFFER_FAILED),
                    Ok(0) => Self::protocol_failed(slf, empty_buffer(), GET_BUFFER_FAILED),
                    Ok(_) => {
                        let err = PyTypeError::new_err(format!(
                            "get_buffer() must return a writable bytes-like object: {refused}"
                        ));
                        Self::fatal_error(slf, exc_object(py, err), FATAL_READ)
                    }
                }
            }
        };
        if matches!(got, Ok(None)) || matches!(got, Ok(Some(n)) if n < asked) {
            this.loop_.get().note_drained(this.fd, true);
        }
        let nbytes = match got {
            Ok(None) => return Ok(()),
            Ok(Some(0)) => return Self::eof_received(slf),
            Ok(Some(n)) => n,
            Err(err) => return Self::fatal_error(slf, os_error(py, err), FATAL_READ),
        };
        let updated = match tls {
            Some(tls) => tls_data::buffer_updated(tls, isize::try_from(nbytes).unwrap_or(0)),
            None => protocol
                .call_method1(intern!(py, "buffer_updated"), (nbytes,))
                .map(drop),
        };
        Self::after_buffer_updated(slf, updated)
    }

    /// A failed `buffer_updated` (or the TLS protocol's own) is fatal, as
    /// in asyncio.
    fn after_buffer_updated(slf: &Bound<'_, Self>, updated: PyResult<()>) -> PyResult<()> {
        updated.or_else(|err| {
            Self::protocol_failed(
                slf,
                err,
                "Fatal error: protocol.buffer_updated() call failed.",
            )
        })
    }

    /// pyloop's TLS protocol, which copies what it is given into its
    /// incoming BIO: the bytes are read as for `data_received` (into the
    /// loop's buffer) and handed to the BIO, instead of being read into the
    /// protocol's buffer and sliced out of it: up to TLS_BYTES_READ bytes as
    /// a bytes object (refilled in place when the last one came back, as
    /// for `data_received`), more through a memoryview over the loop's
    /// buffer (no copy). The rest is its `buffer_updated`, and errors are
    /// reported as for it.
    fn read_for_tls(slf: &Bound<'_, Self>, tls: &Bound<'_, TlsCore>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let loop_ = this.loop_.bind(py);
        // The BIO takes the bytes while the loop's buffer holds them: no
        // Python code runs in an exact MemoryBIO's `write` (`takes_bytes`).
        let got = loop_.get().with_scratch(py, |scratch| {
            let buf = scratch.get(MAX_READ);
            sys_io::recv(this.fd, buf).map(|got| {
                got.map(|n| match n {
                    0 => (0, Ok(())),
                    1..=TLS_BYTES_READ => {
                        let data = scratch.take_bytes(py, n);
                        let fed = tls_data::feed(tls, data.as_any());
                        scratch.recycle(data.into_any());
                        (n, fed)
                    }
                    _ => (n, tls_data::feed_slice(tls, &scratch.get(n)[..n])),
                })
            })
        })?;
        let Some(fed) = Self::received(slf, got)? else {
            return Ok(());
        };
        Self::after_buffer_updated(slf, fed.and_then(|()| tls_data::fed(tls)))
    }

    /// The peer closed its side: the protocol decides whether we stay open
    /// for writing (a true return) or close.
    fn eof_received(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        core::debug_log(slf, "%r received EOF")?;
        let Some(protocol) = this.protocol(py)? else {
            return Ok(());
        };
        let keep_open = match protocol
            .call_method0(intern!(py, "eof_received"))
            .and_then(|r| r.is_truthy())
        {
            Ok(keep_open) => keep_open,
            Err(err) => {
                return Self::protocol_failed(
                    slf,
                    err,
                    "Fatal error: protocol.eof_received() call failed.",
                )
            }
        };
        if keep_open {
            this.unwatch(py, true)
        } else {
            Self::close(slf)
        }
    }

    /// The writer registration fired: send what the buffer holds.
    fn write_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let sent = this.with(py, |s| {
            if s.conn_lost > 0 || s.buffer.is_empty() {
                return None;
            }
            let sent = sys_io::send(this.fd, s.buffer.pending());
            if let Ok(Some(n)) = sent {
                s.buffer.consume(n);
            } else if sent.is_err() {
                s.buffer.clear();
            }
            Some(sent)
        })?;
        if matches!(sent, Some(Ok(None))) {
            this.loop_.get().note_drained(this.fd, false);
        }
        match sent {
            None | Some(Ok(None)) => Ok(()),
            Some(Err(err)) => {
                this.unwatch(py, false)?;
                let exc = os_error(py, err);
                Self::fatal_error(slf, exc.clone(), "Fatal write error on socket transport")?;
                Self::settle_empty_waiter(slf, Some(&exc))
            }
            Some(Ok(Some(_))) => Self::after_send(slf),
        }
    }

    /// After the buffer shrank: resume the writer, and once it is empty stop
    /// watching, then finish a pending close or write_eof.
    fn after_send(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        flow::maybe_resume_protocol(slf)?;
        let (empty, closing, eof) =
            this.with(py, |s| (s.buffer.is_empty(), s.core.closing, s.eof))?;
        if !empty {
            return Ok(());
        }
        this.unwatch(py, false)?;
        Self::settle_empty_waiter(slf, None)?;
        if closing {
            Self::call_connection_lost(slf, None)
        } else if eof {
            sys_io::shutdown_write(this.fd).map_err(crate::errors::io_to_py)
        } else {
            Ok(())
        }
    }

    /// asyncio's `_fatal_error`: OS errors are expected ends of a connection
    /// (only logged in debug mode); anything else goes to the exception
    /// handler. Either way the transport closes at once.
    fn fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        core::report_fatal(slf, &exc, message, exc.is_instance_of::<PyOSError>())?;
        Self::force_close(slf, Some(exc))
    }

    /// asyncio's guard around a protocol call: KeyboardInterrupt and
    /// SystemExit escape, anything else is a fatal error.
    fn protocol_failed(slf: &Bound<'_, Self>, err: PyErr, message: &str) -> PyResult<()> {
        let py = slf.py();
        if escapes(&err, py) {
            return Err(err);
        }
        Self::fatal_error(slf, exc_object(py, err), message)
    }

    /// Closes without flushing: the buffer is dropped and connection_lost
    /// is scheduled with `exc`.
    fn force_close(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let (lost, had_buffer, was_closing) = this.with(py, |s| {
            let lost = s.conn_lost > 0;
            let had_buffer = !s.buffer.is_empty();
            if !lost {
                s.buffer.clear();
                s.conn_lost += 1;
            }
            (
                lost,
                had_buffer,
                std::mem::replace(&mut s.core.closing, true),
            )
        })?;
        if lost {
            return Ok(());
        }
        if had_buffer {
            this.unwatch(py, false)?;
        }
        if !was_closing {
            this.unwatch(py, true)?;
        }
        core::schedule_connection_lost(slf, exc)
    }

    /// Tells the protocol the connection is gone, then releases the socket,
    /// the protocol and the server slot (even if the protocol raised).
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
        let (sock, protocol, server) = this.with(py, |s| {
            (
                s.core.resource.take(),
                s.core.protocol.take(),
                s.server.take(),
            )
        })?;
        drop(protocol);
        let closed = this.close_resource(py, sock);
        let settled = this
            .with(py, |s| s.empty_waiter.get(py))
            .and_then(|waiter| {
                waiter.map_or(Ok(()), |waiter| {
                    let exc = PyConnectionError::new_err("Connection is closed by peer");
                    empty_waiter::settle(waiter.bind(py), Some(exc.into_value(py).bind(py)))
                })
            });
        let detached = server.map_or(Ok(()), |server| {
            let server = server.bind(py);
            if py.version_info() >= (3, 13) {
                server
                    .call_method1(intern!(py, "_detach"), (slf,))
                    .map(drop)
            } else {
                server.call_method0(intern!(py, "_detach")).map(drop)
            }
        });
        outcome.and(closed).and(detached).and(settled)
    }

    /// Resolves the sendfile's empty waiter, if one is installed: with None
    /// when the buffer emptied, else with `exc`.
    fn settle_empty_waiter(slf: &Bound<'_, Self>, exc: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        match slf.get().with(py, |s| s.empty_waiter.get(py))? {
            Some(waiter) => empty_waiter::settle(waiter.bind(py), exc),
            None => Ok(()),
        }
    }

    /// Queues `data` after what is already buffered, sending at once when
    /// nothing is.
    fn write_bytes(slf: &Bound<'_, Self>, data: &[u8]) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let next = this.with(py, |s| {
            s.buffer
                .send_or_queue(data, |data| sys_io::send(this.fd, data))
        })?;
        match next {
            Sent::Done => {}
            Sent::Watch => core::watch(slf, false)?,
            Sent::Failed(err) => {
                return Self::fatal_error(
                    slf,
                    os_error(py, err),
                    "Fatal write error on socket transport",
                )
            }
        }
        flow::maybe_pause_protocol(slf)
    }
    /// `write(data)`, installed as a raw vectorcall method
    /// (`fastcall::install_socket`).
    pub(crate) fn write(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let bytes = data.downcast::<PyBytes>().ok();
        if bytes.is_none()
            && !data.is_instance_of::<PyByteArray>()
            && !data.is_instance_of::<PyMemoryView>()
        {
            return Err(PyTypeError::new_err(format!(
                "data argument must be a bytes-like object, not '{}'",
                data.get_type().name()?
            )));
        }
        let (eof, lost, sendfile) =
            this.with(py, |s| (s.eof, s.conn_lost, s.empty_waiter.is_set()))?;
        if eof {
            return Err(PyRuntimeError::new_err(
                "Cannot call write() after write_eof()",
            ));
        }
        if sendfile {
            return Err(PyRuntimeError::new_err(
                "unable to write; sendfile is in progress",
            ));
        }
        if let Some(bytes) = bytes {
            if bytes.as_bytes().is_empty() {
                return Ok(());
            }
        } else if data.len()? == 0 {
            return Ok(());
        }
        if lost > 0 {
            if lost >= CONNLOST_WRITES_WARN {
                asyncio_logger(py)?
                    .call_method1("warning", ("socket.send() raised exception.",))?;
            }
            return this.with(py, |s| s.conn_lost += 1);
        }
        match bytes {
            Some(bytes) => Self::write_bytes(slf, bytes.as_bytes()),
            None => ByteView::read(data, |view| Self::write_bytes(slf, view))?,
        }
    }
}

#[pymethods]
impl SocketTransport {
    #[new]
    #[pyo3(signature = (loop_, sock, protocol, extra=None, server=None))]
    fn py_new(
        loop_: Bound<'_, Loop>,
        sock: Bound<'_, PyAny>,
        protocol: Bound<'_, PyAny>,
        extra: Option<Bound<'_, PyDict>>,
        server: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let fd: RawFd = sock.call_method0(intern!(sock.py(), "fileno"))?.extract()?;
        let buffered = is_buffered(&protocol)?;
        Ok(Self {
            loop_: loop_.unbind(),
            fd,
            state: GilCell::new(State {
                core: Core::new(sock, protocol, extra),
                buffered,
                protocol_connected: true,
                server: server.map(Bound::unbind),
                buffer: WriteBuffer::default(),
                eof: false,
                conn_lost: 0,
                flow: FlowControl::default(),
                empty_waiter: EmptyWaiter::default(),
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

    /// asyncio's `_force_close` (TLS's protocol calls it on its transport).
    #[pyo3(signature = (exc=None))]
    fn _force_close(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        Self::force_close(slf, exc.filter(|e| !e.is_none()))
    }

    #[pyo3(signature = (exc, message="Fatal error on transport"))]
    fn _fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        Self::fatal_error(slf, exc, message)
    }

    /// asyncio's: the pieces joined, then one `write`.
    fn writelines(slf: &Bound<'_, Self>, list_of_data: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::write(slf, &core::join_bytes(list_of_data)?)
    }

    fn write_eof(slf: &Bound<'_, Self>) -> PyResult<()> {
        let this = slf.get();
        let shut_now = this.with(slf.py(), |s| {
            if s.core.closing || s.eof {
                return false;
            }
            s.eof = true;
            s.buffer.is_empty()
        })?;
        if shut_now {
            sys_io::shutdown_write(this.fd).map_err(crate::errors::io_to_py)?;
        }
        Ok(())
    }

    fn can_write_eof(&self) -> bool {
        true
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
        self.with(py, |s| s.buffer.len())
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
        let buffered = is_buffered(&protocol)?;
        self.with(protocol.py(), |s| {
            s.buffered = buffered;
            s.protocol_connected = true;
        })?;
        self.replace_protocol(protocol)
    }

    /// Installs and returns the future `loop.sendfile` awaits before its
    /// zero-copy path: done at once if nothing is buffered, else when the
    /// buffer empties; `write()` is refused until `_reset_empty_waiter`.
    fn _make_empty_waiter(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let this = slf.get();
        if this.with(py, |s| s.empty_waiter.is_set())? {
            return Err(PyRuntimeError::new_err("Empty waiter is already set"));
        }
        let future = this
            .loop_
            .bind(py)
            .call_method0(intern!(py, "create_future"))?;
        let stored = future.clone().unbind();
        let (replaced, empty) = this.with(py, |s| {
            (s.empty_waiter.install(stored), s.buffer.is_empty())
        })?;
        // Only if create_future re-entered and installed one meanwhile.
        drop(replaced);
        if empty {
            empty_waiter::settle(&future, None)?;
        }
        Ok(future.unbind())
    }

    /// Uninstalls the empty waiter: writes are accepted again.
    fn _reset_empty_waiter(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self.with(py, |s| s.empty_waiter.take())?;
        drop(taken);
        Ok(())
    }

    /// Whether the protocol was told to pause writing (asyncio's
    /// `_FlowControlMixin` attribute, read by the sendfile fallback).
    #[getter]
    fn _protocol_paused(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |s| s.flow.is_paused())
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

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        let (closed, closing, reading, writing, size) = this.with(slf.py(), |s| {
            let c = &s.core;
            (
                c.resource.is_none(),
                c.closing,
                c.reading,
                c.writing,
                s.buffer.len(),
            )
        })?;
        let open = !closed && !this.loop_.get().is_closed();
        let class = slf.get_type().name()?.to_string();
        let registrations = open.then_some((reading, writing, size));
        Ok(socket_repr(&class, closed, closing, this.fd, registrations))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.traverse_core(&visit)?;
        if let Some(state) = self.state.peek() {
            if let Some(server) = state.server.as_ref() {
                visit.call(server)?;
            }
            state.empty_waiter.traverse(&visit)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        Python::attach(|py| {
            let taken = self.with(py, |s| {
                (s.core.take(), s.server.take(), s.empty_waiter.take())
            });
            drop(taken);
        });
    }
}

impl IoReady for SocketTransport {
    fn on_ready(slf: &Bound<'_, Self>, read: bool) -> PyResult<()> {
        if read {
            Self::read_ready(slf)
        } else {
            Self::write_ready(slf)
        }
    }
}
