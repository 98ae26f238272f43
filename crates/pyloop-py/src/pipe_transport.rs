//! The native pipe transports of `connect_read_pipe` and
//! `connect_write_pipe` (pipes, FIFOs, character devices and sockets).
//!
//! They follow asyncio's Unix pipe transports, which differ from the socket
//! transport: end of file on a read pipe always closes it (`eof_received`'s
//! answer is not asked), a write pipe watches its fd for reading only to see
//! the other end close, and `close()` on a write pipe is `write_eof()` (the
//! buffer is flushed first). The checks of the pipe's file type and the
//! non-blocking switch are in `python/pyloop/_pipes.py`.

use std::io;
use std::os::fd::RawFd;

use pyo3::exceptions::{PyAssertionError, PyBrokenPipeError, PyOSError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView};
use pyo3::{PyTraverseError, PyVisit};

use crate::byte_view::ByteView;
use crate::gil_cell::GilCell;
use crate::imports::asyncio_logger;
use crate::io_ready::{self, IoReady};
use crate::loop_::Loop;
use crate::sys_io;
use crate::write_side::{call_flow_method, FlowControl, WriteBuffer, CONNLOST_WRITES_WARN};

/// asyncio's `max_size` for one read.
const MAX_READ: usize = 256 * 1024;

/// The objects a pipe transport holds until `connection_lost` has run.
struct Held {
    pipe: Option<Py<PyAny>>,
    protocol: Option<Py<PyAny>>,
    extra: Option<Py<PyDict>>,
}

impl Held {
    fn new(
        pipe: Bound<'_, PyAny>,
        protocol: Bound<'_, PyAny>,
        extra: Option<Bound<'_, PyDict>>,
    ) -> Self {
        Self {
            pipe: Some(pipe.unbind()),
            protocol: Some(protocol.unbind()),
            extra: extra.map(Bound::unbind),
        }
    }

    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        for obj in [&self.pipe, &self.protocol].into_iter().flatten() {
            visit.call(obj)?;
        }
        if let Some(extra) = &self.extra {
            visit.call(extra)?;
        }
        Ok(())
    }

    fn extra_info(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let default = default.unwrap_or_else(|| py.None());
        let Some(extra) = &self.extra else {
            return Ok(default);
        };
        Ok(extra
            .bind(py)
            .get_item(name)?
            .map_or(default, Bound::unbind))
    }
}

/// Calls `protocol.connection_lost(exc)`, then closes the pipe and lets go
/// of both (even when the protocol raised), as asyncio's pipes do.
fn lose_connection(
    py: Python<'_>,
    held: (Option<Py<PyAny>>, Option<Py<PyAny>>),
    exc: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let (pipe, protocol) = held;
    let outcome = protocol.map_or(Ok(()), |protocol| {
        protocol
            .bind(py)
            .call_method1(intern!(py, "connection_lost"), (exc,))
            .map(drop)
    });
    let closed = pipe.map_or(Ok(()), |pipe| {
        pipe.bind(py).call_method0(intern!(py, "close")).map(drop)
    });
    outcome.and(closed)
}

fn os_error<'py>(py: Python<'py>, err: io::Error) -> Bound<'py, PyAny> {
    PyErr::from(err).into_value(py).into_bound(py).into_any()
}

/// asyncio's pipe repr; `polling` is None once the loop is closed.
fn repr_of(
    class: &str,
    closed: bool,
    closing: bool,
    fd: RawFd,
    polling: Option<bool>,
    bufsize: Option<usize>,
) -> String {
    let mut info = vec![class.to_string()];
    if closed {
        info.push("closed".into());
    } else if closing {
        info.push("closing".into());
    }
    info.push(format!("fd={fd}"));
    match (closed, polling) {
        (true, _) => info.push("closed".into()),
        (false, None) => info.push("open".into()),
        (false, Some(polling)) => {
            info.push(if polling { "polling" } else { "idle" }.into());
            if let Some(size) = bufsize {
                info.push(format!("bufsize={size}"));
            }
        }
    }
    format!("<{}>", info.join(" "))
}

// ---------------------------------------------------------------- reading

struct ReadState {
    held: Held,
    closing: bool,
    paused: bool,
    /// The reader is registered with the loop.
    reading: bool,
}

