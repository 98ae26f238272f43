//! `Handle` and `TimerHandle`: one scheduled callback, run inside its context.
//!
//! A handle holds the callback and its arguments, the `contextvars.Context` it
//! runs in, and its loop, to report failures to the loop's exception handler.
//!
//! Handles are not GC-tracked: tracking every short-lived handle made GC passes
//! half of `call_soon`'s cost (PYLOOP_NOTES.md). Instead a handle lets go of its
//! callback and arguments as soon as it has run or was cancelled, so a cycle
//! through user objects (`self.h = loop.call_soon(self.m)`) cannot outlive it.

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};

use pyloop_core::prefetch;
use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyBool, PyDict, PyFloat, PyTuple};

use crate::future::{copy_context, Future};
use crate::gil_cell::{CloneRef, GilCell, GilSlot};
use crate::imports::{creation_stack, format_callback};
use crate::io_ready;
use crate::loop_::Loop;
use crate::shared_context::{empty_context, Capture};
use crate::sock_io::SockWait;
use crate::task::{Task, TaskStep, TaskWakeup};
use crate::vectorcall::call_with_tuple;

/// What a handle runs.
pub(crate) enum Callback {
    /// `func(*args)`.
    Call { func: Py<PyAny>, args: Py<PyTuple> },
    /// A native task's next step, with the exception to throw in, if any:
    /// run without a Python-level callable in between.
    Step {
        task: Py<Task>,
        exc: Option<Py<PyAny>>,
    },
    /// A native task's wake-up: the future it waited on is done.
    Wakeup { task: Py<Task>, future: Py<PyAny> },
    /// A native `sock_recv`/`sock_sendall` waiting for its fd.
    Sock(Py<SockWait>),
    /// A native transport's reader (read=True) or writer (`io_ready.rs`).
    Transport {
        transport: Py<PyAny>,
        read: bool,
        on_ready: io_ready::OnReady,
    },
}

impl CloneRef for Callback {
    fn clone_ref(&self, py: Python<'_>) -> Self {
        match self {
            Self::Call { func, args } => Self::Call {
                func: func.clone_ref(py),
                args: args.clone_ref(py),
            },
            Self::Step { task, exc } => Self::Step {
                task: task.clone_ref(py),
                exc: exc.as_ref().map(|e| e.clone_ref(py)),
            },
            Self::Wakeup { task, future } => Self::Wakeup {
                task: task.clone_ref(py),
                future: future.clone_ref(py),
            },
            Self::Sock(wait) => Self::Sock(wait.clone_ref(py)),
            Self::Transport {
                transport,
                read,
                on_ready,
            } => Self::Transport {
                transport: transport.clone_ref(py),
                read: *read,
                on_ready: *on_ready,
            },
        }
    }
}

impl Callback {
    /// The callable and arguments this stands for, as asyncio would show
    /// them (reprs, `_callback`, error reports).
    fn parts<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        Ok(match self {
            Self::Call { func, args } => (func.bind(py).clone(), args.bind(py).clone()),
            Self::Step { task, exc } => (
                Bound::new(
                    py,
                    TaskStep::new(task.clone_ref(py), exc.as_ref().map(|e| e.clone_ref(py))),
                )?
                .into_any(),
                PyTuple::empty(py),
            ),
            Self::Wakeup { task, future } => (
                Bound::new(py, TaskWakeup::new(task.clone_ref(py)))?.into_any(),
                PyTuple::new(py, [future.bind(py)])?,
            ),
            Self::Sock(wait) => (wait.bind(py).clone().into_any(), PyTuple::empty(py)),
            Self::Transport {
                transport, read, ..
            } => {
                let method = if *read { "_read_ready" } else { "_write_ready" };
                (transport.bind(py).getattr(method)?, PyTuple::empty(py))
            }
        })
    }

    /// Drops the references as direct decrefs, without PyO3's "is the GIL
    /// held?" check that dropping a Py pays.
    fn release(self, py: Python<'_>) {
        match self {
            Self::Call { func, args } => {
                drop(func.into_bound(py));
                drop(args.into_bound(py));
            }
            Self::Step { task, exc } => {
                drop(task.into_bound(py));
                drop(exc.map(|e| e.into_bound(py)));
            }
            Self::Wakeup { task, future } => {
                drop(task.into_bound(py));
                drop(future.into_bound(py));
            }
            Self::Sock(wait) => drop(wait.into_bound(py)),
            Self::Transport { transport, .. } => drop(transport.into_bound(py)),
        }
    }
}

