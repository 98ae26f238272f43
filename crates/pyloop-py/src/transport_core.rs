//! What the native transports (stream sockets, pipes, datagram sockets)
//! hold and do alike: the Python objects they keep until `connection_lost`,
//! their reader/writer registrations, and the asyncio calls every one of
//! them makes the same way. PyO3 classes cannot share methods, so each
//! `#[pymethods]` block delegates here in one line where behaviour is equal.

use std::io;
use std::os::fd::RawFd;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pyclass::boolean_struct::True;
use pyo3::types::{PyBytes, PyDict};
use pyo3::{PyTraverseError, PyVisit};

use crate::gil_cell::GilCell;
use crate::imports::asyncio_logger;
use crate::io_ready;
use crate::loop_::Loop;

/// The state every native transport has.
pub(crate) struct Core {
    /// The Python socket or pipe; None once connection_lost has run.
    pub resource: Option<Py<PyAny>>,
    pub protocol: Option<Py<PyAny>>,
    pub extra: Option<Py<PyDict>>,
    pub closing: bool,
    /// `pause_reading` is in force.
    pub paused: bool,
    /// A reader / writer is registered with the loop.
    pub reading: bool,
    pub writing: bool,
}

/// The objects `Core::take` hands out, to be dropped outside the cell.
pub(crate) type Taken = (Option<Py<PyAny>>, Option<Py<PyAny>>, Option<Py<PyDict>>);

impl Core {
    pub fn new(
        resource: Bound<'_, PyAny>,
        protocol: Bound<'_, PyAny>,
        extra: Option<Bound<'_, PyDict>>,
    ) -> Self {
        Self {
            resource: Some(resource.unbind()),
            protocol: Some(protocol.unbind()),
            extra: extra.map(Bound::unbind),
            closing: false,
            paused: false,
            reading: false,
            writing: false,
        }
    }

    pub fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        for obj in [&self.resource, &self.protocol].into_iter().flatten() {
            visit.call(obj)?;
        }
        if let Some(extra) = &self.extra {
            visit.call(extra)?;
        }
        Ok(())
    }

    /// For `__clear__`.
    pub fn take(&mut self) -> Taken {
        (
            self.resource.take(),
            self.protocol.take(),
            self.extra.take(),
        )
    }

    fn registered(&mut self, read: bool) -> &mut bool {
        if read {
            &mut self.reading
        } else {
            &mut self.writing
        }
    }
}

/// A native transport class: where its loop, fd and `Core` are.
pub(crate) trait Native:
    pyo3::PyClass<Frozen = True> + Sync + crate::io_ready::IoReady
{
    type State;
    fn loop_(&self) -> &Py<Loop>;
    fn fd(&self) -> RawFd;
    fn cell(&self) -> &GilCell<Self::State>;
    fn core(state: &mut Self::State) -> &mut Core;
    fn core_ref(state: &Self::State) -> &Core;

    /// Runs `f` on the transport's `Core` (no Python calls inside).
    fn with_core<R>(&self, py: Python<'_>, f: impl FnOnce(&mut Core) -> R) -> PyResult<R> {
        self.cell().with(py, |s| f(Self::core(s)))
    }

    fn protocol<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.get_protocol(py).map(|p| p.map(|p| p.into_bound(py)))
    }

    fn get_protocol(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.with_core(py, |c| c.protocol.as_ref().map(|p| p.clone_ref(py)))
    }

    fn resource(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.with_core(py, |c| c.resource.as_ref().map(|p| p.clone_ref(py)))
    }

    /// Swaps the protocol; the old one is dropped outside the cell.
    fn replace_protocol(&self, protocol: Bound<'_, PyAny>) -> PyResult<()> {
        let old = self.with_core(protocol.py(), |c| c.protocol.replace(protocol.unbind()))?;
        drop(old);
        Ok(())
    }

    /// Swaps the socket or pipe (tests detach a pipe to silence `__del__`).
    fn replace_resource(&self, py: Python<'_>, resource: Option<Py<PyAny>>) -> PyResult<()> {
        let old = self.with_core(py, |c| std::mem::replace(&mut c.resource, resource))?;
        drop(old);
        Ok(())
    }

    fn get_extra_info(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let default = default.unwrap_or_else(|| py.None());
        // Cloned out first: the dict lookup may run Python code.
        let Some(extra) = self.with_core(py, |c| c.extra.as_ref().map(|e| e.clone_ref(py)))? else {
            return Ok(default);
        };
        Ok(extra
            .bind(py)
            .get_item(name)?
            .map_or(default, Bound::unbind))
    }

    fn is_closing(&self, py: Python<'_>) -> PyResult<bool> {
        self.with_core(py, |c| c.closing)
    }

    fn is_reading(&self, py: Python<'_>) -> PyResult<bool> {
        self.with_core(py, |c| !c.closing && !c.paused)
    }

    /// Drops the reader (read=True) or writer registration, if there is one.
    fn unwatch(&self, py: Python<'_>, read: bool) -> PyResult<()> {
        if self.with_core(py, |c| std::mem::replace(c.registered(read), false))? {
            Loop::_remove_io(self.loop_().bind(py), self.fd(), read)?;
        }
        Ok(())
    }

    /// Closes the socket or pipe the transport still holds, if any, after
    /// dropping the fd's idle registration (the loop keeps a socket's
    /// between waits; closing first would leave it to a later file).
    fn close_resource(&self, py: Python<'_>, resource: Option<Py<PyAny>>) -> PyResult<()> {
        let Some(resource) = resource else {
            return Ok(());
        };
        self.loop_().get().forget_fd(self.fd());
        resource
            .bind(py)
            .call_method0(intern!(py, "close"))
            .map(drop)
    }

    /// `__traverse__` of the loop and the `Core`.
    fn traverse_core(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(self.loop_())?;
        self.cell()
            .peek()
            .map_or(Ok(()), |s| Self::core_ref(s).traverse(visit))
    }
}

