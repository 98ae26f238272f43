//! `pyloop.Future`: asyncio's Future, native.
//!
//! The state is an atomic (pending, cancelled, finished) so `done()` and
//! `cancelled()` never borrow anything; the objects a future holds live in a
//! `GilCell`. Behaviour, messages and the private attributes asyncio's own
//! helpers read (`_state`, `_result`, `_callbacks`, ...) follow CPython's C
//! `_asyncio.Future`, the one `asyncio.Future` is.
//!
//! Construction happens in `__init__` (see slots.rs), as in C, so Python
//! subclasses can call `super().__init__(loop=...)`.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use pyo3::exceptions::{
    PyAttributeError, PyRuntimeError, PyStopIteration, PyTypeError, PyValueError,
};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use pyo3::{PyTraverseError, PyVisit};

use crate::errors::{CancelledError, InvalidStateError, NOT_INITIALIZED};
use crate::future_iter::FutureIter;
use crate::gil_cell::{take_flag, GilCell};
use crate::handle::Callback;
use crate::imports::{
    asyncio_future_class, asyncio_task_class, creation_stack, future_repr_info, generic_alias,
    get_event_loop, repr_from_info,
};
use crate::instance_dict::{self, InstanceDict};
use crate::loop_::Loop;
use crate::native_types;
use crate::task::{Task, TaskWakeup};

pub(crate) const PENDING: u8 = 0;
pub(crate) const CANCELLED: u8 = 1;
pub(crate) const FINISHED: u8 = 2;

/// A done callback.
enum DoneCallback {
    /// `func(future)` in `context`.
    Call { func: Py<PyAny>, context: Py<PyAny> },
    /// A native task waiting on this future (runs in the task's context).
    Wakeup { task: Py<Task> },
}

impl DoneCallback {
    /// Each reference held, once (what `__traverse__` visits).
    fn objects(&self) -> impl Iterator<Item = &Py<PyAny>> {
        let pair = match self {
            Self::Call { func, context } => [Some(func), Some(context)],
            Self::Wakeup { task } => [Some(task.as_any()), None],
        };
        pair.into_iter().flatten()
    }
}

/// Everything a future refers to; `None`/empty until set.
#[derive(Default)]
pub(crate) struct FutureCore {
    loop_: Option<Py<PyAny>>,
    result: Option<Py<PyAny>>,
    exception: Option<Py<PyAny>>,
    exception_tb: Option<Py<PyAny>>,
    callbacks: Vec<DoneCallback>,
    cancel_message: Option<Py<PyAny>>,
    /// The CancelledError a task's coroutine raised, re-raised by result().
    cancelled_exc: Option<Py<PyAny>>,
    source_traceback: Option<Py<PyAny>>,
}

impl FutureCore {
    fn objects(&self) -> impl Iterator<Item = &Py<PyAny>> {
        [
            &self.loop_,
            &self.result,
            &self.exception,
            &self.exception_tb,
            &self.cancel_message,
            &self.cancelled_exc,
            &self.source_traceback,
        ]
        .into_iter()
        .flatten()
        .chain(self.callbacks.iter().flat_map(DoneCallback::objects))
    }
}

#[pyclass(frozen, subclass, weakref, module = "pyloop._pyloop")]
pub struct Future {
    state: AtomicU8,
    /// `_asyncio_future_blocking`: set by `__await__` when it yields the
    /// future, cleared by the task that accepted it.
    blocking: AtomicBool,
    /// An exception was set and nobody has looked at it yet.
    log_traceback: AtomicBool,
    /// The loop is pyloop's with its native `call_soon`: done callbacks are
    /// queued without a Python-level method call.
    native_loop: AtomicBool,
    core: GilCell<FutureCore>,
    /// Attributes set from Python (instance_dict.rs).
    dict: InstanceDict,
}

impl Future {
    /// An uninitialised future; `init` makes it usable.
    pub(crate) fn empty() -> Self {
        Self {
            state: AtomicU8::new(PENDING),
            blocking: AtomicBool::new(false),
            log_traceback: AtomicBool::new(false),
            native_loop: AtomicBool::new(false),
            core: GilCell::new(FutureCore::default()),
            dict: InstanceDict::new(),
        }
    }