/// What asyncio keeps on a handle in debug mode.
struct DebugInfo {
    /// Where the handle was created (`_source_traceback`, FrameSummary list).
    source_traceback: Py<PyAny>,
    /// The repr taken at `cancel()`, before the callback is released, so a
    /// cancelled handle still names its callback (asyncio's `_repr`).
    repr_at_cancel: GilCell<Option<String>>,
}

#[pyclass(frozen, subclass, weakref, freelist = 1024, module = "pyloop._pyloop")]
pub struct Handle {
    /// Only cloned out or taken (`GilSlot`): without `GilCell`'s borrow flag
    /// and its padding a handle is 80 bytes (pymalloc's 80-byte class, 96
    /// for a timer) instead of 88 (96, and 112 for a timer).
    callback: GilSlot<Option<Callback>>,
    /// Replaced when a handle sharing the loop's empty context gets one of
    /// its own (shared_context.rs). ManuallyDrop: released in `Drop` as a
    /// direct decref.
    context: ManuallyDrop<GilSlot<Py<PyAny>>>,
    /// True for a real `contextvars.Context`: entered through the C API
    /// instead of calling `context.run`.
    native_context: bool,
    /// The context is the copy `call_soon` made for this handle. It is kept
    /// out of the GC's lists while only this handle refers to it (copies
    /// made per call were a large share of GC passes) and tracked again as
    /// soon as it is shared or released.
    own_context: bool,
    /// `context` is the loop's shared empty context (shared_context.rs).
    shared_context: AtomicBool,
    owner: ManuallyDrop<Py<Loop>>,
    /// Debug mode only (boxed, so normal handles pay one null pointer).
    debug: Option<Box<DebugInfo>>,
    cancelled: AtomicBool,
    /// Timers only: true while the handle sits in the loop's timer heap.
    scheduled: AtomicBool,
    /// `add_reader`/`add_writer` handles run each time their fd is ready:
    /// they keep their callback until removed (cancelled).
    recurring: bool,
}

impl Handle {
    pub(crate) fn new(
        py: Python<'_>,
        func: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
        owner: Py<Loop>,
        shareable: bool,
    ) -> PyResult<Self> {
        let callback = Callback::Call {
            func: func.unbind(),
            args: args.unbind(),
        };
        Self::with_callback(py, callback, context, owner, shareable)
    }

    /// `shareable`: without a `context`, the handle may share the loop's
    /// empty context (shared_context.rs). Handles that run more than once
    /// (fd callbacks) must not: a variable one run sets is seen by the next.
    pub(crate) fn with_callback(
        py: Python<'_>,
        callback: Callback,
        context: Option<Bound<'_, PyAny>>,
        owner: Py<Loop>,
        shareable: bool,
    ) -> PyResult<Self> {
        let debug = if owner.get().debug_enabled() {
            Some(Box::new(DebugInfo {
                source_traceback: creation_stack(py)?,
                repr_at_cancel: GilCell::new(None),
            }))
        } else {
            None
        };
        let (context, own_context, shared) = match context {
            Some(ctx) if !ctx.is_none() => (ctx.unbind(), false, false),
            _ => {
                let copy = copy_context(py)?;
                let captured = if shareable {
                    owner
                        .get()
                        .shared_context()
                        .with(py, |s| s.capture(copy))??
                } else {
                    Capture::Own(copy)
                };
                match captured {
                    Capture::Shared(shared, unused) => {
                        drop(unused);
                        (shared, false, true)
                    }
                    Capture::Own(copy) => {
                        // SAFETY: the fresh copy is tracked; untracking an
                        // object only we hold is safe (the GIL is held).
                        unsafe { ffi::PyObject_GC_UnTrack(copy.as_ptr().cast()) };
                        (copy.unbind(), true, false)
                    }
                }
            }
        };
        // SAFETY: a type check on a live object.
        let native_context = unsafe { ffi::PyContext_CheckExact(context.as_ptr()) } != 0;
        Ok(Self {
            callback: GilSlot::new(Some(callback)),
            context: ManuallyDrop::new(GilSlot::new(context)),
            native_context,
            own_context,
            shared_context: AtomicBool::new(shared),
            owner: ManuallyDrop::new(owner),
            debug,
            cancelled: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            recurring: false,
        })
    }

