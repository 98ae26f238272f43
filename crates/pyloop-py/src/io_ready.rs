//! Which native code a ready fd runs: the reader and writer registrations of
//! native transports carry the transport itself, and the loop's handle calls
//! its `IoReady::on_ready` without a Python call in between.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::transport::SocketTransport;

/// A native transport's reader (read=True) or writer callback.
pub(crate) trait IoReady: pyo3::PyClass + pyo3::type_object::PyTypeInfo {
    fn on_ready(slf: &Bound<'_, Self>, read: bool) -> PyResult<()>;
}

fn run<T: IoReady>(target: &Bound<'_, PyAny>, read: bool) -> Option<PyResult<()>> {
    target.downcast::<T>().ok().map(|t| T::on_ready(t, read))
}

pub(crate) fn on_ready(target: &Bound<'_, PyAny>, read: bool) -> PyResult<()> {
    // One line per native transport type.
    run::<SocketTransport>(target, read).unwrap_or_else(|| {
        Err(PyTypeError::new_err(format!(
            "pyloop: {} has no native I/O callbacks",
            target.get_type().name()?
        )))
    })
}