    /// `Future.__init__(*, loop=None)`.
    pub(crate) fn init(&self, py: Python<'_>, loop_: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let loop_ = match loop_ {
            Some(l) if !l.is_none() => l,
            _ => get_event_loop(py)?.call0()?,
        };
        let native = native_types::has_native_call_soon(&loop_)?;
        let debug = match native_types::as_loop(&loop_) {
            Some(native) => native.get().debug_enabled(),
            None => loop_.call_method0(intern!(py, "get_debug"))?.is_truthy()?,
        };
        let source_traceback = if debug {
            Some(creation_stack(py)?)
        } else {
            None
        };
        let fresh = FutureCore {
            loop_: Some(loop_.unbind()),
            source_traceback,
            ..FutureCore::default()
        };
        let old = self.core.with(py, |c| std::mem::replace(c, fresh))?;
        drop(old);
        self.state.store(PENDING, Ordering::Release);
        self.blocking.store(false, Ordering::Relaxed);
        self.log_traceback.store(false, Ordering::Relaxed);
        self.native_loop.store(native, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state() != PENDING
    }

    pub(crate) fn is_blocking(&self) -> bool {
        self.blocking.load(Ordering::Relaxed)
    }

    pub(crate) fn set_blocking(&self, blocking: bool) {
        self.blocking.store(blocking, Ordering::Relaxed);
    }

    pub(crate) fn clear_log_traceback(&self) {
        self.log_traceback.store(false, Ordering::Relaxed);
    }

