//! Registering tasks so that `asyncio.all_tasks()` sees them.
//!
//! On 3.11 asyncio keeps every task in one `weakref.WeakSet`,
//! `asyncio.tasks._all_tasks`, and `_register_task` is a call of its
//! Python-level `add` method: about a sixth of the instructions of creating
//! and awaiting a trivial task. Here the set's entry is made directly, the
//! same entry `WeakSet.add` makes: a weak reference carrying the set's
//! removal callback, put in the set's `data`. Other versions (3.12 changed
//! which set holds non-asyncio tasks) call asyncio's `_register_task`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PySet};
use pyo3::{ffi, intern};

use crate::imports::register_task;

/// The parts of asyncio's WeakSet of tasks that its `add` uses.
struct TaskSet {
    set: Py<PyAny>,
    data: Py<PySet>,
    remove: Py<PyAny>,
    pending_removals: Py<PyList>,
}

fn task_set(py: Python<'_>) -> PyResult<Option<&TaskSet>> {
    static SET: PyOnceLock<Option<TaskSet>> = PyOnceLock::new();
    let found = SET.get_or_try_init(py, || -> PyResult<_> {
        if py.version_info() >= (3, 12) {
            return Ok(None);
        }
        let set = py.import("asyncio.tasks")?.getattr("_all_tasks")?;
        if !set.is_exact_instance(&py.import("weakref")?.getattr("WeakSet")?) {
            return Ok(None);
        }
        let parts = (
            set.getattr("data")?.downcast_into::<PySet>(),
            set.getattr("_remove"),
            set.getattr("_pending_removals")?.downcast_into::<PyList>(),
        );
        Ok(match parts {
            (Ok(data), Ok(remove), Ok(pending_removals)) => Some(TaskSet {
                set: set.unbind(),
                data: data.unbind(),
                remove: remove.unbind(),
                pending_removals: pending_removals.unbind(),
            }),
            _ => None,
        })
    })?;
    Ok(found.as_ref())
}

/// `asyncio.tasks._register_task(task)`.
pub fn register(task: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = task.py();
    let Some(tasks) = task_set(py)? else {
        return register_task(py)?.call1((task,)).map(drop);
    };
    if !tasks.pending_removals.bind(py).is_empty() {
        // What WeakSet.add does first: drop entries whose tasks died while
        // the set was being iterated.
        tasks
            .set
            .call_method0(py, intern!(py, "_commit_removals"))?;
    }
    // SAFETY: live objects, GIL held; a new reference or NULL with an error.
    let entry = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyWeakref_NewRef(task.as_ptr(), tasks.remove.as_ptr()),
        )?
    };
    tasks.data.bind(py).add(entry)
}
