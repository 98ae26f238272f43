//! Calls through CPython's vectorcall protocol, for the paths that call
//! Python once per callback or per message.

use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// `callable(*args)`, `args` being borrowed references.
pub(crate) fn vectorcall<'py>(
    py: Python<'py>,
    callable: &Py<PyAny>,
    args: &[*mut ffi::PyObject],
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: `args` holds borrowed references that outlive the call; the
    // result is a new reference or NULL with an exception set.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyObject_Vectorcall(
                callable.as_ptr(),
                args.as_ptr(),
                args.len(),
                ptr::null_mut(),
            ),
        )
    }
}

/// `func(*args)` with the arguments read in place from the tuple.
/// `func.call1(args)` goes through `PyObject_Call`, which unpacks the tuple
/// again on every call (~30 more instructions per handle run).
pub(crate) fn call_with_tuple<'py>(
    func: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    let tuple = args.as_ptr().cast::<ffi::PyTupleObject>();
    // SAFETY: `args` is a live tuple, so its items are `len` borrowed
    // references starting at `ob_item`, alive while `args` is; the result
    // is a new reference or NULL with an exception set.
    unsafe {
        let items = ptr::addr_of!((*tuple).ob_item).cast::<*mut ffi::PyObject>();
        Bound::from_owned_ptr_or_err(
            func.py(),
            ffi::PyObject_Vectorcall(func.as_ptr(), items, args.len(), ptr::null_mut()),
        )
    }
}
