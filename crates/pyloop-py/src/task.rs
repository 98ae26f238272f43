//! `pyloop.Task`: asyncio's Task, native, on top of `pyloop.Future`.
//!
//! A step sends into the coroutine (`PyIter_Send`) on the loop thread. A
//! yielded future gets the task's wake-up as a done callback; a bare `yield`
//! reschedules the step; anything else is raised into the coroutine, with
//! asyncio's messages. Steps and wake-ups are queued with the loop's
//! `call_soon` in the task's context, so callback order is asyncio's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pyo3::exceptions::{
    PyKeyboardInterrupt, PyRuntimeError, PyStopIteration, PySystemExit, PyTypeError,
};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString};
use pyo3::{PyTraverseError, PyVisit};

use crate::current_task;
use crate::errors::{CancelledError, InvalidStateError};
use crate::future::{copy_context, Future};
use crate::gil_cell::{take_flag, GilCell};
use crate::handle::Callback;
use crate::imports::{
    is_coroutine, repr_from_info, task_get_stack, task_name_counter, task_print_stack,
    task_repr_info,
};
use crate::loop_::Loop;
use crate::native_types::exact_future;
use crate::task_registry;

#[derive(Default)]
struct TaskCore {
    coro: Option<Py<PyAny>>,
    context: Option<Py<PyAny>>,
    name: Option<Py<PyAny>>,
    /// The future the coroutine waits on, if any.
    fut_waiter: Option<Py<PyAny>>,
}

#[pyclass(frozen, extends = Future, subclass, module = "pyloop._pyloop")]
pub struct Task {
    must_cancel: AtomicBool,
    log_destroy_pending: AtomicBool,
    num_cancels_requested: AtomicU64,
    core: GilCell<TaskCore>,
}

/// What one send into the coroutine produced.
enum Sent<'py> {
    Yielded(Bound<'py, PyAny>),
    Returned(Bound<'py, PyAny>),
}

/// `coro.send(None)` or `coro.throw(exc)`.
fn send<'py>(coro: &Bound<'py, PyAny>, exc: Option<Bound<'py, PyAny>>) -> PyResult<Sent<'py>> {
    let py = coro.py();
    match exc {
        None => {
            let mut out: *mut ffi::PyObject = std::ptr::null_mut();
            // SAFETY: live objects, GIL held; `out` receives a new reference
            // for a yield or a return, and is left NULL on error.
            let status = unsafe { ffi::PyIter_Send(coro.as_ptr(), ffi::Py_None(), &mut out) };
            match status {
                ffi::PySendResult::PYGEN_NEXT => {
                    // SAFETY: a new reference (see above).
                    Ok(Sent::Yielded(unsafe { Bound::from_owned_ptr(py, out) }))
                }
                ffi::PySendResult::PYGEN_RETURN => {
                    // SAFETY: a new reference (see above).
                    Ok(Sent::Returned(unsafe { Bound::from_owned_ptr(py, out) }))
                }
                ffi::PySendResult::PYGEN_ERROR => Err(PyErr::fetch(py)),
            }
        }
        Some(exc) => match coro.call_method1(intern!(py, "throw"), (exc,)) {
            Ok(yielded) => Ok(Sent::Yielded(yielded)),
            Err(err) if err.is_instance_of::<PyStopIteration>(py) => {
                Ok(Sent::Returned(err.value(py).getattr(intern!(py, "value"))?))
            }
            Err(err) => Err(err),
        },
    }
}

fn runtime_error<'py>(py: Python<'py>, message: String) -> Bound<'py, PyAny> {
    PyRuntimeError::new_err(message)
        .into_value(py)
        .into_bound(py)
        .into_any()
}

/// `asyncio.futures._get_loop`: `get_loop()`, else the `_loop` attribute.
fn loop_of<'py>(future: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = future.py();
    match future.getattr(intern!(py, "get_loop")) {
        Ok(get_loop) => get_loop.call0(),
        Err(err) if err.is_instance_of::<pyo3::exceptions::PyAttributeError>(py) => {
            future.getattr(intern!(py, "_loop"))
        }
        Err(err) => Err(err),
    }
}

impl Task {
    pub(crate) fn empty() -> Self {
        Self {
            must_cancel: AtomicBool::new(false),
            log_destroy_pending: AtomicBool::new(false),
            num_cancels_requested: AtomicU64::new(0),
            core: GilCell::new(TaskCore::default()),
        }
    }

