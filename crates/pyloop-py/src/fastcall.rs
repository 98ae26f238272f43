//! `call_soon` and `call_soon_threadsafe` as raw vectorcall methods.
//!
//! asyncio's C Task and Future call `loop.call_soon(cb, arg, context=ctx)` on
//! every step and every done-callback. PyO3's generic argument parser spent
//! ~6 % of such a call matching the `context` keyword by name (perf,
//! PYLOOP_NOTES.md); this parser knows the one keyword there is and compares
//! the interned name by pointer first. The methods are installed on the
//! native `Loop` type when the module loads.

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::impl_::trampoline::fastcall_with_keywords;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::handle::Handle;
use crate::loop_::Loop;

type Scheduler = for<'py> fn(
    &Bound<'py, Loop>,
    Bound<'py, PyAny>,
    &Bound<'py, PyTuple>,
    Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, Handle>>;

/// `(callback, args, context)` as the Python signature names them.
type CallArgs<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyTuple>,
    Option<Bound<'py, PyAny>>,
);

/// Splits vectorcall arguments into `(callback, args, context)`.
///
/// SAFETY: `args` holds `nargs` positional arguments followed by one value
/// per name in `kwnames` (the vectorcall protocol); the GIL is held.
unsafe fn parse<'py>(
    py: Python<'py>,
    method: &str,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<CallArgs<'py>> {
    let nargs = usize::try_from(nargs).unwrap_or(0);
    let kwnames = if kwnames.is_null() {
        None
    } else {
        // SAFETY: vectorcall passes a tuple of str (or NULL).
        Some(unsafe { Bound::from_borrowed_ptr(py, kwnames) }.downcast_into::<PyTuple>()?)
    };
    let nkw = kwnames.as_ref().map_or(0, |k| k.len());
    // SAFETY: the protocol guarantees nargs + nkw readable, live pointers.
    let values = unsafe { std::slice::from_raw_parts(args, nargs + nkw) };
    let borrowed = |ptr: *mut ffi::PyObject| unsafe { Bound::from_borrowed_ptr(py, ptr) };
    let Some((&first, rest)) = values[..nargs].split_first() else {
        return Err(PyTypeError::new_err(format!(
            "{method}() missing 1 required positional argument: 'callback'"
        )));
    };
    let positional = PyTuple::new(py, rest.iter().map(|&ptr| borrowed(ptr)))?;
    let mut context = None;
    if let Some(names) = kwnames {
        let wanted = intern!(py, "context");
        for (name, &value) in names.iter().zip(&values[nargs..]) {
            let is_context = name.is(wanted) || name.downcast::<PyString>()?.to_str()? == "context";
            if !is_context {
                return Err(PyTypeError::new_err(format!(
                    "{method}() got an unexpected keyword argument '{name}'"
                )));
            }
            context = Some(borrowed(value));
        }
    }
    Ok((borrowed(first), positional, context))
}

/// SAFETY: called by CPython's vectorcall with the GIL held.
unsafe fn dispatch(
    py: Python<'_>,
    method: &str,
    schedule: Scheduler,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: `slf` is the instance the descriptor was bound to.
    let slf = unsafe { Bound::from_borrowed_ptr(py, slf) }.downcast_into::<Loop>()?;
    // SAFETY: forwarded from the vectorcall protocol.
    let (callback, positional, context) = unsafe { parse(py, method, args, nargs, kwnames) }?;
    Ok(schedule(&slf, callback, &positional, context)?.into_ptr())
}

unsafe extern "C" fn call_soon(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the trampoline holds the GIL token and turns panics into errors.
    unsafe {
        fastcall_with_keywords(
            slf,
            args,
            nargs,
            kwnames,
            |py, slf, args, nargs, kwnames| {
                dispatch(py, "call_soon", Loop::call_soon, slf, args, nargs, kwnames)
            },
        )
    }
}

unsafe extern "C" fn call_soon_threadsafe(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as for `call_soon`.
    unsafe {
        fastcall_with_keywords(
            slf,
            args,
            nargs,
            kwnames,
            |py, slf, args, nargs, kwnames| {
                dispatch(
                    py,
                    "call_soon_threadsafe",
                    Loop::call_soon_threadsafe,
                    slf,
                    args,
                    nargs,
                    kwnames,
                )
            },
        )
    }
}

/// A method table entry that lives as long as the module (CPython keeps a
/// pointer to it inside the descriptor and never writes through it).
struct MethodDef(ffi::PyMethodDef);

// SAFETY: the definition is immutable after construction.
unsafe impl Sync for MethodDef {}

const fn method(
    name: &'static std::ffi::CStr,
    doc: &'static std::ffi::CStr,
    meth: ffi::PyCFunctionFastWithKeywords,
) -> MethodDef {
    MethodDef(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: meth,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: doc.as_ptr(),
    })
}

static CALL_SOON: MethodDef = method(
    c"call_soon",
    c"call_soon($self, callback, /, *args, context=None)\n--\n\nRun callback(*args) on the next iteration.",
    call_soon,
);
static CALL_SOON_THREADSAFE: MethodDef = method(
    c"call_soon_threadsafe",
    c"call_soon_threadsafe($self, callback, /, *args, context=None)\n--\n\nLike call_soon, from any thread.",
    call_soon_threadsafe,
);

/// Installs the raw methods on the native `Loop` type.
pub fn install(py: Python<'_>, loop_type: &Bound<'_, pyo3::types::PyType>) -> PyResult<()> {
    for def in [&CALL_SOON, &CALL_SOON_THREADSAFE] {
        let def_ptr = (&raw const def.0).cast_mut();
        // SAFETY: a valid type object and a 'static method definition.
        let descr = unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyDescr_NewMethod(loop_type.as_ptr().cast(), def_ptr),
            )?
        };
        // SAFETY: both pointers are valid; ml_name is a NUL-terminated literal.
        let name = unsafe { std::ffi::CStr::from_ptr(def.0.ml_name) }.to_str()?;
        loop_type.setattr(name, descr)?;
    }
    Ok(())
}
