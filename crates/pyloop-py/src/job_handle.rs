//! `JobHandle`: the storage of a task runner handle (`pyloop.tasks`), and its
//! two per-job transitions (started, finished) as single native calls.
//!
//! Native because building a handle (two dozen slot stores in a Python
//! `__init__`) and finishing it were a visible share of a trivial job's cost
//! (PYLOOP_NOTES.md, task runner section). What the fields mean, and every
//! other transition, stays in Python: `TaskHandle` subclasses this and the
//! runner reads and writes the fields by name.
//!
//! Not frozen, unlike the loop's classes: each field is read and written from
//! Python, and PyO3's generated `get`/`set` accessors need `&mut self` access.
//! Values stay the Python objects the runner gave (states, outcomes, clock
//! readings), so nothing here depends on their types or on the loop in use.

use pyo3::exceptions::{PyBaseException, PyException, PyRuntimeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;
use pyo3::{intern, PyTraverseError, PyVisit};

use crate::gc_fields;

/// One cached attribute of a `pyloop.tasks` module.
macro_rules! tasks_attr {
    ($name:ident, $module:literal, $attr:literal) => {
        fn $name(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
            static CELL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
            CELL.import(py, $module, $attr)
        }
    };
}

// The coroutines an attempt runs when the call did not give one (as FunctionJob._start).
tasks_attr!(await_helper, "pyloop.tasks._job", "_await");
tasks_attr!(raise_helper, "pyloop.tasks._job", "_raise");

/// `pyloop.tasks._states.State.PENDING`, the state a new handle starts in.
fn pending(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    static CELL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    CELL.get_or_try_init(py, || {
        Ok(py
            .import("pyloop.tasks._states")?
            .getattr("State")?
            .getattr("PENDING")?
            .unbind())
    })
}

#[pyclass(subclass, module = "pyloop._pyloop")]
pub struct JobHandle {
    #[pyo3(get, set, name = "_runner")]
    runner: Option<Py<PyAny>>,
    /// The Job; None for a coroutine function until someone asks for its
    /// `FunctionJob` (`TaskHandle.job`), which most handles never need.
    #[pyo3(get, set, name = "_job")]
    job: Option<Py<PyAny>>,
    /// A coroutine function and its argument tuple, when submitted as one.
    #[pyo3(get, name = "_func")]
    func: Option<Py<PyAny>>,
    #[pyo3(get, name = "_args")]
    args: Option<Py<PyAny>>,
    /// The uid is spelled from it only when read (off the hot path).
    #[pyo3(get, name = "_seq")]
    seq: u64,
    #[pyo3(get, name = "_name")]
    name: Option<Py<PyAny>>,
    #[pyo3(get, name = "_priority")]
    priority: i64,
    #[pyo3(get, name = "_timeout")]
    timeout: Option<Py<PyAny>>,
    #[pyo3(get, name = "_retries")]
    retries: Option<Py<PyAny>>,
    #[pyo3(get, name = "_backoff")]
    backoff: Option<Py<PyAny>>,
    #[pyo3(get, name = "_created")]
    created: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_started")]
    started: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_finished")]
    finished: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_state")]
    state: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_outcome")]
    outcome: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_result")]
    result: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_error")]
    error: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_error_tb")]
    error_tb: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_attempts")]
    attempts: i64,
    /// What a worker is doing for a RUNNING handle (`_handle.PHASE_*`).
    #[pyo3(get, set, name = "_phase")]
    phase: i64,
    #[pyo3(get, set, name = "_task")]
    task: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "_cancel_requested")]
    cancel_requested: bool,
    #[pyo3(get, set, name = "_force")]
    force: bool,
    #[pyo3(get, set, name = "_timed_out")]
    timed_out: bool,
    /// None, or the list of futures of those who wait for the handle.
    #[pyo3(get, set, name = "_waiters")]
    waiters: Option<Py<PyAny>>,
}

impl JobHandle {
    /// Every field that holds a Python object.
    fn objects_mut(&mut self) -> [&mut Option<Py<PyAny>>; 18] {
        [
            &mut self.runner,
            &mut self.job,
            &mut self.func,
            &mut self.args,
            &mut self.name,
            &mut self.timeout,
            &mut self.retries,
            &mut self.backoff,
            &mut self.created,
            &mut self.started,
            &mut self.finished,
            &mut self.state,
            &mut self.outcome,
            &mut self.result,
            &mut self.error,
            &mut self.error_tb,
            &mut self.task,
            &mut self.waiters,
        ]
    }

    fn objects(&self) -> [&Option<Py<PyAny>>; 18] {
        [
            &self.runner,
            &self.job,
            &self.func,
            &self.args,
            &self.name,
            &self.timeout,
            &self.retries,
            &self.backoff,
            &self.created,
            &self.started,
            &self.finished,
            &self.state,
            &self.outcome,
            &self.result,
            &self.error,
            &self.error_tb,
            &self.task,
            &self.waiters,
        ]
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        // SAFETY: a pyclass is dropped by its tp_dealloc, with the GIL held.
        // Dropping each reference as a Bound is a plain decref, without the
        // "is the GIL held?" check (a thread-local read) that dropping a Py
        // pays: a handle holds eighteen of them and one is freed per job.
        let py = unsafe { Python::assume_attached() };
        for slot in self.objects_mut() {
            drop(slot.take().map(|obj| obj.into_bound(py)));
        }
    }
}

