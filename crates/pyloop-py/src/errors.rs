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
        CoreError::Io(e) => io_to_py(e),
        forked @ CoreError::Forked { .. } => PyRuntimeError::new_err(forked.to_string()),
    }
}

pyo3::import_exception!(asyncio, CancelledError);
pyo3::import_exception!(asyncio, InvalidStateError);

pub const NOT_INITIALIZED: &str = "Future object is not initialized.";

/// An OS error as CPython raises it: `OSError(errno, strerror)`, which
/// picks the subclass (ConnectionRefusedError, ...) and sets `errno` and
/// `strerror`. PyO3's own conversion keeps only the message.
pub fn io_to_py(err: std::io::Error) -> PyErr {
    match err.raw_os_error() {
        Some(code) => {
            // SAFETY: strerror returns a NUL-terminated string; it is read at
            // once, with the GIL held (as CPython's PyErr_SetFromErrno does).
            let text = unsafe { std::ffi::CStr::from_ptr(libc::strerror(code)) }
                .to_string_lossy()
                .into_owned();
            pyo3::exceptions::PyOSError::new_err((code, text))
        }
        None => err.into(),
    }
}
