//! The native pipe transports of `connect_read_pipe` and
//! `connect_write_pipe` (pipes, FIFOs, character devices and sockets).
//!
//! They follow asyncio's Unix pipe transports, which differ from the socket
//! transport: end of file on a read pipe always closes it (`eof_received`'s
//! answer is not asked), a write pipe watches its fd for reading only to see
//! the other end close, and `close()` on a write pipe is `write_eof()` (the
//! buffer is flushed first). The checks of the pipe's file type and the
//! non-blocking switch are in `python/pyloop/_pipes.py`.

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
use crate::transport_core::{self as core, os_error, Core, Native};
use crate::transport_flow::{self as flow, Buffered};
use crate::transport_repr::pipe_repr;
use crate::write_side::{FlowControl, Sent, WriteBuffer, CONNLOST_WRITES_WARN};

/// asyncio's `max_size` for one read.
const MAX_READ: usize = 256 * 1024;

/// Calls `protocol.connection_lost(exc)`, then closes the pipe and lets go
/// of both (even when the protocol raised), as asyncio's pipes do.
fn lose_connection<T: Native>(
    this: &T,
    py: Python<'_>,
    exc: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let (pipe, protocol) = this.with_core(py, |c| (c.resource.take(), c.protocol.take()))?;
    let outcome = core::tell_connection_lost(py, protocol, exc.filter(|e| !e.is_none()));
    outcome.and(this.close_resource(py, pipe))
}

/// Ties a pipe transport's state to the shared `Core`.
macro_rules! native_pipe {
    ($class:ty, $state:ty) => {
        impl Native for $class {
            type State = $state;
            fn loop_(&self) -> &Py<Loop> {
                &self.loop_
            }
            fn fd(&self) -> RawFd {
                self.fd
            }
            fn cell(&self) -> &GilCell<$state> {
                &self.state
            }
            fn core(state: &mut $state) -> &mut Core {
                &mut state.core
            }
            fn core_ref(state: &$state) -> &Core {
                &state.core
            }
        }
    };
}

// ---------------------------------------------------------------- reading

pub(crate) struct ReadState {
    core: Core,
}

/// Subclassed in Python only to add `__del__` (`_pipes.py`).
#[pyclass(frozen, subclass, weakref, module = "pyloop._pyloop")]
pub struct ReadPipeTransport {
    loop_: Py<Loop>,
    fd: RawFd,
    state: GilCell<ReadState>,
}

native_pipe!(ReadPipeTransport, ReadState);

impl ReadPipeTransport {
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
                this.with_core(py, |c| c.closing = true)?;
                this.unwatch(py, true)?;
                if let Some(protocol) = this.protocol(py)? {
                    io_ready::call_soon(
                        loop_,
                        protocol.getattr(intern!(py, "eof_received"))?,
                        None,
                    )?;
                }
                core::schedule_connection_lost(slf, None)
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