    /// `Task.__init__(coro, *, loop=None, name=None, context=None)`.
    pub(crate) fn init(
        slf: &Bound<'_, Self>,
        coro: Bound<'_, PyAny>,
        loop_: Option<Bound<'_, PyAny>>,
        name: Option<Bound<'_, PyAny>>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let fut = slf.as_super().get();
        fut.init(py, loop_)?;
        // SAFETY: a type check on a live object.
        let is_coro = unsafe { ffi::PyCoro_CheckExact(coro.as_ptr()) } != 0
            || is_coroutine(py)?.call1((&coro,))?.is_truthy()?;
        if !is_coro {
            this.log_destroy_pending.store(false, Ordering::Relaxed);
            return Err(PyTypeError::new_err(format!(
                "a coroutine was expected, got {}",
                coro.repr()?
            )));
        }
        let context = match context {
            Some(ctx) if !ctx.is_none() => ctx,
            _ => copy_context(py)?,
        };
        // A default name is kept as the counter's number and spelled
        // "Task-N" only when asked for (most names are never read).
        let name = match name {
            Some(n) if n.is_none() => task_name_counter(py)?.call0()?,
            None => task_name_counter(py)?.call0()?,
            Some(n) if n.is_exact_instance_of::<PyString>() => n,
            Some(n) => n.str()?.into_any(),
        };
        let fresh = TaskCore {
            coro: Some(coro.unbind()),
            context: Some(context.unbind()),
            name: Some(name.unbind()),
            fut_waiter: None,
        };
        let old = this.core.with(py, |c| std::mem::replace(c, fresh))?;
        drop(old);
        this.must_cancel.store(false, Ordering::Relaxed);
        this.num_cancels_requested.store(0, Ordering::Relaxed);
        // Before scheduling: a task whose first step could not be queued is
        // reported as destroyed while pending, as asyncio reports it.
        this.log_destroy_pending.store(true, Ordering::Relaxed);
        Self::schedule_step(slf, None)?;
        task_registry::register(slf.as_any())?;
        Ok(())
    }

