//! The iterator `await future` drives, for `pyloop.Future` and `pyloop.Task`.
//!
//! It yields the future once while it is pending (the task then waits for
//! it) and returns its result once it is done. Besides `__next__`/`send`/
//! `throw`, the type has an `am_send` slot (installed in slots.rs), through
//! which a coroutine gets the result without a StopIteration object.

use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

use crate::future::{is_exception_class, is_exception_instance, Future};
use crate::gil_cell::GilCell;

/// The iterator `await future` drives: yields the future once while it is
/// pending, then returns its result (or raises its error).
#[pyclass(frozen, module = "pyloop._pyloop")]
pub struct FutureIter {
    future: GilCell<Option<Py<Future>>>,
}

/// What one resumption of `await future` gives.
enum Resumed<'py> {
    Yield(Bound<'py, PyAny>),
    Return(Bound<'py, PyAny>),
}

impl FutureIter {
    pub(crate) fn new(future: Py<Future>) -> Self {
        Self {
            future: GilCell::new(Some(future)),
        }
    }

    fn resume<'py>(&self, py: Python<'py>) -> PyResult<Resumed<'py>> {
        let Some(future) = self
            .future
            .with(py, |f| f.as_ref().map(|f| f.clone_ref(py)))?
        else {
            return Ok(Resumed::Return(py.None().into_bound(py)));
        };
        let future = future.into_bound(py);
        let fut = future.get();
        if !fut.is_done() {
            if !fut.is_blocking() {
                fut.set_blocking(true);
                return Ok(Resumed::Yield(future.into_any()));
            }
            return Err(PyRuntimeError::new_err("await wasn't used with future"));
        }
        let released = self.future.with(py, Option::take)?;
        drop(released);
        fut.result_of(py).map(Resumed::Return)
    }

    fn next<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.resume(py)? {
            Resumed::Yield(future) => Ok(Some(future)),
            Resumed::Return(value) => Err(PyStopIteration::new_err((value.unbind(),))),
        }
    }
}

/// The `am_send` slot: how a coroutine resumes `await future` without the
/// StopIteration object `__next__` would have to raise for the result.
///
/// SAFETY: CPython calls it with the GIL held, a live `FutureIter` and a
/// valid `result` pointer.
pub(crate) unsafe extern "C" fn future_iter_send(
    iter: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    // SAFETY: see above.
    let py = unsafe { Python::assume_attached() };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the slot is only installed on FutureIter.
        let iter =
            unsafe { Bound::from_borrowed_ptr(py, iter).downcast_into_unchecked::<FutureIter>() };
        iter.get().resume(py)
    }));
    let outcome = outcome.unwrap_or_else(|_| {
        Err(pyo3::panic::PanicException::new_err(
            "panic while resuming a future",
        ))
    });
    match outcome {
        Ok(Resumed::Yield(value)) => {
            // SAFETY: `result` is a valid out-pointer; we hand over a reference.
            unsafe { *result = value.into_ptr() };
            ffi::PySendResult::PYGEN_NEXT
        }
        Ok(Resumed::Return(value)) => {
            // SAFETY: as above.
            unsafe { *result = value.into_ptr() };
            ffi::PySendResult::PYGEN_RETURN
        }
        Err(err) => {
            err.restore(py);
            // SAFETY: as above; NULL with an error set.
            unsafe { *result = std::ptr::null_mut() };
            ffi::PySendResult::PYGEN_ERROR
        }
    }
}

#[pymethods]
impl FutureIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.next(py)
    }

    #[pyo3(signature = (_value = None))]
    fn send<'py>(
        &self,
        py: Python<'py>,
        _value: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.next(py)
    }

    /// Raises the given exception at the `await` (as C asyncio's iterator).
    #[pyo3(signature = (typ, val = None, tb = None))]
    fn throw(
        &self,
        py: Python<'_>,
        typ: Bound<'_, PyAny>,
        val: Option<Bound<'_, PyAny>>,
        tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let released = self.future.with(py, Option::take)?;
        drop(released);
        let exc = if is_exception_instance(&typ) {
            if val.as_ref().is_some_and(|v| !v.is_none()) {
                return Err(PyTypeError::new_err(
                    "instance exception may not have a separate value",
                ));
            }
            typ
        } else if is_exception_class(&typ) {
            match val {
                Some(v) if is_exception_instance(&v) => v,
                Some(v) if !v.is_none() => typ.call1((v,))?,
                _ => typ.call0()?,
            }
        } else {
            return Err(PyTypeError::new_err(
                "exceptions must be classes deriving BaseException",
            ));
        };
        if let Some(tb) = tb.filter(|t| !t.is_none()) {
            exc.setattr(intern!(py, "__traceback__"), tb)?;
        }
        Err(PyErr::from_value(exc))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let released = self.future.with(py, Option::take)?;
        drop(released);
        Ok(())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(Some(future)) = self.future.peek() {
            visit.call(future)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.future.clear();
    }
}
