//! Python objects the glue needs, imported once per interpreter.
//!
//! Reprs, stacks and task registration go through asyncio's own helpers, so
//! pyloop's objects read and register exactly as asyncio's do.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;

/// One cached attribute of an asyncio module.
macro_rules! asyncio_fn {
    ($name:ident, $module:literal, $attr:literal) => {
        pub fn $name(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
            static CELL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
            CELL.import(py, $module, $attr)
        }
    };
}

asyncio_fn!(extract_stack, "asyncio.format_helpers", "extract_stack");
asyncio_fn!(
    format_callback_source,
    "asyncio.format_helpers",
    "_format_callback_source"
);
asyncio_fn!(get_event_loop, "asyncio.events", "get_event_loop");
asyncio_fn!(enter_task, "asyncio.tasks", "_enter_task");
asyncio_fn!(leave_task, "asyncio.tasks", "_leave_task");
asyncio_fn!(register_task, "asyncio.tasks", "_register_task");
asyncio_fn!(task_name_counter, "asyncio.tasks", "_task_name_counter");
asyncio_fn!(is_coroutine, "asyncio.coroutines", "iscoroutine");
asyncio_fn!(
    future_repr_info,
    "asyncio.base_futures",
    "_future_repr_info"
);
asyncio_fn!(task_repr_info, "asyncio.base_tasks", "_task_repr_info");
asyncio_fn!(task_get_stack, "asyncio.base_tasks", "_task_get_stack");
asyncio_fn!(task_print_stack, "asyncio.base_tasks", "_task_print_stack");
asyncio_fn!(generic_alias, "types", "GenericAlias");
asyncio_fn!(asyncio_future_class, "asyncio", "Future");
asyncio_fn!(asyncio_task_class, "asyncio", "Task");
asyncio_fn!(asyncio_logger, "asyncio.log", "logger");
asyncio_fn!(
    buffered_protocol_class,
    "asyncio.protocols",
    "BufferedProtocol"
);

/// asyncio's own rendering of `callback(args)` with its source location, so
/// handle reprs and error messages read exactly as asyncio's do.
pub fn format_callback(
    py: Python<'_>,
    callback: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
) -> PyResult<String> {
    format_callback_source(py)?
        .call1((callback, args))?
        .extract()
}

/// The caller's stack as asyncio records it in debug mode
/// (`format_helpers.extract_stack`), ending at the Python frame that called
/// into the loop.
pub fn creation_stack(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let frame = py.import("sys")?.call_method1("_getframe", (0,))?;
    Ok(extract_stack(py)?.call1((frame,))?.unbind())
}

/// `<Class info...>` from one of asyncio's `_*_repr_info` helpers.
pub fn repr_from_info(obj: &Bound<'_, PyAny>, info: &Bound<'_, PyAny>) -> PyResult<String> {
    let parts: Vec<String> = info.call1((obj,))?.extract()?;
    let class = obj.get_type().name()?;
    Ok(format!("<{class} {}>", parts.join(" ")))
}
