//! Type slots PyO3 does not generate, installed on `Future` and `Task` when
//! the module loads:
//!
//! - `__init__` (the `tp_init` slot and an `__init__` method in the type's
//!   dict): asyncio builds futures and tasks in `__init__`, and Python
//!   subclasses call `super().__init__(...)` with their own arguments.
//! - `tp_finalize` plus a `tp_dealloc` that calls it: "exception was never
//!   retrieved" and "Task was destroyed but it is pending!" are reported
//!   from the finalizer, as asyncio's `__del__` reports them (PEP 442).

use std::ffi::CStr;
use std::os::raw::c_int;
use std::sync::OnceLock;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::impl_::trampoline::{cfunction_with_keywords, setattrofunc};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::future::Future;
use crate::future_iter::{future_iter_send, FutureIter};
use crate::native_types;
use crate::task::Task;

/// Positional and keyword arguments of an `__init__` call, by name.
struct InitArgs<'py> {
    values: Vec<Option<Bound<'py, PyAny>>>,
}

impl<'py> InitArgs<'py> {
    /// `positional` may be given by position or keyword, `keyword_only`
    /// only by keyword; every one is optional except the first
    /// `required` positional ones.
    fn parse(
        class: &str,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
        positional: &[&str],
        required: usize,
        keyword_only: &[&str],
    ) -> PyResult<Self> {
        if args.len() > positional.len() {
            return Err(PyTypeError::new_err(format!(
                "{class}() takes at most {} positional argument{} ({} given)",
                positional.len(),
                if positional.len() == 1 { "" } else { "s" },
                args.len()
            )));
        }
        let names: Vec<&str> = positional.iter().chain(keyword_only).copied().collect();
        let mut values: Vec<Option<Bound<'py, PyAny>>> = vec![None; names.len()];
        for (slot, arg) in values.iter_mut().zip(args.iter()) {
            *slot = Some(arg);
        }
        if let Some(kwargs) = kwargs {
            for (key, value) in kwargs.iter() {
                let key: String = key.extract()?;
                let Some(index) = names.iter().position(|n| *n == key) else {
                    return Err(PyTypeError::new_err(format!(
                        "{class}() got an unexpected keyword argument '{key}'"
                    )));
                };
                if values[index].is_some() {
                    return Err(PyTypeError::new_err(format!(
                        "{class}() got multiple values for argument '{key}'"
                    )));
                }
                values[index] = Some(value);
            }
        }
        if let Some(missing) = values[..required].iter().position(Option::is_none) {
            return Err(PyTypeError::new_err(format!(
                "{class}() missing required argument '{}'",
                names[missing]
            )));
        }
        Ok(Self { values })
    }

    fn take(&mut self, index: usize) -> Option<Bound<'py, PyAny>> {
        self.values.get_mut(index).and_then(Option::take)
    }
}

/// Borrows the raw `__init__` arguments.
///
/// SAFETY: `args` is a tuple and `kwargs` a dict or NULL (the tp_init and
/// METH_VARARGS|METH_KEYWORDS protocols); the GIL is held.
unsafe fn init_arguments<'py>(
    py: Python<'py>,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> PyResult<(Bound<'py, PyTuple>, Option<Bound<'py, PyDict>>)> {
    // SAFETY: see above.
    let args = unsafe { Bound::from_borrowed_ptr(py, args) }.downcast_into::<PyTuple>()?;
    let kwargs = if kwargs.is_null() {
        None
    } else {
        // SAFETY: see above.
        Some(unsafe { Bound::from_borrowed_ptr(py, kwargs) }.downcast_into::<PyDict>()?)
    };
    Ok((args, kwargs))
}

fn future_init(
    slf: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let future = slf.downcast::<Future>()?;
    let mut parsed = InitArgs::parse("Future", args, kwargs, &[], 0, &["loop"])?;
    future.get().init(slf.py(), parsed.take(0))
}