/// Subclassed in Python only to add `__del__` (`_pipes.py`).
#[pyclass(frozen, subclass, weakref, module = "pyloop._pyloop")]
pub struct ReadPipeTransport {
    loop_: Py<Loop>,
    fd: RawFd,
    state: GilCell<ReadState>,
}

impl ReadPipeTransport {
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut ReadState) -> R) -> PyResult<R> {
        self.state.with(py, f)
    }

    fn protocol<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.with(py, |s| s.held.protocol.as_ref().map(|p| p.clone_ref(py)))
            .map(|p| p.map(|p| p.into_bound(py)))
    }

    fn unwatch(&self, py: Python<'_>) -> PyResult<()> {
        if self.with(py, |s| std::mem::replace(&mut s.reading, false))? {
            Loop::_remove_io(self.loop_.bind(py), self.fd, true)?;
        }
        Ok(())
    }

    fn read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let loop_ = this.loop_.bind(py);
        let got = loop_.get().with_scratch(py, |scratch| {
            let buf = scratch.get(MAX_READ);
            sys_io::read(this.fd, buf).map(|got| got.map(|n| (n, PyBytes::new(py, &buf[..n]))))
        })?;
        if matches!(got, Ok(None) | Ok(Some((0..MAX_READ, _)))) {
            loop_.get().note_drained(this.fd, true);
        }
        match got {
            Ok(None) => Ok(()),
            Err(err) => {
                Self::fatal_error(slf, os_error(py, err), "Fatal read error on pipe transport")
            }
            Ok(Some((0, _))) => {
                if loop_.get().debug_enabled() {
                    asyncio_logger(py)?.call_method1("info", ("%r was closed by peer", slf))?;
                }
                this.with(py, |s| s.closing = true)?;
                this.unwatch(py)?;
                if let Some(protocol) = this.protocol(py)? {
                    io_ready::call_soon(
                        loop_,
                        protocol.getattr(intern!(py, "eof_received"))?,
                        None,
                    )?;
                }
                let lost = slf.getattr(intern!(py, "_call_connection_lost"))?;
                io_ready::call_soon(loop_, lost, Some(py.None().into_bound(py)))
            }
            // Unguarded, as in asyncio: an error in data_received is a
            // failed callback of the loop, and the pipe stays open.
            Ok(Some((_, data))) => match this.protocol(py)? {
                Some(protocol) => protocol
                    .call_method1(intern!(py, "data_received"), (data,))
                    .map(drop),
                None => Ok(()),
            },
        }
    }

    fn fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let loop_ = this.loop_.bind(py);
        let eio = exc.is_instance_of::<PyOSError>()
            && exc.getattr(intern!(py, "errno"))?.extract::<i32>().ok() == Some(libc::EIO);
        if eio {
            if loop_.get().debug_enabled() {
                let kwargs = PyDict::new(py);
                kwargs.set_item("exc_info", &exc)?;
                asyncio_logger(py)?.call_method(
                    "debug",
                    ("%r: %s", slf, message),
                    Some(&kwargs),
                )?;
            }
        } else {
            io_ready::report_error(loop_, message, &exc, slf.as_any(), this.protocol(py)?)?;
        }
        Self::close_with(slf, Some(exc))
    }

    fn close_with(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        this.with(py, |s| s.closing = true)?;
        this.unwatch(py)?;
        let lost = slf.getattr(intern!(py, "_call_connection_lost"))?;
        io_ready::call_soon(
            this.loop_.bind(py),
            lost,
            Some(exc.unwrap_or_else(|| py.None().into_bound(py))),
        )
    }
}

impl IoReady for ReadPipeTransport {
    fn on_ready(slf: &Bound<'_, Self>, _read: bool) -> PyResult<()> {
        Self::read_ready(slf)
    }
}

#[pymethods]
impl ReadPipeTransport {
    #[new]
    #[pyo3(signature = (loop_, pipe, protocol, extra=None))]
    fn py_new(
        loop_: Bound<'_, Loop>,
        pipe: Bound<'_, PyAny>,
        protocol: Bound<'_, PyAny>,
        extra: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let fd: RawFd = pipe.call_method0(intern!(pipe.py(), "fileno"))?.extract()?;
        Ok(Self {
            loop_: loop_.unbind(),
            fd,
            state: GilCell::new(ReadState {
                held: Held::new(pipe, protocol, extra),
                closing: false,
                paused: false,
                reading: false,
            }),
        })
    }

