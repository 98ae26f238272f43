//! One empty `contextvars.Context` shared by the handles made where no
//! context variable is set.
//!
//! asyncio gives every `call_soon`/`call_later`/`call_soon_threadsafe`
//! handle its own `copy_context()`. Most programs set no context variable,
//! so these copies are all empty, yet each is an 80-byte GC object that
//! lives as long as its handle: a first burst of 10k timers took 404 page
//! faults with them and 320 without, and each copy is a cache miss when its
//! handle runs.
//!
//! A handle made in an empty context instead refers to the loop's shared
//! empty context and is flagged as sharing it. Sharing is invisible, because
//! a handle gets a context of its own the moment one could tell the
//! difference:
//! - it runs in the shared context only while that is still empty and not
//!   entered; a callback that leaves a variable set keeps the context as its
//!   own (the loop starts a new shared one), and any other sharer then runs
//!   in a fresh empty context, which is what its copy would have been;
//! - `get_context()` hands out the shared context only to the handle running
//!   in it (which then keeps it); any other sharer gets a fresh empty
//!   context first, and keeps it.
//!
//! Only the public C API is used: emptiness is `len(context) == 0`.

use pyo3::ffi;
use pyo3::prelude::*;

/// The loop's side: the empty context handed out now, and the handle
/// running in it, if any (its address, 0 for none).
#[derive(Default)]
pub(crate) struct SharedContext {
    context: Option<Py<PyAny>>,
    runner: usize,
}

impl SharedContext {
    /// What a new handle runs in, given `copy`, the caller's context copied:
    /// the copy itself if it holds variables, else the shared context (the
    /// copy becomes it when there is none).
    pub(crate) fn capture<'py>(&mut self, copy: Bound<'py, PyAny>) -> PyResult<Capture<'py>> {
        if !is_empty(&copy)? {
            return Ok(Capture::Own(copy));
        }
        let py = copy.py();
        let shared = self.context.get_or_insert_with(|| copy.clone().unbind());
        Ok(Capture::Shared(shared.clone_ref(py), copy))
    }

    /// Before a sharing handle runs: true (and `me` becomes the runner) if
    /// it may run in `context`, the shared context, still empty and free.
    pub(crate) fn begin(&mut self, context: &Bound<'_, PyAny>, me: usize) -> PyResult<bool> {
        let current = self.context.as_ref().is_some_and(|c| c.is(context));
        if !current || self.runner != 0 || !is_empty(context)? {
            return Ok(false);
        }
        self.runner = me;
        Ok(true)
    }

    /// After the run `begin` allowed: true if the context is the runner's
    /// own from now on (a variable is left set in it, or `get_context`
    /// gave it away during the run). Returns the context to drop, if the
    /// loop lets go of it, so it is dropped outside the cell.
    pub(crate) fn end(
        &mut self,
        context: &Bound<'_, PyAny>,
    ) -> PyResult<(bool, Option<Py<PyAny>>)> {
        self.runner = 0;
        let current = self.context.as_ref().is_some_and(|c| c.is(context));
        if !current {
            return Ok((true, None));
        }
        if is_empty(context)? {
            return Ok((false, None));
        }
        Ok((true, self.context.take()))
    }

    /// `get_context()` of a sharing handle: true if `me` is running in the
    /// shared `context`, which is then its own (the loop starts another).
    pub(crate) fn give(
        &mut self,
        context: &Bound<'_, PyAny>,
        me: usize,
    ) -> (bool, Option<Py<PyAny>>) {
        if self.runner != me {
            return (false, None);
        }
        // Still the runner's even if the loop let go of it meanwhile (closed).
        let current = self.context.as_ref().is_some_and(|c| c.is(context));
        (true, if current { self.context.take() } else { None })
    }

    /// Loop close: let go of the shared context (handles keep it alive).
    pub(crate) fn take(&mut self) -> Option<Py<PyAny>> {
        self.context.take()
    }
}

/// `capture`'s answer. `Shared` also hands back the copy it did not keep,
/// to be dropped outside the loop's cell (dropping may run Python code).
pub(crate) enum Capture<'py> {
    Shared(Py<PyAny>, Bound<'py, PyAny>),
    Own(Bound<'py, PyAny>),
}

/// A new, empty context: what a sharing handle's own copy would hold.
pub(crate) fn empty_context(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: the GIL is held; a new reference or NULL with an error set.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_New()) }
}

fn is_empty(context: &Bound<'_, PyAny>) -> PyResult<bool> {
    // A Context is a mapping only: straight to its length, not through
    // `PyObject_Size`'s sequence check first.
    // SAFETY: the GIL is held and `context` is a live object.
    match unsafe { ffi::PyMapping_Size(context.as_ptr()) } {
        -1 => Err(PyErr::fetch(context.py())),
        len => Ok(len == 0),
    }
}
