//! `asyncio.current_task()` bookkeeping around each task step.
//!
//! Up to Python 3.13 asyncio keeps the running task per loop in one dict,
//! `asyncio.tasks._current_tasks` (the C module's own); entering and leaving
//! a task are a lookup and a store there, done here directly with
//! `_enter_task`'s and `_leave_task`'s checks and messages. Where that dict
//! is not what `current_task()` reads (3.14 keeps the task on the thread
//! state), asyncio's `_enter_task`/`_leave_task` are called instead.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyDict;

use crate::imports::{enter_task, leave_task};

/// The dict, or None when the functions must be called.
fn current_tasks(py: Python<'_>) -> PyResult<Option<&Bound<'_, PyDict>>> {
    static DICT: GILOnceCell<Option<Py<PyDict>>> = GILOnceCell::new();
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
    if let Some(running) = dict.get_item(loop_)? {
        return Err(PyRuntimeError::new_err(format!(
            "Cannot enter into task {} while another task {} is being executed.",
            task.repr()?,
            running.repr()?
        )));
    }
    dict.set_item(loop_, task)
}

pub fn leave(loop_: &Bound<'_, PyAny>, task: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = loop_.py();
    let Some(dict) = current_tasks(py)? else {
        return leave_task(py)?.call1((loop_, task)).map(drop);
    };
    let running = dict.get_item(loop_)?;
    if !running.as_ref().is_some_and(|r| r.is(task)) {
        let shown = match running {
            Some(r) => r.repr()?.to_string(),
            None => "None".to_owned(),
        };
        return Err(PyRuntimeError::new_err(format!(
            "Leaving task {} does not match the current task {shown}.",
            task.repr()?
        )));
    }
    dict.del_item(loop_)
}
