//! A `__dict__` slot for the native Future and Task.
//!
//! asyncio's C Future and Task have one (`tp_dictoffset`), so libraries put
//! their own attributes on them: mitmproxy stamps `task.created` on every
//! task it starts, and failed without it. PyO3 0.26's `#[pyclass(dict)]`
//! leaks a dict per instance on 3.11 and 3.12 (fixed in a later PyO3), so
//! the slot is ours: CPython's generic getattr and setattr reach it through
//! `tp_dictoffset` and create the dict on the first attribute set; the
//! owner releases it when dropped and shows it to the GC.
//!
//! Like the C types, no `__dict__` attribute is offered, only the slot.

use std::cell::UnsafeCell;

use pyo3::exceptions::PySystemError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::type_object::PyTypeInfo;
use pyo3::{PyTraverseError, PyVisit};

/// The slot: null until CPython stores a dict in it. `Option<Py<_>>` has
/// the layout of a nullable object pointer, which is what CPython writes.
pub(crate) struct InstanceDict(UnsafeCell<Option<Py<PyAny>>>);

// SAFETY: the slot is read and written only with the GIL held, by CPython's
// attribute code and by the methods below.
unsafe impl Send for InstanceDict {}
// SAFETY: as above.
unsafe impl Sync for InstanceDict {}

impl InstanceDict {
    pub(crate) const fn new() -> Self {
        Self(UnsafeCell::new(None))
    }

    /// For the owner's `__traverse__`.
    pub(crate) fn visit(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        // SAFETY: the GC calls traverse with the GIL held; nothing writes the
        // slot during the call.
        visit.call(unsafe { &*self.0.get() })
    }

    /// For the owner's `__clear__`: lets go of the dict (a cycle through it
    /// is broken here).
    pub(crate) fn clear(&self) {
        // SAFETY: GIL held (tp_clear); the dict is taken out before it is
        // dropped, so code run by its release sees an empty slot.
        let dict = unsafe { (*self.0.get()).take() };
        drop(dict);
    }

    fn address(&self) -> usize {
        self.0.get() as usize
    }
}

/// Points `T`'s `tp_dictoffset` at `slot`, a field of `instance`: the offset
/// is measured on a live object rather than derived from PyO3's layout.
pub(crate) fn install<T: PyTypeInfo>(instance: &Bound<'_, T>, slot: &InstanceDict) -> PyResult<()> {
    let offset = slot
        .address()
        .checked_sub(instance.as_ptr() as usize)
        .and_then(|offset| ffi::Py_ssize_t::try_from(offset).ok())
        .filter(|&offset| offset > 0)
        .ok_or_else(|| PySystemError::new_err("instance dict slot outside its object"))?;
    let py = instance.py();
    let ty = T::type_object_raw(py);
    // SAFETY: the type object is live (the module holds it) and no instance
    // has had an attribute looked up yet; PyType_Modified drops whatever
    // CPython cached about the type's layout.
    unsafe {
        (*ty).tp_dictoffset = offset;
        ffi::PyType_Modified(ty);
    }
    Ok(())
}