    fn _start_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let start = this.with(py, |s| {
            let start = !s.closing && !s.paused && !s.reading;
            s.reading |= start;
            start
        })?;
        if start {
            io_ready::watch(this.loop_.bind(py), this.fd, true, slf.as_any())?;
        }
        Ok(())
    }

    fn _read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::read_ready(slf)
    }

    #[pyo3(signature = (exc=None))]
    fn _call_connection_lost(&self, py: Python<'_>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let held = self.with(py, |s| (s.held.pipe.take(), s.held.protocol.take()))?;
        lose_connection(py, held, exc.filter(|e| !e.is_none()))
    }

    #[pyo3(signature = (exc, message="Fatal error on pipe transport"))]
    fn _fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        Self::fatal_error(slf, exc, message)
    }

    fn pause_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let pause = this.with(py, |s| {
            let pause = !s.closing && !s.paused;
            s.paused |= pause;
            pause
        })?;
        if pause {
            this.unwatch(py)?;
        }
        Ok(())
    }

    fn resume_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let resume = slf.get().with(py, |s| {
            let resume = !s.closing && s.paused;
            s.paused &= !resume;
            resume
        })?;
        if resume {
            Self::_start_reading(slf)?;
        }
        Ok(())
    }

    fn is_reading(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |s| !s.paused && !s.closing)
    }

    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        if slf.get().with(slf.py(), |s| s.closing)? {
            return Ok(());
        }
        Self::close_with(slf, None)
    }

    fn is_closing(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |s| s.closing)
    }

    #[pyo3(signature = (name, default=None))]
    fn get_extra_info(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let extra = self.with(py, |s| s.held.extra.as_ref().map(|e| e.clone_ref(py)))?;
        let held = Held {
            pipe: None,
            protocol: None,
            extra,
        };
        held.extra_info(py, name, default)
    }

    fn get_protocol(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.with(py, |s| s.held.protocol.as_ref().map(|p| p.clone_ref(py)))
    }

    fn set_protocol(&self, protocol: Bound<'_, PyAny>) -> PyResult<()> {
        let old = self.with(protocol.py(), |s| {
            s.held.protocol.replace(protocol.clone().unbind())
        })?;
        drop(old);
        Ok(())
    }

    #[getter]
    fn _pipe(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.with(py, |s| s.held.pipe.as_ref().map(|p| p.clone_ref(py)))
    }

    /// Tests (CPython's among them) detach the pipe to silence `__del__`.
    #[setter(_pipe)]
    fn set_pipe(&self, py: Python<'_>, pipe: Option<Py<PyAny>>) -> PyResult<()> {
        let old = self.with(py, |s| std::mem::replace(&mut s.held.pipe, pipe))?;
        drop(old);
        Ok(())
    }

    #[getter]
    fn _fileno(&self) -> RawFd {
        self.fd
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        let (closed, closing, reading) =
            this.with(slf.py(), |s| (s.held.pipe.is_none(), s.closing, s.reading))?;
        let class = slf.get_type().name()?.to_string();
        let polling = (!this.loop_.get().is_closed()).then_some(reading);
        Ok(repr_of(&class, closed, closing, this.fd, polling, None))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)?;
        self.state
            .peek()
            .map_or(Ok(()), |s| s.held.traverse(&visit))
    }

    fn __clear__(&self) {
        Python::with_gil(|py| {
            let taken = self.with(py, |s| {
                (
                    s.held.pipe.take(),
                    s.held.protocol.take(),
                    s.held.extra.take(),
                )
            });
            drop(taken);
        });
    }
}

// ---------------------------------------------------------------- writing

struct WriteState {
    held: Held,
    buffer: WriteBuffer,
    flow: FlowControl,
    closing: bool,
    conn_lost: u32,
    /// The close-watching reader / the writer is registered with the loop.
    reading: bool,
    writing: bool,
}

/// Subclassed in Python only to add `__del__` (`_pipes.py`).
#[pyclass(frozen, subclass, weakref, module = "pyloop._pyloop")]
pub struct WritePipeTransport {
    loop_: Py<Loop>,
    fd: RawFd,
    state: GilCell<WriteState>,
}

