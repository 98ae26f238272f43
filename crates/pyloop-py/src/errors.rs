//! asyncio's error messages, word for word, and the one conversion from the
//! core's errors to Python exceptions.

use pyloop_core::CoreError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::PyErr;

pub const LOOP_CLOSED: &str = "Event loop is closed";
pub const NOT_LOOP_THREAD: &str =
    "Non-thread-safe operation invoked on an event loop other than the current one";
pub const WHEN_NONE: &str = "when cannot be None";
pub const DELAY_NONE: &str = "delay must not be None";

pub fn core_to_py(err: CoreError) -> PyErr {
    match err {
        // PyO3 maps the errno to the matching OSError subclass
        // (PermissionError for a regular file given to epoll, ...).
        CoreError::Io(e) => e.into(),
        forked @ CoreError::Forked { .. } => PyRuntimeError::new_err(forked.to_string()),
    }
}

pyo3::import_exception!(asyncio, CancelledError);
pyo3::import_exception!(asyncio, InvalidStateError);

pub const NOT_INITIALIZED: &str = "Future object is not initialized.";