fn task_init(
    slf: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let task = slf.downcast::<Task>()?;
    let mut parsed = InitArgs::parse(
        "Task",
        args,
        kwargs,
        &["coro"],
        1,
        &["loop", "name", "context"],
    )?;
    let coro = parsed
        .take(0)
        .ok_or_else(|| PyTypeError::new_err("Task() missing required argument 'coro'"))?;
    Task::init(task, coro, parsed.take(1), parsed.take(2), parsed.take(3))
}

type InitFn = for<'py> fn(
    &Bound<'py, PyAny>,
    &Bound<'py, PyTuple>,
    Option<&Bound<'py, PyDict>>,
) -> PyResult<()>;

macro_rules! init_slots {
    ($tp_init:ident, $method:ident, $body:path) => {
        /// The `tp_init` slot. (PyO3's `setattrofunc` trampoline has the
        /// same shape, `(self, obj, obj) -> int`, and turns errors and
        /// panics into a Python exception and -1.)
        unsafe extern "C" fn $tp_init(
            slf: *mut ffi::PyObject,
            args: *mut ffi::PyObject,
            kwargs: *mut ffi::PyObject,
        ) -> c_int {
            // SAFETY: CPython calls tp_init with the GIL held.
            unsafe {
                setattrofunc(slf, args, kwargs, |py, slf, args, kwargs| {
                    // SAFETY: forwarded from the tp_init protocol.
                    let (args, kwargs) = init_arguments(py, args, kwargs)?;
                    // SAFETY: `slf` is the object being initialised.
                    let slf = Bound::from_borrowed_ptr(py, slf);
                    let body: InitFn = $body;
                    body(&slf, &args, kwargs.as_ref()).map(|()| 0)
                })
            }
        }

        /// `__init__` as a method, for `super().__init__(...)`.
        unsafe extern "C" fn $method(
            slf: *mut ffi::PyObject,
            args: *mut ffi::PyObject,
            kwargs: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            // SAFETY: called by CPython with the GIL held.
            unsafe {
                cfunction_with_keywords(slf, args, kwargs, |py, slf, args, kwargs| {
                    // SAFETY: forwarded from the METH_VARARGS protocol.
                    let (args, kwargs) = init_arguments(py, args, kwargs)?;
                    // SAFETY: the method descriptor checked `slf`'s type.
                    let slf = Bound::from_borrowed_ptr(py, slf);
                    let body: InitFn = $body;
                    body(&slf, &args, kwargs.as_ref())?;
                    Ok(py.None().into_ptr())
                })
            }
        }
    };
}

init_slots!(future_tp_init, future_init_method, future_init);
init_slots!(task_tp_init, task_init_method, task_init);

/// The finalizer: runs the `__del__` checks, keeping any pending error.
unsafe extern "C" fn finalize(obj: *mut ffi::PyObject) {
    // SAFETY: CPython calls tp_finalize with the GIL held.
    let py = unsafe { Python::assume_attached() };
    let pending = PyErr::take(py);
    // SAFETY: `obj` is alive for the duration of the finalizer.
    let any = unsafe { Bound::from_borrowed_ptr(py, obj) };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if let Some(task) = native_types::as_task(&any) {
            Task::finalize(task)
        } else if let Some(future) = native_types::as_future(&any) {
            Future::finalize(future)
        } else {
            Ok(())
        }
    }));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(err)) => err.write_unraisable(py, Some(&any)),
        Err(_) => pyo3::panic::PanicException::new_err("panic in a future's finalizer")
            .write_unraisable(py, Some(&any)),
    }
    if let Some(pending) = pending {
        pending.restore(py);
    }
}

static FUTURE_DEALLOC: OnceLock<ffi::destructor> = OnceLock::new();
static TASK_DEALLOC: OnceLock<ffi::destructor> = OnceLock::new();

/// Runs the finalizer (once per object, as CPython tracks), then PyO3's
/// own deallocation, unless the finalizer resurrected the object.
///
/// SAFETY: called as tp_dealloc with the GIL held and a zero refcount.
unsafe fn dealloc_with(obj: *mut ffi::PyObject, base: &OnceLock<ffi::destructor>) {
    // SAFETY: see above; the object is still fully alive.
    if unsafe { ffi::PyObject_CallFinalizerFromDealloc(obj) } < 0 {
        return;
    }
    if let Some(dealloc) = base.get() {
        // SAFETY: PyO3's deallocator for this exact type.
        unsafe { dealloc(obj) };
    }
}