impl WritePipeTransport {
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut WriteState) -> R) -> PyResult<R> {
        self.state.with(py, f)
    }

    fn protocol<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.with(py, |s| s.held.protocol.as_ref().map(|p| p.clone_ref(py)))
            .map(|p| p.map(|p| p.into_bound(py)))
    }

    fn watch(slf: &Bound<'_, Self>, read: bool) -> PyResult<()> {
        let this = slf.get();
        io_ready::watch(this.loop_.bind(slf.py()), this.fd, read, slf.as_any())?;
        this.with(slf.py(), |s| {
            if read {
                s.reading = true;
            } else {
                s.writing = true;
            }
        })
    }

    fn unwatch(&self, py: Python<'_>, read: bool) -> PyResult<()> {
        let was = self.with(py, |s| {
            std::mem::replace(if read { &mut s.reading } else { &mut s.writing }, false)
        })?;
        if was {
            Loop::_remove_io(self.loop_.bind(py), self.fd, read)?;
        }
        Ok(())
    }

    /// The read side of a write pipe became ready: the other end closed.
    fn peer_closed(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if this.loop_.get().debug_enabled() {
            asyncio_logger(py)?.call_method1("info", ("%r was closed by peer", slf))?;
        }
        if this.with(py, |s| s.buffer.is_empty())? {
            Self::close_with(slf, None)
        } else {
            let exc = PyBrokenPipeError::new_err(())
                .into_value(py)
                .into_bound(py)
                .into_any();
            Self::close_with(slf, Some(exc))
        }
    }

    fn write_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let outcome = this.with(py, |s| {
            if s.buffer.is_empty() {
                return None;
            }
            let written = sys_io::write(this.fd, s.buffer.pending());
            match &written {
                Ok(Some(n)) if *n >= s.buffer.len() => s.buffer.clear(),
                Ok(Some(n)) => s.buffer.consume(*n),
                Ok(None) => {}
                Err(_) => {
                    s.buffer.clear();
                    s.conn_lost += 1;
                }
            }
            Some((written, s.buffer.is_empty()))
        })?;
        match outcome {
            None | Some((Ok(None), _)) | Some((Ok(Some(_)), false)) => Ok(()),
            Some((Err(err), _)) => {
                this.unwatch(py, false)?;
                Self::fatal_error(
                    slf,
                    os_error(py, err),
                    "Fatal write error on pipe transport",
                )
            }
            Some((Ok(Some(_)), true)) => {
                this.unwatch(py, false)?;
                Self::maybe_resume_protocol(slf)?;
                if this.with(py, |s| s.closing)? {
                    this.unwatch(py, true)?;
                    Self::_call_connection_lost(this, py, None)?;
                }
                Ok(())
            }
        }
    }

    fn fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let loop_ = this.loop_.bind(py);
        if exc.is_instance_of::<PyOSError>() {
            if loop_.get().debug_enabled() {
                let kwargs = PyDict::new(py);
                kwargs.set_item("exc_info", &exc)?;
                asyncio_logger(py)?.call_method(
                    "debug",
                    ("%r: %s", slf, message),
                    Some(&kwargs),
                )?;
            }
        } else {
            io_ready::report_error(loop_, message, &exc, slf.as_any(), this.protocol(py)?)?;
        }
        Self::close_with(slf, Some(exc))
    }

    /// asyncio's `_close`: drop the buffer, stop watching, connection_lost soon.
    fn close_with(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let had_buffer = this.with(py, |s| {
            s.closing = true;
            let had = !s.buffer.is_empty();
            s.buffer.clear();
            had
        })?;
        if had_buffer {
            this.unwatch(py, false)?;
        }
        this.unwatch(py, true)?;
        let lost = slf.getattr(intern!(py, "_call_connection_lost"))?;
        io_ready::call_soon(
            this.loop_.bind(py),
            lost,
            Some(exc.unwrap_or_else(|| py.None().into_bound(py))),
        )
    }

    fn flow_call(slf: &Bound<'_, Self>, method: &str) -> PyResult<()> {
        let py = slf.py();
        let Some(protocol) = slf.get().protocol(py)? else {
            return Ok(());
        };
        call_flow_method(
            slf.get().loop_.bind(py).as_any(),
            slf.as_any(),
            &protocol,
            method,
        )
    }

    fn maybe_pause_protocol(slf: &Bound<'_, Self>) -> PyResult<()> {
        if slf
            .get()
            .with(slf.py(), |s| s.flow.should_pause(s.buffer.len()))?
        {
            Self::flow_call(slf, "pause_writing")?;
        }
        Ok(())
    }

    fn maybe_resume_protocol(slf: &Bound<'_, Self>) -> PyResult<()> {
        if slf
            .get()
            .with(slf.py(), |s| s.flow.should_resume(s.buffer.len()))?
        {
            Self::flow_call(slf, "resume_writing")?;
        }
        Ok(())
    }

    fn write_bytes(slf: &Bound<'_, Self>, data: &[u8]) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        enum Next {
            Done,
            Watch,
            Failed(io::Error),
        }
        let next = this.with(py, |s| {
            if !s.buffer.is_empty() {
                s.buffer.push(data);
                return Next::Done;
            }
            match sys_io::write(this.fd, data) {
                Ok(Some(n)) if n == data.len() => return Next::Done,
                Ok(Some(n)) => s.buffer.push(&data[n..]),
                Ok(None) => s.buffer.push(data),
                Err(err) => {
                    s.conn_lost += 1;
                    return Next::Failed(err);
                }
            }
            Next::Watch
        })?;
        match next {
            Next::Done => {}
            Next::Watch => Self::watch(slf, false)?,
            Next::Failed(err) => {
                return Self::fatal_error(
                    slf,
                    os_error(py, err),
                    "Fatal write error on pipe transport",
                )
            }
        }
        Self::maybe_pause_protocol(slf)
    }
}

