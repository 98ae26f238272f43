//! The native engine of `pyloop.Loop`: the ready queue, the timer heap and
//! the run loop, shaped like asyncio's `BaseEventLoop._run_once`.
//!
//! Python-facing orchestration that runs once per call (run_until_complete,
//! executors, async generators, the exception handler) lives in
//! `python/pyloop/_loop.py`, which subclasses this class.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pyloop_core::fd_map::FdMap;
use pyloop_core::reactor::{Next, Park, Waker};
use pyloop_core::{monotonic, IoEvent, Reactor, Timer, TimerHeap};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyTuple};

use crate::errors::{core_to_py, DELAY_NONE, LOOP_CLOSED, NOT_LOOP_THREAD, WHEN_NONE};
use crate::future::Future;
use crate::gil_cell::{take_flag, GilCell};
use crate::handle::{Callback, Handle, TimerHandle};
use crate::recv_buffer::RecvBuffer;
use crate::shared_context::SharedContext;
use crate::sock_io::{self, SockWait};

/// asyncio adds the clock's resolution when deciding which timers are due;
/// CLOCK_MONOTONIC's is one nanosecond.
const CLOCK_RESOLUTION: f64 = 1e-9;

/// What a step asks for: another iteration at once (callbacks are ready and
/// no fd is watched), or something of `Reactor::drive`.
enum Step {
    Again,
    Next(Next<PyResult<()>>),
}

/// What step 2 of an iteration may do.
enum Wait {
    /// Callbacks are ready: no waiting.
    Busy,
    /// Wait until the deadline (None: until something happens).
    Until(Option<f64>),
}

struct Scheduled {
    when: f64,
    handle: Py<Handle>,
}

impl Timer for Scheduled {
    fn when(&self) -> f64 {
        self.when
    }
    fn is_cancelled(&self) -> bool {
        self.handle.get().is_cancelled()
    }
}

#[derive(Default)]
struct Schedule {
    ready: VecDeque<Py<Handle>>,
    timers: TimerHeap<Scheduled>,
    /// `add_reader` / `add_writer` callbacks by fd.
    readers: FdMap<Py<Handle>>,
    writers: FdMap<Py<Handle>>,
}

impl Schedule {
    fn io_handles(&mut self, read: bool) -> &mut FdMap<Py<Handle>> {
        if read {
            &mut self.readers
        } else {
            &mut self.writers
        }
    }
}

#[pyclass(frozen, subclass, weakref, module = "pyloop._pyloop", name = "Loop")]
pub struct Loop {
    schedule: GilCell<Schedule>,
    reactor: Reactor,
    waker: Waker,
    closed: AtomicBool,
    stopping: AtomicBool,
    running: AtomicBool,
    debug: AtomicBool,
    /// `set_task_factory`'s factory.
    task_factory: GilCell<Option<Py<PyAny>>>,
    /// The empty context handles made without variables share.
    shared_context: GilCell<SharedContext>,
    /// Receive buffer of the native `sock_recv`, reused between calls.
    scratch: GilCell<RecvBuffer>,
    /// Set before the loop looks at its ready queue to decide whether to
    /// park, cleared after the park: `call_soon_threadsafe` only pays for a
    /// wake-up when the loop may be asleep. The GIL orders the push and the
    /// look, so a push either is seen or finds this flag set.
    may_sleep: AtomicBool,
    /// `pthread_self()` of the thread inside `_run`, 0 when not running.
    thread_id: AtomicU64,
    /// `add_signal_handler` handlers exist: the wake-up socket, which
    /// carries their signal numbers, is polled in every iteration as if a
    /// fd were watched (asyncio's self-pipe always is).
    polls_signals: AtomicBool,
}

fn current_thread_id() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    let id = unsafe { libc::pthread_self() };
    #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
    let id = id as usize as u64;
    id
}

