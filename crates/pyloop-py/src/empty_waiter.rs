//! The future `loop.sendfile` waits on before it hands a socket transport's
//! fd to `os.sendfile`: done once the transport's write buffer is empty
//! (asyncio's "empty waiter"), failed if the connection breaks first.
//!
//! While one is installed the transport refuses `write()`, so the file's
//! bytes, which bypass the buffer, cannot interleave with other writes.
//! Only the transport owns it; this module knows nothing of transports.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

/// The installed future, if a zero-copy sendfile is under way.
#[derive(Default)]
pub struct EmptyWaiter(Option<Py<PyAny>>);

impl EmptyWaiter {
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Installs `future` and hands back the one it replaces (None when the
    /// caller checked `is_set` first), for the caller to drop outside the
    /// state cell.
    pub fn install(&mut self, future: Py<PyAny>) -> Option<Py<PyAny>> {
        self.0.replace(future)
    }

    /// A new reference to the installed future (to settle it outside the
    /// state cell, where Python code may run).
    pub fn get(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.0.as_ref().map(|f| f.clone_ref(py))
    }

    /// Uninstalls the future; the caller drops it outside the state cell.
    pub fn take(&mut self) -> Option<Py<PyAny>> {
        self.0.take()
    }

    pub fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.0.as_ref().map_or(Ok(()), |f| visit.call(f))
    }
}

/// Sets `future`'s result to None (`exc` None) or its exception, unless it
/// is already done: the buffer can empty, then the connection break, while
/// the same sendfile is still running.
pub fn settle(future: &Bound<'_, PyAny>, exc: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let py = future.py();
    if future.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    match exc {
        None => future.call_method1(intern!(py, "set_result"), (py.None(),)),
        Some(exc) => future.call_method1(intern!(py, "set_exception"), (exc,)),
    }
    .map(drop)
}