unsafe extern "C" fn future_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: forwarded from tp_dealloc.
    unsafe { dealloc_with(obj, &FUTURE_DEALLOC) }
}

unsafe extern "C" fn task_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: forwarded from tp_dealloc.
    unsafe { dealloc_with(obj, &TASK_DEALLOC) }
}

/// Method definitions live as long as the module; CPython keeps pointers.
struct MethodDef(ffi::PyMethodDef);

// SAFETY: immutable after construction.
unsafe impl Sync for MethodDef {}

const fn init_method(meth: ffi::PyCFunctionWithKeywords, doc: &'static CStr) -> MethodDef {
    MethodDef(ffi::PyMethodDef {
        ml_name: c"__init__".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionWithKeywords: meth,
        },
        ml_flags: ffi::METH_VARARGS | ffi::METH_KEYWORDS,
        ml_doc: doc.as_ptr(),
    })
}

static FUTURE_INIT: MethodDef = init_method(
    future_init_method,
    c"Future(*, loop=None)\n--\n\nInitialise the future.",
);
static TASK_INIT: MethodDef = init_method(
    task_init_method,
    c"Task(coro, *, loop=None, name=None, context=None)\n--\n\nInitialise the task.",
);

struct TypeSlots {
    tp_init: ffi::initproc,
    init: &'static MethodDef,
    dealloc: ffi::destructor,
    base_dealloc: &'static OnceLock<ffi::destructor>,
}

fn install_on(ty: &Bound<'_, PyType>, slots: &TypeSlots) -> PyResult<()> {
    let raw = ty.as_type_ptr();
    let def = (&raw const slots.init.0).cast_mut();
    // SAFETY: a valid type object and a 'static method definition.
    let descr = unsafe { Bound::from_owned_ptr_or_err(ty.py(), ffi::PyDescr_NewMethod(raw, def))? };
    // First: setting `__init__` on a type points tp_init at the generic
    // slot wrapper, which the direct slot below then replaces.
    ty.setattr("__init__", descr)?;
    // SAFETY: a heap type PyO3 just created; nothing has subclassed it and
    // no instance exists yet.
    unsafe {
        if let Some(base) = (*raw).tp_dealloc {
            // Set once per process; a second module load keeps the first
            // (identical) deallocator.
            let _ = slots.base_dealloc.set(base);
        }
        (*raw).tp_dealloc = Some(slots.dealloc);
        (*raw).tp_finalize = Some(finalize);
        // Python subclasses inherit tp_finalize only from a base that has
        // this flag.
        (*raw).tp_flags |= ffi::Py_TPFLAGS_HAVE_FINALIZE;
        (*raw).tp_init = Some(slots.tp_init);
        ffi::PyType_Modified(raw);
    }
    Ok(())
}

/// Installs the slots on `Future` and `Task`, and `am_send` on the
/// iterator `await future` drives.
pub fn install(py: Python<'_>) -> PyResult<()> {
    let iter_type = py.get_type::<FutureIter>().as_type_ptr();
    // SAFETY: PyO3 builds heap types, whose tp_as_async points into the
    // type object itself; set before any instance exists.
    unsafe {
        let async_slots = (*iter_type).tp_as_async;
        if !async_slots.is_null() {
            (*async_slots).am_send = Some(future_iter_send);
            ffi::PyType_Modified(iter_type);
        }
    }
    install_on(
        &py.get_type::<Future>(),
        &TypeSlots {
            tp_init: future_tp_init,
            init: &FUTURE_INIT,
            dealloc: future_dealloc,
            base_dealloc: &FUTURE_DEALLOC,
        },
    )?;
    install_on(
        &py.get_type::<Task>(),
        &TypeSlots {
            tp_init: task_tp_init,
            init: &TASK_INIT,
            dealloc: task_dealloc,
            base_dealloc: &TASK_DEALLOC,
        },
    )
}
