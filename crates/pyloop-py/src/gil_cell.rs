//! `GilCell`: mutable state that is only ever touched with the GIL held.
//!
//! The loop's queues and a handle's callback are read and written from Python
//! methods, so the GIL already serialises every access; a mutex would only add
//! cost to the hot path. The `borrowed` flag turns a re-entrant access (code
//! inside `with` that called back into Python) into a RuntimeError instead of
//! two live `&mut`. Rule for callers: never call Python, and never drop a
//! Python object, inside `with`; move values out and drop them afterwards.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

pub struct GilCell<T> {
    value: UnsafeCell<T>,
    borrowed: AtomicBool,
}

// SAFETY: `with` requires a `Python` token, so accesses from different threads
// are serialised by the GIL (the module declares it needs the GIL), and the
// `borrowed` flag rejects nested access on the same thread.
unsafe impl<T: Send> Sync for GilCell<T> {}

struct Release<'a>(&'a AtomicBool);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl<T> GilCell<T> {
    pub const fn new(value: T) -> Self {
        Self {
            value: UnsafeCell::new(value),
            borrowed: AtomicBool::new(false),
        }
    }

    /// Runs `f` with exclusive access. `f` must not call into Python.
    pub fn with<R>(&self, _py: Python<'_>, f: impl FnOnce(&mut T) -> R) -> PyResult<R> {
        // A load and a store, not a swap: the GIL already orders threads,
        // and a locked swap waits for the store buffer to drain, which cost
        // ~10 % of `call_soon_threadsafe` while new handles were missing
        // the cache (perf).
        if self.borrowed.load(Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err(
                "pyloop: loop state was re-entered while it was being changed",
            ));
        }
        self.borrowed.store(true, Ordering::Relaxed);
        let _release = Release(&self.borrowed);
        // SAFETY: the GIL is held and the flag proves no other borrow is live.
        Ok(f(unsafe { &mut *self.value.get() }))
    }

    /// Read access for `__traverse__`, which may not take a Python token:
    /// `None` while a `with` is in progress. Visiting nothing then only
    /// makes the collector keep more alive, never free too much.
    pub fn peek(&self) -> Option<&T> {
        if self.borrowed.load(Ordering::Relaxed) {
            return None;
        }
        // SAFETY: called with the GIL held (the collector holds it) and no
        // `with` is live, so nobody holds a `&mut` to the value.
        Some(unsafe { &*self.value.get() })
    }
}

/// Clears `flag` and says whether it was set, for flags only touched with
/// the GIL held: a load and a store instead of a locked swap (see `with`).
pub fn take_flag(flag: &AtomicBool) -> bool {
    let was = flag.load(Ordering::Relaxed);
    if was {
        flag.store(false, Ordering::Relaxed);
    }
    was
}

impl<T: Default> GilCell<T> {
    /// For `__clear__`: empties the cell; the old value is dropped after the
    /// borrow ends (dropping may run Python code). A cell that is being
    /// changed right now is left alone.
    pub fn clear(&self) {
        Python::attach(|py| {
            if let Ok(old) = self.with(py, std::mem::take) {
                drop(old);
            }
        });
    }
}

/// A value only touched with the GIL held, through calls that run no Python
/// code: cloning it out (increfs) and swapping it. No reference into the
/// slot outlives a call, so unlike `GilCell` no borrow flag is needed (and
/// none of its padding: a handle's callback and context live in these).
pub struct GilSlot<T>(UnsafeCell<T>);

// SAFETY: the GIL serialises every access (each method takes a token).
unsafe impl<T: Send> Sync for GilSlot<T> {}

/// A new reference to the same Python objects, made without running Python
/// code.
pub trait CloneRef {
    fn clone_ref(&self, py: Python<'_>) -> Self;
}

impl<T> CloneRef for Py<T> {
    fn clone_ref(&self, py: Python<'_>) -> Self {
        Py::clone_ref(self, py)
    }
}

impl<T: CloneRef> CloneRef for Option<T> {
    fn clone_ref(&self, py: Python<'_>) -> Self {
        self.as_ref().map(|value| value.clone_ref(py))
    }
}

impl<T: CloneRef> GilSlot<T> {
    pub const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    pub fn get(&self, py: Python<'_>) -> T {
        // SAFETY: the GIL is held and no `&mut` to the slot is live (only
        // `replace` makes one, and not across any call); cloning runs no
        // Python code.
        unsafe { (*self.0.get()).clone_ref(py) }
    }

    /// Puts `value` in; the old value is the caller's to drop.
    pub fn replace(&self, _py: Python<'_>, value: T) -> T {
        // SAFETY: the GIL is held and no other reference into the slot is
        // live; the swap runs no Python code.
        unsafe { std::mem::replace(&mut *self.0.get(), value) }
    }

    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T> GilSlot<Py<T>> {
    /// The object's address, for a prefetch or a GC flag; the slot is only
    /// replaced with the GIL held, as every caller holds it.
    pub fn as_ptr(&self) -> *mut pyo3::ffi::PyObject {
        // SAFETY: reading the pointer value only, with the GIL held.
        unsafe { (*self.0.get()).as_ptr() }
    }
}