/// The GIL around `Reactor::drive`'s waits: `_run` holds it (it was called
/// from Python) and the reactor lets go of it only while Tokio may block,
/// with a bare `PyEval_SaveThread`/`PyEval_RestoreThread` pair.
/// `detach` (was `allow_threads`) around the whole run and `Python::attach` per step cost
/// the GIL-state bookkeeping (`PyGILState_Ensure`/`Release`, PyO3's GIL
/// count and reference pool) on every wake-up.
///
/// While it is released PyO3's GIL count still says held, so nothing on
/// this thread may touch Python then: only Tokio's I/O driver and
/// pyloop-core's registry and wakers run (pyloop-core has no PyO3 and
/// nothing is spawned on the loop's runtime). A panic that unwinds out of a
/// wait with the GIL released takes it back in `drop`, before PyO3 turns
/// the panic into an exception.
struct GilGate {
    saved: *mut pyo3::ffi::PyThreadState,
}

impl Default for GilGate {
    fn default() -> Self {
        Self {
            saved: std::ptr::null_mut(),
        }
    }
}

impl pyloop_core::reactor::Gate for GilGate {
    fn release(&mut self) {
        if self.saved.is_null() {
            // SAFETY: this thread holds the GIL (it is inside `_run`, called
            // from Python, and `acquire` took it back after any release).
            self.saved = unsafe { pyo3::ffi::PyEval_SaveThread() };
        }
    }

    fn acquire(&mut self) {
        if !self.saved.is_null() {
            // SAFETY: the thread state this thread's `release` saved.
            unsafe { pyo3::ffi::PyEval_RestoreThread(self.saved) };
            self.saved = std::ptr::null_mut();
        }
    }
}

impl Drop for GilGate {
    fn drop(&mut self) {
        pyloop_core::reactor::Gate::acquire(self);
    }
}

/// Resets the running state however `_run` exits.
struct RunGuard<'a>(&'a Loop);

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.0.stopping.store(false, Ordering::Relaxed);
        self.0.running.store(false, Ordering::Relaxed);
        self.0.thread_id.store(0, Ordering::Relaxed);
    }
}

impl Loop {
    fn check_closed(&self) -> PyResult<()> {
        if self.closed.load(Ordering::Relaxed) {
            Err(PyRuntimeError::new_err(LOOP_CLOSED))
        } else {
            Ok(())
        }
    }

    /// The debug-mode checks asyncio makes in call_soon/call_at.
    fn debug_checks(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        method: &str,
    ) -> PyResult<()> {
        let this = slf.get();
        if !this.debug.load(Ordering::Relaxed) {
            return Ok(());
        }
        this.check_thread()?;
        slf.call_method1("_check_callback", (callback, method))?;
        Ok(())
    }

    /// Debug mode: a non-thread-safe method called from another thread.
    fn check_thread(&self) -> PyResult<()> {
        let owner = self.thread_id.load(Ordering::Relaxed);
        if owner != 0 && owner != current_thread_id() {
            return Err(PyRuntimeError::new_err(NOT_LOOP_THREAD));
        }
        Ok(())
    }

    /// Creates a handle and appends it to the ready queue.
    fn schedule_soon<'py>(
        slf: &Bound<'py, Self>,
        callback: Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        context: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Handle>> {
        let handle = Self::new_handle(slf, callback, args, context, true)?;
        Self::enqueue(slf, handle)
    }

    /// A handle of this loop for `callback(*args)` (`shareable`: see
    /// `Handle::with_callback`).
    fn new_handle(
        slf: &Bound<'_, Self>,
        callback: Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
        shareable: bool,
    ) -> PyResult<Handle> {
        Handle::new(
            slf.py(),
            callback,
            args.clone(),
            context,
            slf.clone().unbind(),
            shareable,
        )
    }