    /// The future's loop; RuntimeError before `__init__`.
    pub(crate) fn loop_obj<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.core
            .with(py, |c| c.loop_.as_ref().map(|l| l.clone_ref(py)))?
            .map(|l| l.into_bound(py))
            .ok_or_else(|| PyRuntimeError::new_err(NOT_INITIALIZED))
    }

    /// True if the future finished with a result (not an exception).
    pub(crate) fn has_result(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.state() == FINISHED && self.core.with(py, |c| c.exception.is_none())?)
    }

    /// The loop as pyloop's native `Loop`, when its `call_soon` is the native
    /// one (then tasks and futures queue native handles directly).
    pub(crate) fn native_loop<'a, 'py>(
        &self,
        loop_: &'a Bound<'py, PyAny>,
    ) -> Option<&'a Bound<'py, Loop>> {
        // SAFETY: `native_loop` is only set for an instance of `Loop`.
        self.native_loop
            .load(Ordering::Relaxed)
            .then(|| unsafe { loop_.downcast_unchecked::<Loop>() })
    }

    /// `loop.call_soon(callback, *arg, context=context)`, natively when the
    /// loop's `call_soon` is pyloop's own.
    pub(crate) fn call_soon(
        &self,
        loop_: &Bound<'_, PyAny>,
        callback: Bound<'_, PyAny>,
        arg: Option<Bound<'_, PyAny>>,
        context: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = loop_.py();
        if let Some(native) = self.native_loop(loop_) {
            let args = match arg {
                Some(arg) => PyTuple::new(py, [arg])?,
                None => PyTuple::empty(py),
            };
            Loop::call_soon(native, callback, &args, Some(context.clone()))?;
        } else {
            let mut args = vec![callback];
            args.extend(arg);
            let kwargs = PyDict::new(py);
            kwargs.set_item(intern!(py, "context"), context)?;
            loop_.call_method(
                intern!(py, "call_soon"),
                PyTuple::new(py, args)?,
                Some(&kwargs),
            )?;
        }
        Ok(())
    }

    /// Queues every done callback with the future as argument.
    fn schedule_callbacks(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let (loop_, callbacks) = this.core.with(py, |c| {
            let loop_ = c.loop_.as_ref().map(|l| l.clone_ref(py));
            (loop_, std::mem::take(&mut c.callbacks))
        })?;
        let Some(loop_) = loop_ else {
            return Ok(());
        };
        let loop_ = loop_.into_bound(py);
        for callback in callbacks {
            match callback {
                DoneCallback::Call { func, context } => {
                    let (func, context) = (func.into_bound(py), context.into_bound(py));
                    this.call_soon(&loop_, func, Some(slf.clone().into_any()), &context)?;
                }
                DoneCallback::Wakeup { task } => {
                    Self::schedule_wakeup(slf, &loop_, task.into_bound(py))?;
                }
            }
        }
        Ok(())
    }

    /// Queues `task`'s wake-up for this (done) future.
    fn schedule_wakeup(
        slf: &Bound<'_, Self>,
        loop_: &Bound<'_, PyAny>,
        task: Bound<'_, Task>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let context = task.get().context(py)?;
        if let Some(native) = this.native_loop(loop_) {
            let wakeup = Callback::Wakeup {
                task: task.unbind(),
                future: slf.clone().into_any().unbind(),
            };
            return Loop::call_soon_native(native, wakeup, context);
        }
        let wakeup = Bound::new(py, TaskWakeup::new(task.unbind()))?.into_any();
        this.call_soon(loop_, wakeup, Some(slf.clone().into_any()), &context)
    }

    fn ensure_init(&self, py: Python<'_>) -> PyResult<()> {
        self.loop_obj(py).map(drop)
    }

    fn check_pending(&self, py: Python<'_>) -> PyResult<()> {
        self.ensure_init(py)?;
        if self.is_done() {
            return Err(InvalidStateError::new_err("invalid state"));
        }
        Ok(())
    }

    /// Finishes with `result` (the caller checked the state).
    pub(crate) fn finish_with_result(
        slf: &Bound<'_, Self>,
        result: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let old = this.core.with(py, |c| c.result.replace(result.unbind()))?;
        drop(old);
        this.state.store(FINISHED, Ordering::Release);
        Self::schedule_callbacks(slf)
    }

    /// Finishes with `exception`, already checked to be an exception
    /// instance (the caller checked the state).
    pub(crate) fn finish_with_exception(
        slf: &Bound<'_, Self>,
        exception: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        // SAFETY: an exception instance; returns a new reference or NULL.
        let tb = unsafe {
            Bound::from_owned_ptr_or_opt(py, ffi::PyException_GetTraceback(exception.as_ptr()))
        };
        let old = this.core.with(py, |c| {
            (
                c.exception.replace(exception.unbind()),
                std::mem::replace(&mut c.exception_tb, tb.map(Bound::unbind)),
            )
        })?;
        drop(old);
        this.state.store(FINISHED, Ordering::Release);
        Self::schedule_callbacks(slf)?;
        this.log_traceback.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// `Future.cancel`: also the base a task calls once its coroutine ended.
    pub(crate) fn cancel_future(
        slf: &Bound<'_, Self>,
        msg: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let py = slf.py();
        let this = slf.get();
        this.ensure_init(py)?;
        this.log_traceback.store(false, Ordering::Relaxed);
        if this.is_done() {
            return Ok(false);
        }
        let old = this.core.with(py, |c| {
            std::mem::replace(&mut c.cancel_message, msg.map(Bound::unbind))
        })?;
        drop(old);
        this.state.store(CANCELLED, Ordering::Release);
        Self::schedule_callbacks(slf)?;
        Ok(true)
    }

    /// Keeps the CancelledError a task's coroutine raised, for result().
    pub(crate) fn set_cancelled_exc(&self, py: Python<'_>, exc: Bound<'_, PyAny>) -> PyResult<()> {
        let old = self
            .core
            .with(py, |c| c.cancelled_exc.replace(exc.unbind()))?;
        drop(old);
        Ok(())
    }

    pub(crate) fn cancel_message<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(self
            .core
            .with(py, |c| c.cancel_message.as_ref().map(|m| m.clone_ref(py)))?
            .map(|m| m.into_bound(py)))
    }

    pub(crate) fn set_cancel_message(
        &self,
        py: Python<'_>,
        msg: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let old = self.core.with(py, |c| {
            std::mem::replace(&mut c.cancel_message, msg.map(Bound::unbind))
        })?;
        drop(old);
        Ok(())
    }

    /// The CancelledError to raise for a cancelled future.
    pub(crate) fn make_cancelled_error<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (saved, msg) = self.core.with(py, |c| {
            let msg = c.cancel_message.as_ref().map(|m| m.clone_ref(py));
            (c.cancelled_exc.take(), msg)
        })?;
        if let Some(saved) = saved {
            return Ok(saved.into_bound(py));
        }
        let error = match msg {
            Some(msg) if !msg.is_none(py) => CancelledError::new_err((msg,)),
            _ => CancelledError::new_err(()),
        };
        Ok(error.into_value(py).into_bound(py).into_any())
    }

    /// `result()`: the value, or the error it stands for.
    pub(crate) fn result_of<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.state() {
            CANCELLED => Err(PyErr::from_value(self.make_cancelled_error(py)?)),
            FINISHED => {
                self.log_traceback.store(false, Ordering::Relaxed);
                let (result, exception, tb) = self.core.with(py, |c| {
                    (
                        c.result.as_ref().map(|r| r.clone_ref(py)),
                        c.exception.as_ref().map(|e| e.clone_ref(py)),
                        c.exception_tb.as_ref().map(|t| t.clone_ref(py)),
                    )
                })?;
                if let Some(exception) = exception {
                    let exception = exception.into_bound(py);
                    if let Some(tb) = tb {
                        exception.setattr(intern!(py, "__traceback__"), tb)?;
                    }
                    return Err(PyErr::from_value(exception));
                }
                Ok(result.map_or_else(|| py.None().into_bound(py), |r| r.into_bound(py)))
            }
            _ => Err(InvalidStateError::new_err("Result is not set.")),
        }
    }

    /// Adds a done callback, or schedules it at once if the future is done.
    pub(crate) fn add_callback(
        slf: &Bound<'_, Self>,
        callback: Bound<'_, PyAny>,
        context: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let loop_ = this.loop_obj(py)?;
        if this.is_done() {
            return this.call_soon(&loop_, callback, Some(slf.clone().into_any()), &context);
        }
        this.core.with(py, |c| {
            c.callbacks.push(DoneCallback::Call {
                func: callback.unbind(),
                context: context.unbind(),
            });
        })
    }

    /// Adds a native task's wake-up, or schedules it if the future is done.
    pub(crate) fn add_wakeup(slf: &Bound<'_, Self>, task: &Bound<'_, Task>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let loop_ = this.loop_obj(py)?;
        if this.is_done() {
            return Self::schedule_wakeup(slf, &loop_, task.clone());
        }
        let task = task.clone().unbind();
        this.core
            .with(py, |c| c.callbacks.push(DoneCallback::Wakeup { task }))
    }
}

