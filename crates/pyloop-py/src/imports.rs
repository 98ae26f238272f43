//! Python objects the glue needs, imported once per interpreter.

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyTuple;

static FORMAT_CALLBACK_SOURCE: GILOnceCell<Py<PyAny>> = GILOnceCell::new();

/// asyncio's own rendering of `callback(args)` with its source location, so
/// handle reprs and error messages read exactly as asyncio's do.
pub fn format_callback(
    py: Python<'_>,
    callback: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
) -> PyResult<String> {
    let format =
        FORMAT_CALLBACK_SOURCE.import(py, "asyncio.format_helpers", "_format_callback_source")?;
    format.call1((callback, args))?.extract()
}