    /// Appends a new handle to the ready queue.
    fn enqueue<'py>(slf: &Bound<'py, Self>, handle: Handle) -> PyResult<Bound<'py, Handle>> {
        let py = slf.py();
        let handle = Bound::new(py, handle)?;
        let queued = handle.clone().unbind();
        slf.get().schedule.with(py, |s| s.ready.push_back(queued))?;
        Ok(handle)
    }

    /// `loop.call_soon` (installed as a raw vectorcall method, see fastcall.rs).
    pub(crate) fn call_soon<'py>(
        slf: &Bound<'py, Self>,
        callback: Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        context: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Handle>> {
        slf.get().check_closed()?;
        Self::debug_checks(slf, &callback, "call_soon")?;
        Self::schedule_soon(slf, callback, args, context)
    }

    /// `call_soon` for the native callbacks of tasks and futures, in
    /// `context`; the same checks as `call_soon`.
    pub(crate) fn call_soon_native(
        slf: &Bound<'_, Self>,
        callback: Callback,
        context: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        this.check_closed()?;
        if this.debug.load(Ordering::Relaxed) {
            this.check_thread()?;
        }
        let handle =
            Handle::with_callback(py, callback, Some(context), slf.clone().unbind(), false)?;
        Self::enqueue(slf, handle).map(drop)
    }

    /// `loop.call_soon_threadsafe` (installed like `call_soon`).
    pub(crate) fn call_soon_threadsafe<'py>(
        slf: &Bound<'py, Self>,
        callback: Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        context: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Handle>> {
        let this = slf.get();
        this.check_closed()?;
        if this.debug.load(Ordering::Relaxed) {
            slf.call_method1("_check_callback", (&callback, "call_soon_threadsafe"))?;
        }
        // The GIL serialises this push with the loop thread's own pushes, so
        // the order matches asyncio's (appended at call time).
        let handle = Self::schedule_soon(slf, callback, args, context)?;
        if take_flag(&this.may_sleep) {
            this.waker.wake();
        }
        Ok(handle)
    }

    /// `loop.call_later` (a raw vectorcall method, see fastcall.rs).
    pub(crate) fn call_later<'py>(
        slf: &Bound<'py, Self>,
        delay: &Bound<'py, PyAny>,
        callback: Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        context: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, TimerHandle>> {
        if delay.is_none() {
            return Err(PyTypeError::new_err(DELAY_NONE));
        }
        let when = monotonic() + delay.extract::<f64>()?;
        Self::schedule_at(slf, when, None, callback, args, context)
    }

    /// `loop.call_at` (a raw vectorcall method, see fastcall.rs).
    pub(crate) fn call_at<'py>(
        slf: &Bound<'py, Self>,
        when: &Bound<'py, PyAny>,
        callback: Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        context: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, TimerHandle>> {
        if when.is_none() {
            return Err(PyTypeError::new_err(WHEN_NONE));
        }
        let given = (!when.is_exact_instance_of::<PyFloat>()).then(|| when.clone().unbind());
        Self::schedule_at(slf, when.extract()?, given, callback, args, context)
    }

    fn schedule_at<'py>(
        slf: &Bound<'py, Self>,
        when: f64,
        given: Option<Py<PyAny>>,
        callback: Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        context: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, TimerHandle>> {
        let py = slf.py();
        let this = slf.get();
        this.check_closed()?;
        Self::debug_checks(slf, &callback, "call_at")?;
        let base = Self::new_handle(slf, callback, args, context, true)?;
        base.set_scheduled(true);
        let init = PyClassInitializer::from(base).add_subclass(TimerHandle::new(when, given));
        let timer = Bound::new(py, init)?;
        let handle = timer.as_super().clone().unbind();
        this.schedule
            .with(py, |s| s.timers.push(Scheduled { when, handle }))?;
        Ok(timer)
    }

    /// Runs `f` with the receive buffer. `f` may create bytes objects
    /// (which runs no Python code) but must not call into Python.
    pub(crate) fn with_scratch<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut RecvBuffer) -> R,
    ) -> PyResult<R> {
        self.scratch.with(py, f)
    }

    /// Registers a native socket wait as the fd's reader or writer,
    /// replacing (cancelling) any callback there, as `add_reader` does.
    pub(crate) fn add_sock_wait(
        slf: &Bound<'_, Self>,
        fd: RawFd,
        read: bool,
        wait: Py<SockWait>,
    ) -> PyResult<()> {
        let handle = Handle::with_callback(
            slf.py(),
            Callback::Sock(wait),
            None,
            slf.clone().unbind(),
            false,
        )?;
        Self::register_io(slf, fd, read, handle, false).map(drop)
    }

    /// Removes the fd's reader or writer if it is the native wait for
    /// `future`; True if it was.
    pub(crate) fn remove_sock_wait(
        slf: &Bound<'_, Self>,
        fd: RawFd,
        read: bool,
        future: &Bound<'_, Future>,
    ) -> PyResult<bool> {
        let py = slf.py();
        let registered = slf
            .get()
            .schedule
            .with(py, |s| s.io_handles(read).get(&fd).map(|h| h.clone_ref(py)))?;
        let Some(handle) = registered else {
            return Ok(false);
        };
        match handle.get().sock_future(py)? {
            Some(waited) if waited.bind(py).is(future) => Self::_remove_io(slf, fd, read),
            _ => Ok(false),
        }
    }

    /// Makes `handle` the fd's reader or writer; returns it. `reads_only`:
    /// the fd's writes seldom wait (see `Reactor::watch_with`).
    pub(crate) fn register_io(
        slf: &Bound<'_, Self>,
        fd: RawFd,
        read: bool,
        handle: Handle,
        reads_only: bool,
    ) -> PyResult<Py<Handle>> {
        let py = slf.py();
        let this = slf.get();
        this.check_closed()?;
        let handle = Py::new(py, handle.recurring())?;
        this.reactor
            .watch_with(fd, read, reads_only)
            .map_err(core_to_py)?;
        let stored = handle.clone_ref(py);
        let replaced = this
            .schedule
            .with(py, |s| s.io_handles(read).insert(fd, stored))?;
        if let Some(old) = replaced {
            Handle::cancel(old.bind(py))?;
        }
        Ok(handle)
    }

    /// A transport is about to close its socket (see `Reactor::forget`).
    pub(crate) fn forget_fd(&self, fd: RawFd) {
        self.reactor.forget(fd);
    }

    /// A native reader or writer saw its fd run dry (a short read, a
    /// would-block): the next readiness check can skip a system call.
    pub(crate) fn note_drained(&self, fd: RawFd, read: bool) {
        self.reactor.drained(fd, read);
    }

    pub(crate) fn shared_context(&self) -> &GilCell<SharedContext> {
        &self.shared_context
    }

    pub(crate) fn debug_enabled(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    pub(crate) fn note_timer_cancelled(&self, py: Python<'_>) -> PyResult<()> {
        self.schedule.with(py, |s| s.timers.note_cancelled())
    }

    /// Step 1: drop cancelled timers and work out until when step 2 may
    /// wait: `Busy` when callbacks are ready (or a timer is due already).
    fn park_deadline(&self, py: Python<'_>) -> PyResult<Wait> {
        let mut dropped = Vec::new();
        let stopping = self.stopping.load(Ordering::Relaxed);
        let wait = self.schedule.with(py, |s| {
            s.timers.drop_cancelled(&mut dropped);
            if !s.ready.is_empty() || stopping {
                Wait::Busy
            } else {
                match s.timers.next_deadline() {
                    None => Wait::Until(None),
                    Some(when) if when <= monotonic() => Wait::Busy,
                    Some(when) => Wait::Until(Some(when)),
                }
            }
        })?;
        for timer in &dropped {
            timer.handle.get().set_scheduled(false);
        }
        drop(dropped);
        Ok(wait)
    }

    /// Step 3: move due timers to the ready queue; returns how many handles
    /// step 4 runs (those ready now, not those scheduled while it runs).
    fn collect_due(&self, py: Python<'_>) -> PyResult<usize> {
        self.schedule.with(py, |s| {
            let Schedule { ready, timers, .. } = s;
            if timers.is_empty() {
                // No clock read: most iterations of a busy loop have no timers.
                return ready.len();
            }
            let end_time = monotonic() + CLOCK_RESOLUTION;
            while let Some(timer) = timers.pop_due(end_time) {
                // The next timer to pop is at the root now: start loading
                // its handle while this one is marked.
                if let Some(next) = timers.peek() {
                    Handle::prefetch(&next.handle);
                }
                timer.handle.get().set_scheduled(false);
                ready.push_back(timer.handle);
            }
            ready.len()
        })
    }

    /// Step 3, I/O part: queue the reader/writer of each ready fd, dropping
    /// the ones that were cancelled (as asyncio's `_process_events` does).
    fn dispatch_io(&self, py: Python<'_>, events: &[IoEvent]) -> PyResult<()> {
        let mut gone = Vec::new();
        self.schedule.with(py, |s| {
            let Schedule {
                ready,
                readers,
                writers,
                ..
            } = s;
            for event in events {
                for (read, is_ready) in [(true, event.readable), (false, event.writable)] {
                    let handles = if read { &mut *readers } else { &mut *writers };
                    let Some(handle) = handles.get(&event.fd).filter(|_| is_ready) else {
                        continue;
                    };
                    if handle.get().is_cancelled() {
                        gone.extend(handles.remove(&event.fd).map(|h| (event.fd, read, h)));
                    } else {
                        ready.push_back(handle.clone_ref(py));
                    }
                }
            }
        })?;
        for (fd, read, handle) in gone {
            self.reactor.unwatch(fd, read).map_err(core_to_py)?;
            drop(handle);
        }
        Ok(())
    }

    /// One iteration of the loop, cut where `Reactor::drive` waits: steps
    /// 3 and 4 for what the last wait brought (`woke`: why it ended, None
    /// when there was none), then step 1, whose answer is the next wait.
    /// The first step of a run only asks for a wait, with an I/O poll even
    /// if callbacks are ready, as every asyncio iteration polls.
    fn step(
        &self,
        slf: &Bound<'_, Self>,
        events: &mut Vec<IoEvent>,
        woke: Option<Park>,
        first: bool,
    ) -> Step {
        let py = slf.py();
        if !first {
            if let Err(err) = self.run_iteration(slf, events, woke) {
                return Step::Next(Next::Done(Err(err)));
            }
            if self.stopping.load(Ordering::Relaxed) {
                return Step::Next(Next::Done(Ok(())));
            }
        }
        self.may_sleep.store(true, Ordering::Release);
        Step::Next(match self.park_deadline(py) {
            Err(err) => Next::Done(Err(err)),
            Ok(Wait::Until(deadline)) => Next::Wait(deadline),
            Ok(Wait::Busy)
                if first
                    || self.reactor.watches_fds()
                    || self.polls_signals.load(Ordering::Relaxed) =>
            {
                // Callbacks are waiting, but watched fds are polled in every
                // iteration, as asyncio's selector does: a fd made ready
                // before an iteration starts has its callback run in it.
                Next::PollIo
            }
            Ok(Wait::Busy) => return Step::Again,
        })
    }

    /// Steps 3 and 4: queue the handles of the ready fds and due timers,
    /// then run the handles that were ready when this began.
    fn run_iteration(
        &self,
        slf: &Bound<'_, Self>,
        events: &mut Vec<IoEvent>,
        woke: Option<Park>,
    ) -> PyResult<()> {
        let py = slf.py();
        if woke.is_some() {
            // Runs Python-level signal handlers; the default SIGINT handler
            // raises KeyboardInterrupt out of run_forever, as in asyncio.
            py.check_signals()?;
        }
        self.may_sleep.store(false, Ordering::Release);
        if !events.is_empty() {
            let dispatched = self.dispatch_io(py, events);
            events.clear();
            dispatched?;
        }
        if woke.is_some() {
            // As asyncio's self-pipe reader: a callback among this
            // iteration's I/O callbacks, which queues the signals' handlers
            // for the next iteration.
            let signals = self.reactor.take_signals();
            if !signals.is_empty() {
                let arrived = slf.getattr(intern!(py, "_signals_arrived"))?;
                slf.call_method1(intern!(py, "call_soon"), (arrived, signals))?;
            }
        }
        let todo = self.collect_due(py)?;
        let debug = self.debug.load(Ordering::Relaxed);
        for _ in 0..todo {
            let Some(handle) = self.schedule.with(py, |s| {
                // A long batch (a burst of due timers, say) runs handles that
                // left the cache since they were made: ask for the next
                // one's context and the one after's object now.
                if let Some(next) = s.ready.get(1) {
                    next.get().prefetch_context();
                }
                if let Some(after) = s.ready.get(2) {
                    Handle::prefetch(after);
                }
                s.ready.pop_front()
            })?
            else {
                break;
            };
            let handle = handle.into_bound(py);
            let outcome = if handle.get().is_cancelled() {
                Ok(())
            } else if debug {
                Self::run_timed(slf, &handle)
            } else {
                Handle::run(&handle)
            };
            Handle::finish(&handle)?;
            outcome?;
        }
        Ok(())
    }

    /// Debug mode: runs `handle` as `_current_handle` (the default exception
    /// handler reports where it was created) and logs it when it took too long.
    fn run_timed(slf: &Bound<'_, Self>, handle: &Bound<'_, Handle>) -> PyResult<()> {
        let current = intern!(slf.py(), "_current_handle");
        slf.setattr(current, handle)?;
        let started = monotonic();
        let outcome = Handle::run(handle);
        let took = monotonic() - started;
        let logged = outcome.and_then(|()| {
            let slow: f64 = slf.getattr("slow_callback_duration")?.extract()?;
            if took >= slow {
                slf.call_method1("_log_slow_callback", (handle, took))?;
            }
            Ok(())
        });
        slf.setattr(current, slf.py().None())?;
        logged
    }
}

