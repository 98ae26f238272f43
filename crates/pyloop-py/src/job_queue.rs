//! `JobQueue`: the hand-off between the task runner's submitters and workers
//! (`pyloop.tasks`), a bounded priority queue.
//!
//! Native because it runs twice per job (a put, a pop) and the Python version
//! was a visible share of a trivial job's cost (PYLOOP_NOTES.md, task runner
//! section). It knows nothing of jobs: entries are opaque objects, ordered by
//! priority (higher first), FIFO within one priority.
//!
//! A cancelled queued entry is discarded lazily: it stops counting at once but
//! stays in its level until a pop reaches it. Which entries still count is a set
//! of their addresses, which is sound because the queue holds a reference to
//! each entry for as long as its address is in the set.
//!
//! Waiting is on futures made by the caller's loop (`loop.create_future()`),
//! woken with `set_result(None)` one at a time, as asyncio.Queue does; nothing
//! here assumes pyloop's own futures, so the runner works on any loop.

use std::collections::{BTreeMap, HashSet, VecDeque};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

use crate::gil_cell::GilCell;

#[derive(Default)]
struct QueueState {
    /// Priority -> its entries in submission order; a level is removed once empty.
    levels: BTreeMap<i64, VecDeque<Py<PyAny>>>,
    /// Addresses of the entries that still count (queued, not discarded).
    live: HashSet<usize>,
    getters: VecDeque<Py<PyAny>>,
    putters: VecDeque<Py<PyAny>>,
    closed: bool,
}

impl QueueState {
    fn waiters(&mut self, room: bool) -> &mut VecDeque<Py<PyAny>> {
        if room {
            &mut self.putters
        } else {
            &mut self.getters
        }
    }

    /// The next live entry, plus the discarded ones passed on the way (dropped
    /// by the caller once the borrow is over: dropping may run Python code).
    fn pop(&mut self) -> (Option<Py<PyAny>>, Vec<Py<PyAny>>) {
        let mut skipped = Vec::new();
        while let Some(mut level) = self.levels.last_entry() {
            while let Some(entry) = level.get_mut().pop_front() {
                if self.live.remove(&(entry.as_ptr() as usize)) {
                    if level.get().is_empty() {
                        level.remove();
                    }
                    return (Some(entry), skipped);
                }
                skipped.push(entry);
            }
            level.remove();
        }
        (None, skipped)
    }
}

#[pyclass(frozen, module = "pyloop._pyloop")]
pub struct JobQueue {
    state: GilCell<QueueState>,
    /// None: unbounded.
    maxsize: Option<usize>,
}

impl JobQueue {
    /// Wakes the first waiter (of putters if `room`, else of getters) that is
    /// not done yet; waiters cancelled meanwhile are dropped on the way.
    fn wake_one(&self, py: Python<'_>, room: bool) -> PyResult<()> {
        while let Some(waiter) = self.state.with(py, |s| s.waiters(room).pop_front())? {
            let waiter = waiter.into_bound(py);
            if !waiter.call_method0(intern!(py, "done"))?.is_truthy()? {
                waiter.call_method1(intern!(py, "set_result"), (py.None(),))?;
                return Ok(());
            }
        }
        Ok(())
    }

    fn waiter<'py>(&self, loop_: &Bound<'py, PyAny>, room: bool) -> PyResult<Bound<'py, PyAny>> {
        let py = loop_.py();
        let waiter = loop_.call_method0(intern!(py, "create_future"))?;
        let kept = waiter.clone().unbind();
        self.state.with(py, |s| s.waiters(room).push_back(kept))?;
        Ok(waiter)
    }
}

#[pymethods]
impl JobQueue {
    #[new]
    #[pyo3(signature = (maxsize))]
    fn new(maxsize: Option<usize>) -> Self {
        Self {
            state: GilCell::new(QueueState::default()),
            maxsize,
        }
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.state.with(py, |s| s.live.len())
    }