    /// EIO is how a pseudo-terminal's end shows: only logged in debug mode.
    fn fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        let eio = exc.is_instance_of::<PyOSError>()
            && exc
                .getattr(intern!(slf.py(), "errno"))?
                .extract::<i32>()
                .ok()
                == Some(libc::EIO);
        core::report_fatal(slf, &exc, message, eio)?;
        Self::close_with(slf, Some(exc))
    }

    fn close_with(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let this = slf.get();
        this.with_core(slf.py(), |c| c.closing = true)?;
        this.unwatch(slf.py(), true)?;
        core::schedule_connection_lost(slf, exc)
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
                core: Core::new(pipe, protocol, extra),
            }),
        })
    }

    fn _start_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let start = this.with_core(py, |c| {
            let start = !c.closing && !c.paused && !c.reading;
            c.reading |= start;
            start
        })?;
        if start {
            io_ready::watch(this.loop_.bind(py), this.fd, true, slf)?;
        }
        Ok(())
    }

    fn _read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::read_ready(slf)
    }

    #[pyo3(signature = (exc=None))]
    fn _call_connection_lost(&self, py: Python<'_>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        lose_connection(self, py, exc)
    }

    #[pyo3(signature = (exc, message="Fatal error on pipe transport"))]
    fn _fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        Self::fatal_error(slf, exc, message)
    }

    fn pause_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        core::pause_reading(slf, false)
    }

    fn resume_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        if core::unpause(slf)? {
            Self::_start_reading(slf)?;
        }
        Ok(())
    }

    fn is_reading(&self, py: Python<'_>) -> PyResult<bool> {
        Native::is_reading(self, py)
    }

    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        if slf.get().with_core(slf.py(), |c| c.closing)? {
            return Ok(());
        }
        Self::close_with(slf, None)
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

    fn get_protocol(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Native::get_protocol(self, py)
    }

    fn set_protocol(&self, protocol: Bound<'_, PyAny>) -> PyResult<()> {
        self.replace_protocol(protocol)
    }

    #[getter]
    fn _pipe(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.resource(py)
    }

    /// Tests (CPython's among them) detach the pipe to silence `__del__`.
    #[setter(_pipe)]
    fn set_pipe(&self, py: Python<'_>, pipe: Option<Py<PyAny>>) -> PyResult<()> {
        self.replace_resource(py, pipe)
    }

    #[getter]
    fn _fileno(&self) -> RawFd {
        self.fd
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        let (closed, closing, reading) =
            this.with_core(slf.py(), |c| (c.resource.is_none(), c.closing, c.reading))?;
        let class = slf.get_type().name()?.to_string();
        let polling = (!this.loop_.get().is_closed()).then_some(reading);
        Ok(pipe_repr(&class, closed, closing, this.fd, polling, None))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.traverse_core(&visit)
    }

    fn __clear__(&self) {
        Python::attach(|py| drop(self.with_core(py, Core::take)));
    }
}

// ---------------------------------------------------------------- writing

/// `core.reading` is the reader that watches for the other end closing.
pub(crate) struct WriteState {
    core: Core,
    buffer: WriteBuffer,
    flow: FlowControl,
    conn_lost: u32,
}

/// Subclassed in Python only to add `__del__` (`_pipes.py`).
#[pyclass(frozen, subclass, weakref, module = "pyloop._pyloop")]
pub struct WritePipeTransport {
    loop_: Py<Loop>,
    fd: RawFd,
    state: GilCell<WriteState>,
}

native_pipe!(WritePipeTransport, WriteState);

impl Buffered for WritePipeTransport {
    fn flow(state: &mut WriteState) -> (&mut FlowControl, usize) {
        (&mut state.flow, state.buffer.len())
    }
}