#[pymethods]
impl Loop {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn py_new(
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Self> {
        let reactor = Reactor::new().map_err(core_to_py)?;
        let waker = reactor.waker();
        Ok(Self {
            schedule: GilCell::new(Schedule::default()),
            reactor,
            waker,
            closed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            running: AtomicBool::new(false),
            debug: AtomicBool::new(false),
            may_sleep: AtomicBool::new(false),
            scratch: GilCell::new(RecvBuffer::default()),
            task_factory: GilCell::new(None),
            shared_context: GilCell::new(SharedContext::default()),
            thread_id: AtomicU64::new(0),
            polls_signals: AtomicBool::new(false),
        })
    }

    /// `loop.create_future`: a `pyloop.Future` on this loop.
    fn create_future<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, crate::future::Future>> {
        crate::future::_new_future(slf.clone().into_any())
    }

    /// `loop.create_task`: a `pyloop.Task` built natively, unless a task
    /// factory is set or keyword arguments for one are given (then the
    /// Python side's `_create_task_slow` decides, as asyncio's loop does).
    #[pyo3(signature = (coro, *, name = None, context = None, **kwargs))]
    fn create_task<'py>(
        slf: &Bound<'py, Self>,
        coro: Bound<'py, PyAny>,
        name: Option<Bound<'py, PyAny>>,
        context: Option<Bound<'py, PyAny>>,
        kwargs: Option<Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        this.check_closed()?;
        let has_factory = this.task_factory.with(py, |f| f.is_some())?;
        if has_factory || kwargs.as_ref().is_some_and(|k| !k.is_empty()) {
            let kwargs = kwargs.unwrap_or_else(|| PyDict::new(py));
            return slf.call_method1(
                intern!(py, "_create_task_slow"),
                (coro, name, context, kwargs),
            );
        }
        crate::task::_new_task(slf.clone().into_any(), coro, name, context).map(Bound::into_any)
    }