    fn full(&self, py: Python<'_>) -> PyResult<bool> {
        let Some(maxsize) = self.maxsize else {
            return Ok(false);
        };
        self.state.with(py, |s| s.live.len() >= maxsize)
    }

    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        self.state.with(py, |s| s.closed)
    }

    /// Queues `entry` behind the others of its priority and wakes one getter.
    /// Putting an entry that is already queued changes nothing.
    fn put(&self, entry: &Bound<'_, PyAny>, priority: i64) -> PyResult<()> {
        let py = entry.py();
        let key = entry.as_ptr() as usize;
        let kept = entry.clone().unbind();
        let wake = self.state.with(py, |s| {
            if !s.live.insert(key) {
                return Err(kept);
            }
            s.levels.entry(priority).or_default().push_back(kept);
            Ok(!s.getters.is_empty())
        })?;
        match wake {
            Ok(true) => self.wake_one(py, false),
            Ok(false) => Ok(()),
            Err(unused) => {
                drop(unused);
                Ok(())
            }
        }
    }

    /// The next live entry (highest priority, oldest first), or None.
    fn pop(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let (entry, skipped, wake) = self.state.with(py, |s| {
            let (entry, skipped) = s.pop();
            let wake = entry.is_some() && !s.putters.is_empty();
            (entry, skipped, wake)
        })?;
        drop(skipped);
        if wake {
            self.wake_one(py, true)?;
        }
        Ok(entry)
    }

    /// A queued entry leaves the queue where it stands (it was cancelled): it
    /// stops counting now and a pop skips it. False if it was not queued.
    fn discard(&self, entry: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = entry.py();
        let key = entry.as_ptr() as usize;
        let (removed, leftovers) = self.state.with(py, |s| {
            let removed = s.live.remove(&key);
            // Only discarded entries left: drop them now rather than at the next pop.
            let leftovers = if s.live.is_empty() {
                std::mem::take(&mut s.levels)
            } else {
                BTreeMap::new()
            };
            (removed, leftovers)
        })?;
        drop(leftovers);
        if removed {
            self.wake_one(py, true)?;
        }
        Ok(removed)
    }

    /// Removes and returns every live entry, in queue order.
    fn drain(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        while let Some(entry) = self.pop(py)? {
            out.push(entry);
        }
        Ok(out)
    }

    /// No more puts; wakes every waiter so each sees it.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let (getters, putters) = self.state.with(py, |s| {
            s.closed = true;
            (
                std::mem::take(&mut s.getters),
                std::mem::take(&mut s.putters),
            )
        })?;
        for waiter in getters.into_iter().chain(putters) {
            let waiter = waiter.into_bound(py);
            if !waiter.call_method0(intern!(py, "done"))?.is_truthy()? {
                waiter.call_method1(intern!(py, "set_result"), (py.None(),))?;
            }
        }
        Ok(())
    }

    /// A future of `loop` that is set once an entry may be there or the queue
    /// closed (the caller checks again).
    fn item_waiter<'py>(&self, loop_: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.waiter(loop_, false)
    }

    /// A future of `loop` that is set once room may be there or the queue
    /// closed (the caller checks again).
    fn room_waiter<'py>(&self, loop_: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.waiter(loop_, true)
    }

    /// The awaiter of `waiter` was cancelled: a wake-up it got and cannot use
    /// now goes to the next waiter of its kind; otherwise it stops waiting.
    fn waiter_cancelled(&self, waiter: &Bound<'_, PyAny>, room: bool) -> PyResult<()> {
        let py = waiter.py();
        let woken = waiter.call_method0(intern!(py, "done"))?.is_truthy()?
            && !waiter.call_method0(intern!(py, "cancelled"))?.is_truthy()?;
        if woken {
            return self.wake_one(py, room);
        }
        let removed = self.state.with(py, |s| {
            let waiters = s.waiters(room);
            let at = waiters.iter().position(|w| w.as_ptr() == waiter.as_ptr())?;
            waiters.remove(at)
        })?;
        drop(removed);
        Ok(())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(s) = self.state.peek() {
            for entry in s.levels.values().flatten() {
                visit.call(entry)?;
            }
            for waiter in s.getters.iter().chain(&s.putters) {
                visit.call(waiter)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.state.clear();
    }
}