/// `loop.create_future`'s constructor: a future without going through the
/// class call and its keyword parsing.
#[pyfunction]
pub fn _new_future(loop_: Bound<'_, PyAny>) -> PyResult<Bound<'_, Future>> {
    let py = loop_.py();
    let future = Bound::new(py, Future::empty())?;
    future.get().init(py, Some(loop_))?;
    Ok(future)
}

/// `contextvars.copy_context()`.
pub(crate) fn copy_context(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: the GIL is held; a new reference or NULL with an error set.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent()) }
}

/// True for an exception class (a subclass of BaseException).
pub(crate) fn is_exception_class(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyType>()
        // SAFETY: a type check on a live type object.
        && unsafe { ffi::PyExceptionClass_Check(obj.as_ptr()) } != 0
}

pub(crate) fn is_exception_instance(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: a type check on a live object.
    unsafe { ffi::PyExceptionInstance_Check(obj.as_ptr()) != 0 }
}

#[pymethods]
impl Future {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn py_new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        Self::empty()
    }

    fn done(&self) -> bool {
        self.is_done()
    }

    fn cancelled(&self) -> bool {
        self.state() == CANCELLED
    }

    fn get_loop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.loop_obj(py)
    }

    #[getter]
    fn _loop<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(self
            .core
            .with(py, |c| c.loop_.as_ref().map(|l| l.clone_ref(py)))?
            .map(|l| l.into_bound(py)))
    }

    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.result_of(py)
    }

    fn exception<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.state() {
            CANCELLED => Err(PyErr::from_value(self.make_cancelled_error(py)?)),
            FINISHED => {
                self.log_traceback.store(false, Ordering::Relaxed);
                Ok(self
                    .core
                    .with(py, |c| c.exception.as_ref().map(|e| e.clone_ref(py)))?
                    .map(|e| e.into_bound(py)))
            }
            _ => Err(InvalidStateError::new_err("Exception is not set.")),
        }
    }

    fn set_result(slf: &Bound<'_, Self>, result: Bound<'_, PyAny>) -> PyResult<()> {
        slf.get().check_pending(slf.py())?;
        Self::finish_with_result(slf, result)
    }

    fn set_exception(slf: &Bound<'_, Self>, exception: Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        slf.get().check_pending(py)?;
        let exception = if is_exception_class(&exception) {
            let made = exception.call0()?;
            if !is_exception_instance(&made) {
                return Err(PyTypeError::new_err(
                    "exception must be an exception instance",
                ));
            }
            made
        } else {
            exception
        };
        if !is_exception_instance(&exception) {
            return Err(PyTypeError::new_err("invalid exception object"));
        }
        if exception.get_type().is(py.get_type::<PyStopIteration>()) {
            return Err(PyTypeError::new_err(
                "StopIteration interacts badly with generators and cannot be raised into a Future",
            ));
        }
        Self::finish_with_exception(slf, exception)
    }

    #[pyo3(signature = (msg = None))]
    fn cancel(slf: &Bound<'_, Self>, msg: Option<Bound<'_, PyAny>>) -> PyResult<bool> {
        Self::cancel_future(slf, msg)
    }

    #[pyo3(signature = (r#fn, *, context = None))]
    fn add_done_callback(
        slf: &Bound<'_, Self>,
        r#fn: Bound<'_, PyAny>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let context = match context {
            Some(ctx) if !ctx.is_none() => ctx,
            _ => copy_context(slf.py())?,
        };
        Self::add_callback(slf, r#fn, context)
    }

    /// Removes every registration of `fn`; returns how many there were.
    fn remove_done_callback(&self, py: Python<'_>, r#fn: Bound<'_, PyAny>) -> PyResult<usize> {
        self.ensure_init(py)?;
        let callbacks = self.core.with(py, |c| std::mem::take(&mut c.callbacks))?;
        let mut kept = Vec::with_capacity(callbacks.len());
        let mut removed = 0;
        let mut failure = None;
        for callback in callbacks {
            let matches = failure.is_none()
                && match &callback {
                    DoneCallback::Call { func, .. } => {
                        let cb = func.bind(py);
                        cb.is(&r#fn)
                            || cb.eq(&r#fn).unwrap_or_else(|e| {
                                failure = Some(e);
                                false
                            })
                    }
                    DoneCallback::Wakeup { .. } => false,
                };
            if matches {
                removed += 1;
            } else {
                kept.push(callback);
            }
        }
        // Callbacks added while the comparisons ran go after the kept ones.
        self.core.with(py, |c| {
            kept.append(&mut c.callbacks);
            c.callbacks = kept;
        })?;
        match failure {
            Some(err) => Err(err),
            None => Ok(removed),
        }
    }

    fn __await__(slf: &Bound<'_, Self>) -> PyResult<FutureIter> {
        Ok(FutureIter::new(slf.clone().unbind()))
    }

    fn __iter__(slf: &Bound<'_, Self>) -> PyResult<FutureIter> {
        Self::__await__(slf)
    }

    /// asyncio's `__del__` checks, for Python subclasses: their type gets
    /// CPython's generic finalizer, which calls this method.
    fn __del__(slf: &Bound<'_, Self>) -> PyResult<()> {
        match native_types::as_task(slf.as_any()) {
            Some(task) => crate::task::Task::finalize(task),
            None => Self::finalize(slf),
        }
    }

    fn _make_cancelled_error<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.make_cancelled_error(py)
    }

    #[getter(_asyncio_future_blocking)]
    fn get_asyncio_future_blocking_attr(&self) -> bool {
        self.is_blocking()
    }

    #[setter(_asyncio_future_blocking)]
    fn set_asyncio_future_blocking_attr(&self, value: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let value = value.ok_or_else(|| PyAttributeError::new_err("cannot delete attribute"))?;
        self.set_blocking(value.is_truthy()?);
        Ok(())
    }

    #[getter(_log_traceback)]
    fn get_log_traceback_attr(&self) -> bool {
        self.log_traceback.load(Ordering::Relaxed)
    }

    #[setter(_log_traceback)]
    fn set_log_traceback_attr(&self, value: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let value = value.ok_or_else(|| PyAttributeError::new_err("cannot delete attribute"))?;
        if value.is_truthy()? {
            return Err(PyValueError::new_err(
                "_log_traceback can only be set to False",
            ));
        }
        self.log_traceback.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// asyncio's class for the native types: `isinstance` falls back to
    /// `__class__` when the type check fails, so `isinstance(f,
    /// asyncio.Future)` (and `asyncio.Task` for a task) holds, as libraries
    /// check before they trust a waiter (anyio's cancel scopes do). `type(f)`
    /// is still the native type; a Python subclass reports itself.
    #[getter(__class__)]
    fn class_face<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let own = slf.get_type();
        if own.is(py.get_type::<Future>()) {
            return Ok(asyncio_future_class(py)?.clone());
        }
        if own.is(py.get_type::<Task>()) {
            return Ok(asyncio_task_class(py)?.clone());
        }
        Ok(own.into_any())
    }

    #[getter]
    fn _state(&self) -> &'static str {
        match self.state() {
            CANCELLED => "CANCELLED",
            FINISHED => "FINISHED",
            _ => "PENDING",
        }
    }

    #[getter]
    fn _result(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.core
            .with(py, |c| c.result.as_ref().map(|r| r.clone_ref(py)))
    }

    #[getter]
    fn _exception(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.core
            .with(py, |c| c.exception.as_ref().map(|e| e.clone_ref(py)))
    }

    #[getter]
    fn _source_traceback(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.core
            .with(py, |c| c.source_traceback.as_ref().map(|t| t.clone_ref(py)))
    }

    #[getter(_cancel_message)]
    fn get_cancel_message_attr<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.cancel_message(py)
    }

    #[setter(_cancel_message)]
    fn set_cancel_message_attr(
        &self,
        py: Python<'_>,
        value: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.set_cancel_message(py, value)
    }

    /// `(callback, context)` pairs, as asyncio's repr helpers read them.
    #[getter]
    fn _callbacks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let entries = self.core.with(py, |c| {
            c.callbacks
                .iter()
                .map(|cb| match cb {
                    DoneCallback::Call { func, context } => {
                        (Some(func.clone_ref(py)), None, Some(context.clone_ref(py)))
                    }
                    DoneCallback::Wakeup { task } => (None, Some(task.clone_ref(py)), None),
                })
                .collect::<Vec<_>>()
        })?;
        let list = PyList::empty(py);
        for entry in entries {
            let pair = match entry {
                (Some(func), _, Some(context)) => PyTuple::new(py, [func, context])?,
                (_, Some(task), _) => {
                    let context = task.bind(py).get().context(py)?;
                    let wakeup = Bound::new(py, TaskWakeup::new(task))?.into_any();
                    PyTuple::new(py, [wakeup, context])?
                }
                _ => continue,
            };
            list.append(pair)?;
        }
        Ok(list)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        repr_from_info(slf.as_any(), future_repr_info(slf.py())?)
    }

    #[classmethod]
    fn __class_getitem__<'py>(
        cls: &Bound<'py, PyType>,
        item: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        generic_alias(cls.py())?.call1((cls, item))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(core) = self.core.peek() {
            for obj in core.objects() {
                visit.call(obj)?;
            }
        }
        self.dict.visit(&visit)
    }

    fn __clear__(&self) {
        self.core.clear();
        self.dict.clear();
    }
}