    /// The future of the native socket call this handle waits for, if any.
    pub(crate) fn sock_future(&self, py: Python<'_>) -> PyResult<Option<Py<Future>>> {
        Ok(match self.callback.get(py) {
            Some(Callback::Sock(wait)) => Some(wait.get().future().clone_ref(py)),
            _ => None,
        })
    }

    /// Marks a handle that runs each time its fd is ready.
    pub(crate) fn recurring(mut self) -> Self {
        self.recurring = true;
        self
    }

    /// The handle has run (or was skipped): let go of the callback and its
    /// arguments now, outside the cell (dropping may run arbitrary Python).
    pub(crate) fn finish(handle: &Bound<'_, Self>) -> PyResult<()> {
        let this = handle.get();
        if this.recurring && !this.is_cancelled() {
            return Ok(());
        }
        let py = handle.py();
        if let Some(released) = this.callback.replace(py, None) {
            released.release(py);
        }
        Ok(())
    }

    /// Puts our context copy back under the GC before anyone else can hold
    /// it. CPython's context dealloc also assumes a tracked object.
    fn track_context(&self) {
        if self.own_context {
            // SAFETY: the context is alive (we hold it), is a GC type, and the
            // GIL is held (called from Python methods and from tp_dealloc).
            unsafe {
                let ctx = self.context.as_ptr();
                if ffi::PyObject_GC_IsTracked(ctx) == 0 {
                    ffi::PyObject_GC_Track(ctx.cast());
                }
            }
        }
    }

    /// Runs `body` for a handle sharing the loop's empty context: in that
    /// context while it is empty and free, else in a fresh empty one that
    /// becomes the handle's own (shared_context.rs).
    fn run_sharing(
        slf: &Bound<'_, Self>,
        shared: &Bound<'_, PyAny>,
        body: impl FnOnce() -> PyResult<()>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let cell = this.owner.get().shared_context();
        let me = slf.as_ptr() as usize;
        if cell.with(py, |s| s.begin(shared, me))?? {
            let outcome = call_in_context(shared, body);
            let (kept, released) = cell.with(py, |s| s.end(shared))??;
            if kept {
                this.shared_context.store(false, Ordering::Relaxed);
            }
            drop(released);
            return outcome;
        }
        let own = empty_context(py)?;
        this.take_own_context(py, &own);
        call_in_context(&own, body)
    }