/// Registers `slf`'s reader (read=True) or writer with the loop.
pub(crate) fn watch<T: Native>(slf: &Bound<'_, T>, read: bool) -> PyResult<()> {
    let this = slf.get();
    io_ready::watch(this.loop_().bind(slf.py()), this.fd(), read, slf)?;
    this.with_core(slf.py(), |c| *c.registered(read) = true)
}

/// `_start_reading` of the socket transports: registers the reader unless
/// the transport was closed or paused before (it is scheduled right after
/// `connection_made`).
pub(crate) fn start_reading<T: Native>(slf: &Bound<'_, T>) -> PyResult<()> {
    let start = slf
        .get()
        .with_core(slf.py(), |c| !c.closing && !c.paused && !c.reading)?;
    if start {
        watch(slf, true)?;
    }
    Ok(())
}

/// Schedules `slf._call_connection_lost(exc)` (None when there is no exc).
pub(crate) fn schedule_connection_lost<T: Native>(
    slf: &Bound<'_, T>,
    exc: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let py = slf.py();
    let lost = slf.as_any().getattr(intern!(py, "_call_connection_lost"))?;
    io_ready::call_soon(
        slf.get().loop_().bind(py),
        lost,
        Some(exc.unwrap_or_else(|| py.None().into_bound(py))),
    )
}

/// The reporting half of asyncio's `_fatal_error`: an expected error
/// (`quiet`: an OSError, or EIO on a read pipe) is only logged in debug
/// mode; anything else goes to the loop's exception handler.
pub(crate) fn report_fatal<T: Native>(
    slf: &Bound<'_, T>,
    exc: &Bound<'_, PyAny>,
    message: &str,
    quiet: bool,
) -> PyResult<()> {
    let py = slf.py();
    let this = slf.get();
    let loop_ = this.loop_().bind(py);
    if !quiet {
        return io_ready::report_error(loop_, message, exc, slf.as_any(), this.protocol(py)?);
    }
    if loop_.get().debug_enabled() {
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", exc)?;
        asyncio_logger(py)?.call_method("debug", ("%r: %s", slf, message), Some(&kwargs))?;
    }
    Ok(())
}

/// Logs `"%r <what>"` at debug level when the loop is in debug mode.
pub(crate) fn debug_log<T: Native>(slf: &Bound<'_, T>, format: &str) -> PyResult<()> {
    if slf.get().loop_().get().debug_enabled() {
        asyncio_logger(slf.py())?.call_method1("debug", (format, slf))?;
    }
    Ok(())
}

/// `pause_reading`: stops the reader unless closing or paused already.
/// `log` adds the socket transports' debug line.
pub(crate) fn pause_reading<T: Native>(slf: &Bound<'_, T>, log: bool) -> PyResult<()> {
    let py = slf.py();
    let this = slf.get();
    let pause = this.with_core(py, |c| {
        let pause = !c.closing && !c.paused;
        c.paused |= pause;
        pause
    })?;
    if pause {
        this.unwatch(py, true)?;
        if log {
            debug_log(slf, "%r pauses reading")?;
        }
    }
    Ok(())
}

/// `resume_reading`: true when the caller should register the reader again.
pub(crate) fn unpause<T: Native>(slf: &Bound<'_, T>) -> PyResult<bool> {
    slf.get().with_core(slf.py(), |c| {
        let resume = !c.closing && c.paused;
        c.paused &= !resume;
        resume
    })
}

/// `protocol.connection_lost(exc)` when there is a protocol to tell.
pub(crate) fn tell_connection_lost(
    py: Python<'_>,
    protocol: Option<Py<PyAny>>,
    exc: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    protocol.map_or(Ok(()), |protocol| {
        protocol
            .bind(py)
            .call_method1(intern!(py, "connection_lost"), (exc,))
            .map(drop)
    })
}

/// The OS error as the Python exception object asyncio would have caught.
pub(crate) fn os_error(py: Python<'_>, err: io::Error) -> Bound<'_, PyAny> {
    // errno and strerror set, as CPython's OSError(errno, strerror).
    crate::errors::io_to_py(err)
        .into_value(py)
        .into_bound(py)
        .into_any()
}

/// A caught exception as the object handed to `_fatal_error`.
pub(crate) fn exc_object(py: Python<'_>, err: PyErr) -> Bound<'_, PyAny> {
    err.into_value(py).into_bound(py).into_any()
}

/// asyncio's selector `close()`: stop reading and, when `drained` finds
/// nothing left to send, schedule connection_lost (else the last send
/// will). `drained` runs inside the state cell.
pub(crate) fn close_after_flush<T: Native>(
    slf: &Bound<'_, T>,
    drained: impl FnOnce(&mut T::State) -> bool,
) -> PyResult<()> {
    let py = slf.py();
    let this = slf.get();
    let lose_now = this.cell().with(py, |s| {
        let core = T::core(s);
        if core.closing {
            return None;
        }
        core.closing = true;
        Some(drained(s))
    })?;
    let Some(lose_now) = lose_now else {
        return Ok(());
    };
    this.unwatch(py, true)?;
    if lose_now {
        this.unwatch(py, false)?;
        schedule_connection_lost(slf, None)?;
    }
    Ok(())
}

/// `writelines`' argument joined into one bytes object, as asyncio does.
pub(crate) fn join_bytes<'py>(list_of_data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = list_of_data.py();
    PyBytes::new(py, b"").call_method1(intern!(py, "join"), (list_of_data,))
}