    fn set_task_factory(&self, py: Python<'_>, factory: Bound<'_, PyAny>) -> PyResult<()> {
        let factory = if factory.is_none() {
            None
        } else if factory.is_callable() {
            Some(factory.unbind())
        } else {
            return Err(PyTypeError::new_err(
                "task factory must be a callable or None",
            ));
        };
        let old = self
            .task_factory
            .with(py, |f| std::mem::replace(f, factory))?;
        drop(old);
        Ok(())
    }

    fn get_task_factory(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.task_factory
            .with(py, |f| f.as_ref().map(|f| f.clone_ref(py)))
    }

    /// The task factory is the one Python object the loop holds that can
    /// lead back to it (`functools.partial(factory, loop)`): the collector
    /// must see it.
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        if let Some(Some(factory)) = self.task_factory.peek() {
            visit.call(factory)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.task_factory.clear();
    }

    /// The loop's clock: `time.monotonic()`.
    fn time(&self) -> f64 {
        monotonic()
    }

    /// Runs iterations until `stop()`; the Python side wraps it with the
    /// per-run setup (running loop, async generator hooks, signal wake-up fd).
    fn _run(slf: &Bound<'_, Self>) -> PyResult<()> {
        let this = slf.get();
        this.check_closed()?;
        this.reactor.check_owner().map_err(core_to_py)?;
        if this.running.swap(true, Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err(
                "This event loop is already running",
            ));
        }
        let _guard = RunGuard(this);
        this.thread_id.store(current_thread_id(), Ordering::Relaxed);
        let mut events = Vec::new();
        let mut first = true;
        // The GIL is held through the run and let go of only while Tokio may
        // block (`GilGate`); iterations in between run on without letting go.
        let mut gil = GilGate::default();
        let ran = this.reactor.drive(&mut events, &mut gil, |events, woke| {
            let mut woke = woke;
            loop {
                match this.step(slf, events, woke.take(), std::mem::take(&mut first)) {
                    Step::Again => {}
                    Step::Next(next) => return next,
                }
            }
        });
        drop(gil);
        ran.map_err(core_to_py)?
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.waker.wake();
    }

    fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn get_debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    /// Any object, by its truth value, as asyncio takes it (`set_debug(0)`).
    fn set_debug(&self, enabled: &Bound<'_, PyAny>) -> PyResult<()> {
        self.debug.store(enabled.is_truthy()?, Ordering::Relaxed);
        Ok(())
    }

    /// `add_reader` (read=True) / `add_writer`: `fd` is already a checked int.
    /// Returns the handle, so a caller can tell later whether it was replaced.
    fn _add_io(
        slf: &Bound<'_, Self>,
        fd: RawFd,
        read: bool,
        callback: Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<Py<Handle>> {
        // register_io checks that the loop is open.
        let handle = Self::new_handle(slf, callback, args, None, false)?;
        Self::register_io(slf, fd, read, handle, false)
    }

    /// `sock_recv`'s native part: the bytes now, or a Future for them.
    fn _sock_recv<'py>(
        slf: &Bound<'py, Self>,
        fd: RawFd,
        nbytes: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.get().check_closed()?;
        sock_io::sock_recv(slf, fd, nbytes)
    }

    /// `sock_sendall`'s native part: None if all was sent now, else a Future.
    fn _sock_sendall<'py>(
        slf: &Bound<'py, Self>,
        fd: RawFd,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.get().check_closed()?;
        sock_io::sock_sendall(slf, fd, data)
    }

    /// Drops the registration of a native socket wait whose await ended
    /// early (cancelled); leaves any other callback on the fd alone.
    fn _sock_cancel(
        slf: &Bound<'_, Self>,
        fd: RawFd,
        read: bool,
        future: &Bound<'_, Future>,
    ) -> PyResult<bool> {
        if slf.get().is_closed() {
            return Ok(false);
        }
        Self::remove_sock_wait(slf, fd, read, future)
    }

    /// `remove_reader` / `remove_writer`: True if a callback was registered.
    pub(crate) fn _remove_io(slf: &Bound<'_, Self>, fd: RawFd, read: bool) -> PyResult<bool> {
        let py = slf.py();
        let this = slf.get();
        if this.is_closed() {
            return Ok(false);
        }
        let removed = this.schedule.with(py, |s| s.io_handles(read).remove(&fd))?;
        let Some(handle) = removed else {
            return Ok(false);
        };
        this.reactor.unwatch(fd, read).map_err(core_to_py)?;
        Handle::cancel(handle.bind(py))?;
        Ok(true)
    }

    /// Marks the loop closed and drops every queued handle, timer and fd
    /// registration (as asyncio's close closes its selector): transports
    /// left open then let go of the loop instead of living on in its maps.
    fn _close(&self, py: Python<'_>) -> PyResult<()> {
        self.closed.store(true, Ordering::Relaxed);
        let taken = self.schedule.with(py, |s| {
            (
                std::mem::take(&mut s.ready),
                s.timers.clear(),
                std::mem::take(&mut s.readers),
                std::mem::take(&mut s.writers),
            )
        })?;
        drop(self.shared_context.with(py, SharedContext::take)?);
        self.reactor.unwatch_all();
        drop(taken);
        Ok(())
    }

    /// The fd that `signal.set_wakeup_fd` should write to while this loop runs.
    fn _signal_fd(&self) -> i32 {
        self.reactor.signal_fd()
    }

    /// Whether busy iterations poll the wake-up socket for signal numbers
    /// (while the loop has `add_signal_handler` handlers).
    fn _poll_signals(&self, on: bool) {
        self.polls_signals.store(on, Ordering::Relaxed);
    }

    #[getter]
    fn _thread_id(&self) -> Option<u64> {
        match self.thread_id.load(Ordering::Relaxed) {
            0 => None,
            id => Some(id),
        }
    }

    /// How many timers sit in the heap, cancelled ones included (asyncio's
    /// `len(loop._scheduled)`); for tests and introspection.
    fn _timer_count(&self, py: Python<'_>) -> PyResult<usize> {
        self.schedule.with(py, |s| s.timers.len())
    }
}