    /// `get_context()` of a handle sharing the loop's empty context: the
    /// handle gets a context of its own now, the shared one if it is the
    /// one running in it, else a fresh empty one.
    fn own_context_now<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let shared = this.bound_context(py);
        let me = slf.as_ptr() as usize;
        let (given, released) = this
            .owner
            .get()
            .shared_context()
            .with(py, |s| s.give(&shared, me))?;
        drop(released);
        if given {
            this.shared_context.store(false, Ordering::Relaxed);
            return Ok(shared);
        }
        let own = empty_context(py)?;
        this.take_own_context(py, &own);
        Ok(own)
    }

    fn bound_context<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.context.get(py).into_bound(py)
    }

    /// Replaces the shared context with `own`, for good.
    fn take_own_context(&self, py: Python<'_>, own: &Bound<'_, PyAny>) {
        let old = self.context.replace(py, own.clone().unbind());
        self.shared_context.store(false, Ordering::Relaxed);
        drop(old);
    }

    /// Starts loading this handle's context, entered as soon as the handle
    /// runs: `Loop::run_iteration` asks one handle ahead.
    pub(crate) fn prefetch_context(&self) {
        prefetch(self.context.as_ptr());
    }

    /// Starts loading a queued handle's first two cache lines (its flags
    /// and its context pointer), two handles ahead of the one running.
    pub(crate) fn prefetch(handle: &Py<Self>) {
        let start = handle.as_ptr().cast::<u8>();
        prefetch(start);
        prefetch(start.wrapping_add(64));
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    pub(crate) fn set_scheduled(&self, scheduled: bool) {
        self.scheduled.store(scheduled, Ordering::Relaxed);
    }

    fn callback_parts<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<(Bound<'py, PyAny>, Bound<'py, PyTuple>)>> {
        self.callback.get(py).map(|cb| cb.parts(py)).transpose()
    }

    /// Runs the callback. Errors go to the loop's exception handler; only
    /// KeyboardInterrupt and SystemExit come back (asyncio lets them through).
    /// The callback is a new reference for the call (the callback may cancel
    /// its own handle), released as direct decrefs: dropping a `Py` asks a
    /// thread-local whether the GIL is held, ~40 instructions per callback.
    pub(crate) fn run(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let Some(callback) = this.callback.get(py) else {
            return Ok(());
        };
        let outcome = match &callback {
            Callback::Call { func, args } => {
                let (func, args) = (func.bind(py), args.bind(py));
                let context = this.bound_context(py);
                if this.shared_context.load(Ordering::Relaxed) {
                    Self::run_sharing(slf, &context, || call_with_tuple(func, args).map(drop))
                } else if this.native_context {
                    call_in_context(&context, || call_with_tuple(func, args).map(drop))
                } else {
                    let mut call_args = vec![func.clone()];
                    call_args.extend(args.iter());
                    context
                        .call_method1("run", PyTuple::new(py, call_args)?)
                        .map(drop)
                }
            }
            // Native callbacks always carry the task's own context.
            Callback::Step { task, exc } => call_in_context(&this.bound_context(py), || {
                Task::step(task.bind(py), exc.as_ref().map(|e| e.bind(py).clone()))
            }),
            Callback::Wakeup { task, future } => call_in_context(&this.bound_context(py), || {
                Task::wakeup(task.bind(py), future.bind(py))
            }),
            // Native system calls: no user code, no context needed.
            Callback::Sock(wait) => wait.get().on_ready(this.owner.bind(py)),
            // Protocol code runs in the context the registration captured,
            // as asyncio's reader handles do.
            Callback::Transport {
                transport,
                read,
                on_ready,
            } => call_in_context(&this.bound_context(py), || {
                on_ready(transport.bind(py), *read)
            }),
        };
        let reported = match outcome {
            Ok(()) => Ok(()),
            Err(err) => Self::report(slf, &callback, err),
        };
        callback.release(py);
        reported
    }

    /// A callback's exception goes to the loop's exception handler; only
    /// KeyboardInterrupt and SystemExit come back.
    fn report(slf: &Bound<'_, Self>, callback: &Callback, err: PyErr) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if err.is_instance_of::<PyKeyboardInterrupt>(py) || err.is_instance_of::<PySystemExit>(py) {
            return Err(err);
        }
        let (func, args) = callback.parts(py)?;
        let source = format_callback(py, &func, &args)?;
        let context = PyDict::new(py);
        context.set_item("message", format!("Exception in callback {source}"))?;
        context.set_item("exception", err.into_value(py))?;
        context.set_item("handle", slf)?;
        if let Some(debug) = &this.debug {
            context.set_item("source_traceback", &debug.source_traceback)?;
        }
        this.owner
            .bind(py)
            .call_method1("call_exception_handler", (context,))?;
        Ok(())
    }

    fn repr_with(slf: &Bound<'_, Self>, class: &str, when: Option<String>) -> PyResult<String> {
        let py = slf.py();
        let this = slf.get();
        if let Some(debug) = &this.debug {
            if let Some(saved) = debug.repr_at_cancel.with(py, |r| r.clone())? {
                return Ok(saved);
            }
        }
        let mut info = vec![class.to_owned()];
        if this.is_cancelled() {
            info.push("cancelled".to_owned());
        }
        if let Some(when) = when {
            info.push(format!("when={when}"));
        }
        if let Some((func, args)) = this.callback_parts(py)? {
            info.push(format_callback(py, &func, &args)?);
        }
        if let Some(debug) = &this.debug {
            let stack = debug.source_traceback.bind(py);
            if stack.len()? > 0 {
                let frame = stack.get_item(-1)?;
                let file: String = frame.getattr("filename")?.extract()?;
                let line: String = frame.getattr("lineno")?.str()?.extract()?;
                info.push(format!("created at {file}:{line}"));
            }
        }
        Ok(format!("<{}>", info.join(" ")))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.track_context();
        // SAFETY: a pyclass is dropped by its tp_dealloc, with the GIL held;
        // each field is taken once, here, and never used again.
        unsafe {
            let py = Python::assume_attached();
            drop(
                ManuallyDrop::take(&mut self.context)
                    .into_inner()
                    .into_bound(py),
            );
            drop(ManuallyDrop::take(&mut self.owner).into_bound(py));
        }
    }
}