impl WritePipeTransport {
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut WriteState) -> R) -> PyResult<R> {
        self.state.with(py, f)
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
                flow::maybe_resume_protocol(slf)?;
                if this.with(py, |s| s.core.closing)? {
                    this.unwatch(py, true)?;
                    Self::_call_connection_lost(this, py, None)?;
                }
                Ok(())
            }
        }
    }

    fn fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        core::report_fatal(slf, &exc, message, exc.is_instance_of::<PyOSError>())?;
        Self::close_with(slf, Some(exc))
    }

    /// asyncio's `_close`: drop the buffer, stop watching, connection_lost soon.
    fn close_with(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let had_buffer = this.with(py, |s| {
            s.core.closing = true;
            let had = !s.buffer.is_empty();
            s.buffer.clear();
            had
        })?;
        if had_buffer {
            this.unwatch(py, false)?;
        }
        this.unwatch(py, true)?;
        core::schedule_connection_lost(slf, exc)
    }

    /// `write`'s bytes, whatever object they came in.
    fn write_slice(slf: &Bound<'_, Self>, slice: &[u8]) -> PyResult<()> {
        let py = slf.py();
        if slice.is_empty() {
            return Ok(());
        }
        let lost = slf.get().with(py, |s| {
            if s.conn_lost > 0 || s.core.closing {
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

    fn write_bytes(slf: &Bound<'_, Self>, data: &[u8]) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let next = this.with(py, |s| {
            let next = s
                .buffer
                .send_or_queue(data, |data| sys_io::write(this.fd, data));
            // asyncio counts a failed write as a lost connection here.
            s.conn_lost += u32::from(matches!(next, Sent::Failed(_)));
            next
        })?;
        match next {
            Sent::Done => {}
            Sent::Watch => core::watch(slf, false)?,
            Sent::Failed(err) => {
                return Self::fatal_error(
                    slf,
                    os_error(py, err),
                    "Fatal write error on pipe transport",
                )
            }
        }
        flow::maybe_pause_protocol(slf)
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
                core: Core::new(pipe, protocol, extra),
                buffer: WriteBuffer::default(),
                flow: FlowControl::default(),
                conn_lost: 0,
            }),
        })
    }

    /// Watches the fd for the other end closing (sockets and FIFOs only).
    fn _start_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        if !slf
            .get()
            .with(slf.py(), |s| s.core.closing || s.core.reading)?
        {
            core::watch(slf, true)?;
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
        lose_connection(self, py, exc)
    }

    #[pyo3(signature = (exc, message="Fatal error on pipe transport"))]
    fn _fatal_error(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        Self::fatal_error(slf, exc, message)
    }

    fn write(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = data.downcast::<PyBytes>().ok();
        if bytes.is_none()
            && !data.is_instance_of::<PyByteArray>()
            && !data.is_instance_of::<PyMemoryView>()
        {
            // asyncio asserts the type.
            return Err(PyAssertionError::new_err(data.repr()?.unbind()));
        }
        match bytes {
            Some(bytes) => Self::write_slice(slf, bytes.as_bytes()),
            None => ByteView::read(data, |view| Self::write_slice(slf, view))?,
        }
    }

    /// asyncio's: the pieces joined, then one `write`.
    fn writelines(slf: &Bound<'_, Self>, list_of_data: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::write(slf, &core::join_bytes(list_of_data)?)
    }

    fn can_write_eof(&self) -> bool {
        true
    }

    fn write_eof(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let lose_now = this.with(py, |s| {
            if s.core.closing {
                return None;
            }
            s.core.closing = true;
            Some(s.buffer.is_empty())
        })?;
        if lose_now == Some(true) {
            this.unwatch(py, true)?;
            core::schedule_connection_lost(slf, None)?;
        }
        Ok(())
    }

    /// A write pipe closes by flushing, then closing: `write_eof`.
    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let open = slf
            .get()
            .with(slf.py(), |s| s.core.resource.is_some() && !s.core.closing)?;
        if open {
            Self::write_eof(slf)?;
        }
        Ok(())
    }

    fn abort(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::close_with(slf, None)
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

    fn get_write_buffer_size(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |s| s.buffer.len())
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

    fn get_protocol(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Native::get_protocol(self, py)
    }

    fn set_protocol(&self, protocol: Bound<'_, PyAny>) -> PyResult<()> {
        self.replace_protocol(protocol)
    }

    #[getter]
    fn _pipe(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.resource(py)
    }

    /// Tests (CPython's among them) detach the pipe to silence `__del__`.
    #[setter(_pipe)]
    fn set_pipe(&self, py: Python<'_>, pipe: Option<Py<PyAny>>) -> PyResult<()> {
        self.replace_resource(py, pipe)
    }

    #[getter]
    fn _fileno(&self) -> RawFd {
        self.fd
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        // "polling" is about writing here, as in asyncio's repr.
        let (closed, closing, writing, size) = this.with(slf.py(), |s| {
            (
                s.core.resource.is_none(),
                s.core.closing,
                s.core.writing,
                s.buffer.len(),
            )
        })?;
        let class = slf.get_type().name()?.to_string();
        Ok(pipe_repr(
            &class,
            closed,
            closing,
            this.fd,
            (!this.loop_.get().is_closed()).then_some(writing),
            Some(size),
        ))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.traverse_core(&visit)
    }

    fn __clear__(&self) {
        Python::attach(|py| drop(self.with_core(py, Core::take)));
    }
}