impl IoReady for WritePipeTransport {
    fn on_ready(slf: &Bound<'_, Self>, read: bool) -> PyResult<()> {
        if read {
            Self::peer_closed(slf)
        } else {
            Self::write_ready(slf)
        }
    }
}

#[pymethods]
impl WritePipeTransport {
    #[new]
    #[pyo3(signature = (loop_, pipe, protocol, extra=None))]
    fn py_new(
        loop_: Bound<'_, Loop>,
        pipe: Bound<'_, PyAny>,
        protocol: Bound<'_, PyAny>,
        extra: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let fd: RawFd = pipe.call_method0(intern!(pipe.py(), "fileno"))?.extract()?;
        Ok(Self {
            loop_: loop_.unbind(),
            fd,
            state: GilCell::new(WriteState {
                held: Held::new(pipe, protocol, extra),
                buffer: WriteBuffer::default(),
                flow: FlowControl::default(),
                closing: false,
                conn_lost: 0,
                reading: false,
                writing: false,
            }),
        })
    }

    /// Watches the fd for the other end closing (sockets and FIFOs only).
    fn _start_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        if !slf.get().with(slf.py(), |s| s.closing || s.reading)? {
            Self::watch(slf, true)?;
        }
        Ok(())
    }

    fn _read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::peer_closed(slf)
    }

    fn _write_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::write_ready(slf)
    }

    #[pyo3(signature = (exc=None))]
    fn _call_connection_lost(&self, py: Python<'_>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let held = self.with(py, |s| (s.held.pipe.take(), s.held.protocol.take()))?;
        lose_connection(py, held, exc.filter(|e| !e.is_none()))
    }

    #[pyo3(signature = (exc, message="Fatal error on pipe transport"))]
    fn _fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        Self::fatal_error(slf, exc, message)
    }

    fn write(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let bytes = data.downcast::<PyBytes>().ok();
        if bytes.is_none()
            && !data.is_instance_of::<PyByteArray>()
            && !data.is_instance_of::<PyMemoryView>()
        {
            // asyncio asserts the type.
            return Err(PyAssertionError::new_err(data.repr()?.unbind()));
        }
        let view = match bytes {
            Some(_) => None,
            None => Some(ByteView::get(data, false)?),
        };
        let slice = match (&bytes, &view) {
            (Some(bytes), _) => bytes.as_bytes(),
            (None, Some(view)) => view.as_slice(),
            (None, None) => &[],
        };
        if slice.is_empty() {
            return Ok(());
        }
        let lost = this.with(py, |s| {
            if s.conn_lost > 0 || s.closing {
                s.conn_lost += 1;
                Some(s.conn_lost - 1)
            } else {
                None
            }
        })?;
        if let Some(lost) = lost {
            if lost >= CONNLOST_WRITES_WARN {
                asyncio_logger(py)?.call_method1(
                    "warning",
                    ("pipe closed by peer or os.write(pipe, data) raised exception.",),
                )?;
            }
            return Ok(());
        }
        Self::write_bytes(slf, slice)
    }

    /// asyncio's: the pieces joined, then one `write`.
    fn writelines(slf: &Bound<'_, Self>, list_of_data: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let joined = PyBytes::new(py, b"").call_method1(intern!(py, "join"), (list_of_data,))?;
        Self::write(slf, &joined)
    }

    fn can_write_eof(&self) -> bool {
        true
    }

    fn write_eof(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let lose_now = this.with(py, |s| {
            if s.closing {
                return None;
            }
            s.closing = true;
            Some(s.buffer.is_empty())
        })?;
        if lose_now == Some(true) {
            this.unwatch(py, true)?;
            let lost = slf.getattr(intern!(py, "_call_connection_lost"))?;
            io_ready::call_soon(this.loop_.bind(py), lost, Some(py.None().into_bound(py)))?;
        }
        Ok(())
    }

    /// A write pipe closes by flushing, then closing: `write_eof`.
    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let open = slf
            .get()
            .with(slf.py(), |s| s.held.pipe.is_some() && !s.closing)?;
        if open {
            Self::write_eof(slf)?;
        }
        Ok(())
    }

    fn abort(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::close_with(slf, None)
    }

    fn is_closing(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |s| s.closing)
    }

    #[pyo3(signature = (name, default=None))]
    fn get_extra_info(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let extra = self.with(py, |s| s.held.extra.as_ref().map(|e| e.clone_ref(py)))?;
        let held = Held {
            pipe: None,
            protocol: None,
            extra,
        };
        held.extra_info(py, name, default)
    }

    fn get_write_buffer_size(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |s| s.buffer.len())
    }

    #[pyo3(signature = (high=None, low=None))]
    fn set_write_buffer_limits(
        slf: &Bound<'_, Self>,
        high: Option<i64>,
        low: Option<i64>,
    ) -> PyResult<()> {
        slf.get()
            .with(slf.py(), |s| s.flow.set_limits(high, low))??;
        Self::maybe_pause_protocol(slf)
    }

    fn get_write_buffer_limits(&self, py: Python<'_>) -> PyResult<(usize, usize)> {
        self.with(py, |s| s.flow.limits())
    }

    fn get_protocol(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.with(py, |s| s.held.protocol.as_ref().map(|p| p.clone_ref(py)))
    }

    fn set_protocol(&self, protocol: Bound<'_, PyAny>) -> PyResult<()> {
        let old = self.with(protocol.py(), |s| {
            s.held.protocol.replace(protocol.clone().unbind())
        })?;
        drop(old);
        Ok(())
    }

    #[getter]
    fn _pipe(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.with(py, |s| s.held.pipe.as_ref().map(|p| p.clone_ref(py)))
    }

    /// Tests (CPython's among them) detach the pipe to silence `__del__`.
    #[setter(_pipe)]
    fn set_pipe(&self, py: Python<'_>, pipe: Option<Py<PyAny>>) -> PyResult<()> {
        let old = self.with(py, |s| std::mem::replace(&mut s.held.pipe, pipe))?;
        drop(old);
        Ok(())
    }

    #[getter]
    fn _fileno(&self) -> RawFd {
        self.fd
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        // "polling" is about writing here, as in asyncio's repr.
        let (closed, closing, writing, size) = this.with(slf.py(), |s| {
            (s.held.pipe.is_none(), s.closing, s.writing, s.buffer.len())
        })?;
        let class = slf.get_type().name()?.to_string();
        Ok(repr_of(
            &class,
            closed,
            closing,
            this.fd,
            (!this.loop_.get().is_closed()).then_some(writing),
            Some(size),
        ))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)?;
        self.state
            .peek()
            .map_or(Ok(()), |s| s.held.traverse(&visit))
    }

    fn __clear__(&self) {
        Python::with_gil(|py| {
            let taken = self.with(py, |s| {
                (
                    s.held.pipe.take(),
                    s.held.protocol.take(),
                    s.held.extra.take(),
                )
            });
            drop(taken);
        });
    }
}