impl Future {
    /// Gives Future and Task (and their Rust-made instances) the `__dict__`
    /// slot of asyncio's C types; once, when the module loads.
    pub(crate) fn install_instance_dicts(py: Python<'_>) -> PyResult<()> {
        let future = Bound::new(py, Self::empty())?;
        instance_dict::install(&future, &future.get().dict)?;
        let task = Bound::new(
            py,
            PyClassInitializer::from(Self::empty()).add_subclass(Task::empty()),
        )?;
        instance_dict::install(&task, &task.as_super().get().dict)
    }

    /// `__del__`: "exception was never retrieved", through the loop's
    /// exception handler (called from the type's tp_finalize).
    pub(crate) fn finalize(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if !take_flag(&this.log_traceback) {
            return Ok(());
        }
        let (loop_, exception, tb) = this.core.with(py, |c| {
            (
                c.loop_.as_ref().map(|l| l.clone_ref(py)),
                c.exception.as_ref().map(|e| e.clone_ref(py)),
                c.source_traceback.as_ref().map(|t| t.clone_ref(py)),
            )
        })?;
        let Some(loop_) = loop_ else {
            return Ok(());
        };
        let class = slf.get_type().name()?;
        let context = PyDict::new(py);
        context.set_item("message", format!("{class} exception was never retrieved"))?;
        context.set_item("exception", exception)?;
        context.set_item("future", slf)?;
        if let Some(tb) = tb {
            context.set_item("source_traceback", tb)?;
        }
        loop_.call_method1(py, intern!(py, "call_exception_handler"), (context,))?;
        Ok(())
    }
}
