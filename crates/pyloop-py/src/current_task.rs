//! `asyncio.current_task()` bookkeeping around each task step.
//!
//! Up to Python 3.13 asyncio keeps the running task per loop in one dict,
//! `asyncio.tasks._current_tasks` (the C module's own); entering and leaving
//! a task are a lookup and a store there, done here directly with
//! `_enter_task`'s and `_leave_task`'s checks and messages. Where that dict
//! is not what `current_task()` reads (3.14 keeps the task on the thread
//! state), asyncio's `_enter_task`/`_leave_task` are called instead.

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use crate::imports::{enter_task, leave_task};

extern "C" {
    /// CPython's `dict.setdefault` (public C API, not in pyo3-ffi 0.25):
    /// returns a borrowed reference to the value now under `key`.
    fn PyDict_SetDefault(
        dict: *mut ffi::PyObject,
        key: *mut ffi::PyObject,
        default: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
}

/// The dict, or None when the functions must be called.
fn current_tasks(py: Python<'_>) -> PyResult<Option<&Bound<'_, PyDict>>> {
    static DICT: PyOnceLock<Option<Py<PyDict>>> = PyOnceLock::new();
    let dict = DICT.get_or_try_init(py, || -> PyResult<_> {
        if py.version_info() >= (3, 14) {
            return Ok(None);
        }
        let tasks = py.import("asyncio.tasks")?;
        Ok(tasks
            .getattr("_current_tasks")
            .ok()
            .and_then(|d| d.downcast_into::<PyDict>().ok())
            .map(Bound::unbind))
    })?;
    Ok(dict.as_ref().map(|d| d.bind(py)))
}

pub fn enter(loop_: &Bound<'_, PyAny>, task: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = loop_.py();
    let Some(dict) = current_tasks(py)? else {
        return enter_task(py)?.call1((loop_, task)).map(drop);
    };
    // One lookup: setdefault stores the task unless another one is there.
    // SAFETY: a live dict, key and value, GIL held; returns a borrowed
    // reference (the value in the dict) or NULL with an error set.
    let running = unsafe { PyDict_SetDefault(dict.as_ptr(), loop_.as_ptr(), task.as_ptr()) };
    if running.is_null() {
        return Err(PyErr::fetch(py));
    }
    if running == task.as_ptr() {
        return Ok(());
    }
    // SAFETY: borrowed from the dict, which keeps it alive for this call.
    let running = unsafe { Bound::from_borrowed_ptr(py, running) };
    Err(PyRuntimeError::new_err(format!(
        "Cannot enter into task {} while another task {} is being executed.",
        task.repr()?,
        running.repr()?
    )))
}

pub fn leave(loop_: &Bound<'_, PyAny>, task: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = loop_.py();
    let Some(dict) = current_tasks(py)? else {
        return leave_task(py)?.call1((loop_, task)).map(drop);
    };
    // SAFETY: a live dict and key, GIL held; a borrowed reference, or NULL
    // (absent, or an error set).
    let running = unsafe { ffi::PyDict_GetItemWithError(dict.as_ptr(), loop_.as_ptr()) };
    if running == task.as_ptr() {
        // SAFETY: as above; the key is present.
        if unsafe { ffi::PyDict_DelItem(dict.as_ptr(), loop_.as_ptr()) } != 0 {
            return Err(PyErr::fetch(py));
        }
        return Ok(());
    }
    if let Some(err) = PyErr::take(py) {
        return Err(err);
    }
    let shown = if running.is_null() {
        "None".to_owned()
    } else {
        // SAFETY: borrowed from the dict, alive for this call.
        unsafe { Bound::from_borrowed_ptr(py, running) }
            .repr()?
            .to_string()
    };
    Err(PyRuntimeError::new_err(format!(
        "Leaving task {} does not match the current task {shown}.",
        task.repr()?
    )))
}