    pub(crate) fn context<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.core
            .with(py, |c| c.context.as_ref().map(|x| x.clone_ref(py)))?
            .map(|c| c.into_bound(py))
            .ok_or_else(|| PyRuntimeError::new_err("Task object is not initialized."))
    }

    /// Queues a step (with `exc` to throw in, if any) in the task's context.
    fn schedule_step(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let fut = slf.as_super().get();
        let context = slf.get().context(py)?;
        let loop_ = fut.loop_obj(py)?;
        if let Some(native) = fut.native_loop(&loop_) {
            let step = Callback::Step {
                task: slf.clone().unbind(),
                exc: exc.map(Bound::unbind),
            };
            return Loop::call_soon_native(native, step, context);
        }
        let step = Bound::new(
            py,
            TaskStep::new(slf.clone().unbind(), exc.map(Bound::unbind)),
        )?;
        fut.call_soon(&loop_, step.into_any(), None, &context)
    }

    pub(crate) fn step(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let fut = slf.as_super();
        if fut.get().is_done() {
            let shown = exc
                .as_ref()
                .map_or(Ok("None".to_owned()), |e| e.repr().map(|r| r.to_string()))?;
            return Err(InvalidStateError::new_err(format!(
                "_step(): already done: {}, {shown}",
                slf.repr()?
            )));
        }
        let mut exc = exc;
        if this.must_cancel.load(Ordering::Relaxed) {
            if !exc
                .as_ref()
                .is_some_and(|e| e.is_instance_of::<CancelledError>())
            {
                exc = Some(fut.get().make_cancelled_error(py)?);
            }
            this.must_cancel.store(false, Ordering::Relaxed);
        }
        let (coro, old_waiter) = this.core.with(py, |c| {
            (
                c.coro.as_ref().map(|x| x.clone_ref(py)),
                c.fut_waiter.take(),
            )
        })?;
        drop(old_waiter);
        let coro = coro
            .ok_or_else(|| PyRuntimeError::new_err("Task object is not initialized."))?
            .into_bound(py);
        let loop_ = fut.get().loop_obj(py)?;
        current_task::enter(&loop_, slf)?;
        let outcome = Self::advance(slf, &coro, exc);
        let left = current_task::leave(&loop_, slf);
        outcome?;
        left
    }

    /// Sends into the coroutine and acts on what came out.
    fn advance(
        slf: &Bound<'_, Self>,
        coro: &Bound<'_, PyAny>,
        exc: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let fut = slf.as_super();
        match send(coro, exc) {
            Ok(Sent::Returned(value)) => {
                if take_flag(&this.must_cancel) {
                    let msg = fut.get().cancel_message(py)?;
                    Future::cancel_future(fut, msg).map(drop)
                } else {
                    Future::finish_with_result(fut, value)
                }
            }
            Ok(Sent::Yielded(result)) => Self::handle_yield(slf, result),
            Err(err) if err.is_instance_of::<CancelledError>(py) => {
                fut.get()
                    .set_cancelled_exc(py, err.into_value(py).into_bound(py).into_any())?;
                Future::cancel_future(fut, None).map(drop)
            }
            Err(err)
                if err.is_instance_of::<PyKeyboardInterrupt>(py)
                    || err.is_instance_of::<PySystemExit>(py) =>
            {
                let value = err.clone_ref(py).into_value(py).into_bound(py).into_any();
                Future::finish_with_exception(fut, value)?;
                Err(err)
            }
            Err(err) => {
                Future::finish_with_exception(fut, err.into_value(py).into_bound(py).into_any())
            }
        }
    }

    /// What the coroutine yielded: a future to wait for, a bare `yield`, or
    /// a mistake raised back into it.
    fn handle_yield(slf: &Bound<'_, Self>, result: Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let fut = slf.as_super().get();
        if result.is_none() {
            // A bare `yield` (asyncio.sleep(0)): checked first, as looking
            // up `_asyncio_future_blocking` on None would raise and catch
            // an AttributeError every time.
            return Self::schedule_step(slf, None);
        }
        let native = exact_future(&result);
        let blocking = match native {
            Some(other) => Some(
                other
                    .get()
                    .is_blocking()
                    .into_pyobject(py)?
                    .to_owned()
                    .into_any(),
            ),
            None => match result.getattr(intern!(py, "_asyncio_future_blocking")) {
                Ok(value) if value.is_none() => None,
                Ok(value) => Some(value),
                Err(err) if err.is_instance_of::<pyo3::exceptions::PyAttributeError>(py) => None,
                Err(err) => return Err(err),
            },
        };
        if let Some(blocking) = blocking {
            let other_loop = match native {
                Some(other) => other.get().loop_obj(py)?,
                None => loop_of(&result)?,
            };
            let message = if !other_loop.is(&fut.loop_obj(py)?) {
                format!(
                    "Task {} got Future {} attached to a different loop",
                    slf.repr()?,
                    result.repr()?
                )
            } else if !blocking.is_truthy()? {
                format!(
                    "yield was used instead of yield from in task {} with {}",
                    slf.repr()?,
                    result.repr()?
                )
            } else if result.is(slf) {
                format!("Task cannot await on itself: {}", slf.repr()?)
            } else {
                let is_native = native.is_some();
                return Self::wait_for(slf, result, is_native);
            };
            return Self::schedule_step(slf, Some(runtime_error(py, message)));
        }
        // SAFETY: a type check on a live object.
        let message = if unsafe { ffi::PyGen_Check(result.as_ptr()) } != 0 {
            format!(
                "yield was used instead of yield from for generator in task {} with {}",
                slf.repr()?,
                result.repr()?
            )
        } else {
            format!("Task got bad yield: {}", result.repr()?)
        };
        Self::schedule_step(slf, Some(runtime_error(py, message)))
    }

    /// Parks the task on `waiter` until it is done.
    fn wait_for(slf: &Bound<'_, Self>, waiter: Bound<'_, PyAny>, native: bool) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if native {
            // SAFETY: `native` means the downcast to Future succeeded.
            let other = unsafe { waiter.downcast_unchecked::<Future>() };
            other.get().set_blocking(false);
            Future::add_wakeup(other, slf)?;
        } else {
            let wakeup = Bound::new(py, TaskWakeup::new(slf.clone().unbind()))?.into_any();
            let context = this.context(py)?;
            waiter.setattr(intern!(py, "_asyncio_future_blocking"), false)?;
            let kwargs = PyDict::new(py);
            kwargs.set_item(intern!(py, "context"), context)?;
            waiter.call_method(intern!(py, "add_done_callback"), (wakeup,), Some(&kwargs))?;
        }
        let stored = waiter.clone().unbind();
        let old = this.core.with(py, |c| c.fut_waiter.replace(stored))?;
        drop(old);
        if this.must_cancel.load(Ordering::Relaxed) {
            let msg = slf.as_super().get().cancel_message(py)?;
            if cancel_with_message(&waiter, msg)? {
                this.must_cancel.store(false, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// The awaited future is done: step with its outcome.
    pub(crate) fn wakeup(slf: &Bound<'_, Self>, future: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        if let Some(native) = exact_future(future) {
            if native.get().has_result(py)? {
                return Self::step(slf, None);
            }
        }
        match future.call_method0(intern!(py, "result")) {
            Ok(_) => Self::step(slf, None),
            Err(err) => Self::step(slf, Some(err.into_value(py).into_bound(py).into_any())),
        }
    }

    /// `__del__`: "Task was destroyed but it is pending!", then the future's
    /// own check (called from the type's tp_finalize).
    pub(crate) fn finalize(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let fut = slf.as_super();
        if !fut.get().is_done() && slf.get().log_destroy_pending.swap(false, Ordering::Relaxed) {
            if let Ok(loop_) = fut.get().loop_obj(py) {
                let context = PyDict::new(py);
                context.set_item("task", slf)?;
                context.set_item("message", "Task was destroyed but it is pending!")?;
                let tb = fut.getattr(intern!(py, "_source_traceback"))?;
                if !tb.is_none() {
                    context.set_item("source_traceback", tb)?;
                }
                loop_.call_method1(intern!(py, "call_exception_handler"), (context,))?;
            }
        }
        Future::finalize(fut)
    }
}

/// `loop.create_task`'s constructor: a task without going through the
/// class call (`Task(coro, loop=..., ...)` parses keywords twice).
#[pyfunction]
#[pyo3(signature = (loop_, coro, name, context))]
pub fn _new_task<'py>(
    loop_: Bound<'py, PyAny>,
    coro: Bound<'py, PyAny>,
    name: Option<Bound<'py, PyAny>>,
    context: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, Task>> {
    let py = loop_.py();
    let task = Bound::new(
        py,
        PyClassInitializer::from(Future::empty()).add_subclass(Task::empty()),
    )?;
    Task::init(&task, coro, Some(loop_), name, context)?;
    Ok(task)
}

/// `future.cancel(msg=msg)`, returning its truth.
fn cancel_with_message(future: &Bound<'_, PyAny>, msg: Option<Bound<'_, PyAny>>) -> PyResult<bool> {
    let py = future.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item(intern!(py, "msg"), msg)?;
    future
        .call_method(intern!(py, "cancel"), (), Some(&kwargs))?
        .is_truthy()
}

#[pymethods]
impl Task {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn py_new(
        _args: &Bound<'_, pyo3::types::PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyClassInitializer<Self> {
        PyClassInitializer::from(Future::empty()).add_subclass(Self::empty())
    }

    #[pyo3(signature = (msg = None))]
    fn cancel(slf: &Bound<'_, Self>, msg: Option<Bound<'_, PyAny>>) -> PyResult<bool> {
        let py = slf.py();
        let this = slf.get();
        let fut = slf.as_super().get();
        fut.clear_log_traceback();
        if fut.is_done() {
            return Ok(false);
        }
        this.num_cancels_requested.fetch_add(1, Ordering::Relaxed);
        let waiter = this
            .core
            .with(py, |c| c.fut_waiter.as_ref().map(|w| w.clone_ref(py)))?;
        if let Some(waiter) = waiter {
            if cancel_with_message(waiter.bind(py), msg.clone())? {
                return Ok(true);
            }
        }
        this.must_cancel.store(true, Ordering::Relaxed);
        fut.set_cancel_message(py, msg)?;
        Ok(true)
    }

    fn cancelling(&self) -> u64 {
        self.num_cancels_requested.load(Ordering::Relaxed)
    }

    fn uncancel(&self, py: Python<'_>) -> u64 {
        let count = &self.num_cancels_requested;
        let previous = count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .unwrap_or(0);
        let left = previous.saturating_sub(1);
        if left == 0 && py.version_info() >= (3, 13) {
            // 3.13: with no request left, a pending cancellation is dropped.
            self.must_cancel.store(false, Ordering::Relaxed);
        }
        left
    }

    #[pyo3(signature = (_result))]
    fn set_result(&self, _result: Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyRuntimeError::new_err(
            "Task does not support set_result() operation",
        ))
    }

    #[pyo3(signature = (_exception))]
    fn set_exception(&self, _exception: Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyRuntimeError::new_err(
            "Task does not support set_exception() operation",
        ))
    }

    fn get_coro(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.core
            .with(py, |c| c.coro.as_ref().map(|x| x.clone_ref(py)))
    }

    fn get_context<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.context(py)
    }

    fn get_name(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let name = self
            .core
            .with(py, |c| c.name.as_ref().map(|x| x.clone_ref(py)))?;
        let Some(name) = name else {
            return Ok(None);
        };
        let name = name.into_bound(py);
        if !name.is_exact_instance_of::<PyInt>() {
            return Ok(Some(name.unbind()));
        }
        let spelled = PyString::new(py, &format!("Task-{name}"))
            .into_any()
            .unbind();
        let stored = spelled.clone_ref(py);
        let old = self.core.with(py, |c| c.name.replace(stored))?;
        drop(old);
        Ok(Some(spelled))
    }

    fn set_name(&self, py: Python<'_>, value: Bound<'_, PyAny>) -> PyResult<()> {
        let name = if value.is_exact_instance_of::<PyString>() {
            value
        } else {
            value.str()?.into_any()
        };
        let old = self.core.with(py, |c| c.name.replace(name.unbind()))?;
        drop(old);
        Ok(())
    }

    #[pyo3(signature = (*, limit = None))]
    fn get_stack<'py>(
        slf: &Bound<'py, Self>,
        limit: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        task_get_stack(slf.py())?.call1((slf, limit))
    }

    #[pyo3(signature = (*, limit = None, file = None))]
    fn print_stack(
        slf: &Bound<'_, Self>,
        limit: Option<Bound<'_, PyAny>>,
        file: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        task_print_stack(slf.py())?.call1((slf, limit, file))?;
        Ok(())
    }

    #[getter]
    fn _coro(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.get_coro(py)
    }

    #[getter]
    fn _fut_waiter(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.core
            .with(py, |c| c.fut_waiter.as_ref().map(|x| x.clone_ref(py)))
    }

    #[getter]
    fn _must_cancel(&self) -> bool {
        self.must_cancel.load(Ordering::Relaxed)
    }

    #[getter]
    fn _num_cancels_requested(&self) -> u64 {
        self.cancelling()
    }

    #[getter(_log_destroy_pending)]
    fn get_log_destroy_pending_attr(&self) -> bool {
        self.log_destroy_pending.load(Ordering::Relaxed)
    }

    #[setter(_log_destroy_pending)]
    fn set_log_destroy_pending_attr(&self, value: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let value = value.ok_or_else(|| {
            pyo3::exceptions::PyAttributeError::new_err("cannot delete attribute")
        })?;
        self.log_destroy_pending
            .store(value.is_truthy()?, Ordering::Relaxed);
        Ok(())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        repr_from_info(slf.as_any(), task_repr_info(slf.py())?)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(core) = self.core.peek() {
            for obj in [&core.coro, &core.context, &core.name, &core.fut_waiter]
                .into_iter()
                .flatten()
            {
                visit.call(obj)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.core.clear();
    }
}

/// The callback a task queues for its next step.
///
/// No freelist here or on the other GC-tracked helpers: PyO3 0.25 does not
/// re-track an object it takes from a freelist, which hid task cycles from
/// the collector (CPython's test_log_destroyed_pending_task found it).
#[pyclass(frozen, module = "pyloop._pyloop")]
pub struct TaskStep {
    task: Py<Task>,
    exc: Option<Py<PyAny>>,
}

impl TaskStep {
    pub(crate) fn new(task: Py<Task>, exc: Option<Py<PyAny>>) -> Self {
        Self { task, exc }
    }
}

#[pymethods]
impl TaskStep {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let exc = self.exc.as_ref().map(|e| e.bind(py).clone());
        Task::step(self.task.bind(py), exc)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("<TaskStep {}>", self.task.bind(py).repr()?))
    }

    /// asyncio names callbacks in reprs by `__qualname__` (a task waiting
    /// on a task would otherwise print their reprs into each other).
    #[getter]
    fn __qualname__(&self) -> &'static str {
        "Task.task_step"
    }

    /// The task, as a bound method's `__self__` (asyncio's slow-callback
    /// warning names the task through it).
    #[getter]
    fn __self__(&self, py: Python<'_>) -> Py<Task> {
        self.task.clone_ref(py)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.task)?;
        if let Some(exc) = &self.exc {
            visit.call(exc)?;
        }
        Ok(())
    }
}

/// The done callback a task adds to the future it waits on.
#[pyclass(frozen, module = "pyloop._pyloop")]
pub struct TaskWakeup {
    task: Py<Task>,
}

impl TaskWakeup {
    pub(crate) fn new(task: Py<Task>) -> Self {
        Self { task }
    }
}

#[pymethods]
impl TaskWakeup {
    fn __call__(&self, py: Python<'_>, future: Bound<'_, PyAny>) -> PyResult<()> {
        Task::wakeup(self.task.bind(py), &future)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("<TaskWakeup {}>", self.task.bind(py).repr()?))
    }

    /// asyncio names callbacks in reprs by `__qualname__` (a task waiting
    /// on a task would otherwise print their reprs into each other).
    #[getter]
    fn __qualname__(&self) -> &'static str {
        "Task.task_wakeup"
    }

    #[getter]
    fn __self__(&self, py: Python<'_>) -> Py<Task> {
        self.task.clone_ref(py)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.task)
    }
}