/// Runs `body` with `context` (an exact `contextvars.Context`) entered, as
/// `Context.run` would.
fn call_in_context(
    context: &Bound<'_, PyAny>,
    body: impl FnOnce() -> PyResult<()>,
) -> PyResult<()> {
    let py = context.py();
    // SAFETY: the GIL is held and `context` is an exact contextvars.Context.
    if unsafe { ffi::PyContext_Enter(context.as_ptr()) } != 0 {
        return Err(PyErr::fetch(py));
    }
    let result = body();
    // SAFETY: as above; exiting the context this call entered.
    if unsafe { ffi::PyContext_Exit(context.as_ptr()) } != 0 {
        return Err(PyErr::fetch(py));
    }
    result
}

#[pymethods]
impl Handle {
    pub(crate) fn cancel(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if this.cancelled.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        if this.scheduled.load(Ordering::Relaxed) {
            this.owner.get().note_timer_cancelled(py)?;
        }
        if let Some(debug) = &this.debug {
            let shown = slf.repr()?.to_string();
            debug.repr_at_cancel.with(py, |r| *r = Some(shown))?;
        }
        Self::finish(slf)
    }

    fn cancelled(&self) -> bool {
        self.is_cancelled()
    }

    fn get_context<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        if this.shared_context.load(Ordering::Relaxed) {
            return Self::own_context_now(slf);
        }
        this.track_context();
        Ok(this.bound_context(slf.py()))
    }

    /// asyncio's `Handle._run`: runs the callback and keeps it, so a handle
    /// run by hand while queued runs again when the loop reaches it. The
    /// loop itself lets go of the callback after running it.
    fn _run(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::run(slf)
    }

    #[getter]
    fn _callback<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(self.callback_parts(py)?.map(|(func, _)| func))
    }

    #[getter]
    fn _args<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        Ok(self.callback_parts(py)?.map(|(_, args)| args))
    }

    #[getter]
    fn _cancelled(&self) -> bool {
        self.is_cancelled()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        Self::repr_with(slf, "Handle", None)
    }

    #[getter]
    fn _source_traceback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.debug
            .as_ref()
            .map(|d| d.source_traceback.clone_ref(py))
    }
}

#[pyclass(frozen, extends = Handle, freelist = 1024, module = "pyloop._pyloop")]
pub struct TimerHandle {
    when: f64,
    /// The deadline object `call_at` was given when it is not a float (an
    /// int, say): `when()` hands it back unchanged, as asyncio does.
    given: Option<Py<PyAny>>,
}

impl TimerHandle {
    pub(crate) fn new(when: f64, given: Option<Py<PyAny>>) -> Self {
        Self { when, given }
    }
}

#[pymethods]
impl TimerHandle {
    fn when(&self, py: Python<'_>) -> Py<PyAny> {
        match &self.given {
            Some(given) => given.clone_ref(py),
            None => PyFloat::new(py, self.when).into_any().unbind(),
        }
    }

    /// asyncio's private attribute, which libraries' tests read.
    #[getter(_when)]
    fn when_attr(&self, py: Python<'_>) -> Py<PyAny> {
        self.when(py)
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        PyFloat::new(py, self.when).hash()
    }

    /// asyncio orders timers by deadline; equal timers also share the
    /// callback, arguments and cancelled state.
    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let Ok(other) = other.downcast::<Self>() else {
            return Ok(py.NotImplemented());
        };
        let (a, b) = (slf.get().when, other.get().when);
        let equal = || -> PyResult<bool> {
            let (mine, theirs) = (slf.as_super().get(), other.as_super().get());
            if a != b || mine.is_cancelled() != theirs.is_cancelled() {
                return Ok(false);
            }
            match (mine.callback_parts(py)?, theirs.callback_parts(py)?) {
                (None, None) => Ok(true),
                (Some((f1, a1)), Some((f2, a2))) => Ok(f1.eq(f2)? && a1.eq(a2)?),
                _ => Ok(false),
            }
        };
        let result = match op {
            CompareOp::Lt => a < b,
            CompareOp::Gt => a > b,
            CompareOp::Le => a < b || equal()?,
            CompareOp::Ge => a > b || equal()?,
            CompareOp::Eq => equal()?,
            CompareOp::Ne => !equal()?,
        };
        Ok(PyBool::new(py, result).to_owned().into_any().unbind())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        // asyncio formats the deadline object with str(), int or float alike.
        let when = slf
            .get()
            .when(slf.py())
            .into_bound(slf.py())
            .str()?
            .to_string();
        Handle::repr_with(slf.as_super(), "TimerHandle", Some(when))
    }
}
