//! Python objects the glue needs, imported once per interpreter.

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyTuple;

static EXTRACT_STACK: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
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

/// The caller's stack as asyncio records it in debug mode
/// (`format_helpers.extract_stack`), ending at the Python frame that called
/// into the loop.
pub fn creation_stack(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let extract = EXTRACT_STACK.import(py, "asyncio.format_helpers", "extract_stack")?;
    let frame = py.import("sys")?.call_method1("_getframe", (0,))?;
    Ok(extract.call1((frame,))?.unbind())
}