#[pymethods]
impl JobHandle {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (runner, job, seq, name, priority, timeout, retries, backoff, created, func=None, args=None))]
    fn new(
        py: Python<'_>,
        runner: Option<Py<PyAny>>,
        job: Option<Py<PyAny>>,
        seq: u64,
        name: Option<Py<PyAny>>,
        priority: i64,
        timeout: Option<Py<PyAny>>,
        retries: Option<Py<PyAny>>,
        backoff: Option<Py<PyAny>>,
        created: Option<Py<PyAny>>,
        func: Option<Py<PyAny>>,
        args: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self {
            runner,
            job,
            func,
            args,
            seq,
            name,
            priority,
            timeout,
            retries,
            backoff,
            created,
            started: None,
            finished: None,
            state: Some(pending(py)?.clone_ref(py)),
            outcome: None,
            result: None,
            error: None,
            error_tb: None,
            attempts: 0,
            phase: 0,
            task: None,
            cancel_requested: false,
            force: false,
            timed_out: false,
            waiters: None,
        })
    }

    /// A worker took the job: its state, phase and start time in one call.
    fn _begin(&mut self, state: Option<Py<PyAny>>, phase: i64, started: Option<Py<PyAny>>) {
        self.state = state;
        self.phase = phase;
        self.started = started;
    }

    /// The coroutine one attempt runs: the Job's `_start()`, or for a bare
    /// coroutine function what `FunctionJob._start` would give, without
    /// building the FunctionJob. Never raises an `Exception`: a call that
    /// fails, or gives something other than a coroutine, fails inside the
    /// attempt's task instead.
    fn _start_attempt<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let (job, func, args) = {
            let this = slf.try_borrow()?;
            let copy = |o: &Option<Py<PyAny>>| o.as_ref().map(|o| o.clone_ref(py));
            (copy(&this.job), copy(&this.func), copy(&this.args))
        };
        if let Some(job) = job {
            return job.bind(py).call_method0(intern!(py, "_start"));
        }
        let (Some(func), Some(args)) = (func, args) else {
            return Err(PyRuntimeError::new_err("task handle has no job to start"));
        };
        let args = args.into_bound(py).downcast_into::<PyTuple>()?;
        match func.bind(py).call1(args) {
            // SAFETY: a valid object pointer, with the GIL held.
            Ok(started) if unsafe { ffi::PyCoro_CheckExact(started.as_ptr()) } != 0 => Ok(started),
            Ok(awaitable) => await_helper(py)?.call1((awaitable,)),
            Err(err) if err.is_instance_of::<PyException>(py) => {
                raise_helper(py)?.call1((err.into_value(py),))
            }
            Err(err) => Err(err),
        }
    }

    /// The job is done: records how, forgets its task, and returns the
    /// futures waiting for it (None if nobody waits) for the caller to wake.
    #[allow(clippy::too_many_arguments)]
    fn _settle(
        slf: &Bound<'_, Self>,
        state: Option<Py<PyAny>>,
        phase: i64,
        outcome: Option<Py<PyAny>>,
        result: Option<Py<PyAny>>,
        error: Option<Py<PyAny>>,
        finished: Option<Py<PyAny>>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let py = slf.py();
        // Read without running Python code (the runner only passes exceptions).
        let error_tb = error
            .as_ref()
            .and_then(|e| e.bind(py).downcast::<PyBaseException>().ok())
            .and_then(|e| {
                // SAFETY: `e` is an exception instance and the GIL is held;
                // the call returns a new reference or NULL (no traceback).
                unsafe {
                    Bound::from_owned_ptr_or_opt(py, ffi::PyException_GetTraceback(e.as_ptr()))
                }
            })
            .map(Bound::unbind);
        let (old, waiters) = {
            let mut this = slf.try_borrow_mut()?;
            this.phase = phase;
            let old = [
                std::mem::replace(&mut this.state, state),
                std::mem::replace(&mut this.outcome, outcome),
                std::mem::replace(&mut this.result, result),
                std::mem::replace(&mut this.error, error),
                std::mem::replace(&mut this.error_tb, error_tb),
                this.task.take(),
                std::mem::replace(&mut this.finished, finished),
            ];
            (old, this.waiters.take())
        };
        // Dropped once the handle is released and settled: a finalizer they
        // run may look at it. Plain decrefs, as in Drop.
        for obj in old.into_iter().flatten() {
            drop(obj.into_bound(py));
        }
        Ok(waiters)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        gc_fields::traverse(self.objects(), &visit)
    }

    fn __clear__(&mut self) {
        gc_fields::clear(self.objects_mut());
    }
}
