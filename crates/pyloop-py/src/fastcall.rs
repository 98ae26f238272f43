//! The scheduling methods of `Loop` as raw vectorcall methods: `call_soon`,
//! `call_soon_threadsafe`, `call_later`, `call_at`.
//!
//! asyncio's C Task and Future call `loop.call_soon(cb, arg, context=ctx)` on
//! every step and every done-callback. PyO3's generic argument parser spent
//! ~6 % of such a call matching the `context` keyword by name (perf,
//! PYLOOP_NOTES.md); this parser knows the one keyword there is and compares
//! the interned name by pointer first. The methods are installed on the
//! native `Loop` type when the module loads.
//!
//! `DatagramTransport.sendto(data, addr=None)` and `SocketTransport.write(data)`
//! are too (`install_datagram`, `install_socket`): an echo calls them once per
//! message, and PyO3's parser plus its lazy type-object check of `self` were
//! ~110 instructions of each call.

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::impl_::trampoline::fastcall_with_keywords;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple, PyType};

use crate::datagram::DatagramTransport;
use crate::loop_::Loop;
use crate::transport::SocketTransport;

/// The arguments of every scheduling method: the leading required ones
/// (`delay` or `when`, if any), the callback, its arguments, `context=`.
struct CallArgs<'py> {
    leading: Option<Bound<'py, PyAny>>,
    callback: Bound<'py, PyAny>,
    args: Bound<'py, PyTuple>,
    context: Option<Bound<'py, PyAny>>,
}

/// The Python name of each required positional parameter, in order.
struct Spec {
    method: &'static str,
    required: &'static [&'static str],
}

fn missing_arguments(spec: &Spec, given: usize) -> PyErr {
    let missing: Vec<String> = spec.required[given..]
        .iter()
        .map(|name| format!("'{name}'"))
        .collect();
    let (count, list) = match missing.as_slice() {
        [one] => ("1 required positional argument".to_owned(), one.clone()),
        [first, second] => (
            "2 required positional arguments".to_owned(),
            format!("{first} and {second}"),
        ),
        _ => (
            format!("{} required positional arguments", missing.len()),
            missing.join(", "),
        ),
    };
    PyTypeError::new_err(format!("{}() missing {count}: {list}", spec.method))
}

/// The positional arguments of a vectorcall, and its keyword names with
/// their values.
type SplitArgs<'a, 'py> = (
    &'a [*mut ffi::PyObject],
    Option<(Bound<'py, PyTuple>, &'a [*mut ffi::PyObject])>,
);

/// SAFETY: `args` holds `nargs` positional arguments followed by one value
/// per name in `kwnames` (the vectorcall protocol); the GIL is held.
unsafe fn split_args<'a, 'py>(
    py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<SplitArgs<'a, 'py>> {
    let nargs = usize::try_from(nargs).unwrap_or(0);
    let names = if kwnames.is_null() {
        None
    } else {
        // SAFETY: vectorcall passes a tuple of str (or NULL).
        Some(unsafe { Bound::from_borrowed_ptr(py, kwnames) }.downcast_into::<PyTuple>()?)
    };
    let total = nargs + names.as_ref().map_or(0, |k| k.len());
    let values: &[*mut ffi::PyObject] = if total == 0 || args.is_null() {
        &[]
    } else {
        // SAFETY: the protocol guarantees `total` readable, live pointers.
        unsafe { std::slice::from_raw_parts(args, total) }
    };
    let (positional, keyword_values) = values.split_at(nargs.min(values.len()));
    Ok((positional, names.map(|names| (names, keyword_values))))
}

/// Splits vectorcall arguments according to `spec`.
///
/// SAFETY: `args` holds `nargs` positional arguments followed by one value
/// per name in `kwnames` (the vectorcall protocol); the GIL is held.
unsafe fn parse<'py>(
    py: Python<'py>,
    spec: &Spec,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<CallArgs<'py>> {
    // SAFETY: forwarded from the vectorcall protocol.
    let (positional, keywords) = unsafe { split_args(py, args, nargs, kwnames) }?;
    // SAFETY: every pointer the call passed is a live object borrowed for it.
    let borrowed = |ptr: *mut ffi::PyObject| unsafe { Bound::from_borrowed_ptr(py, ptr) };
    let nargs = positional.len();
    let required = spec.required.len();
    if nargs < required {
        return Err(missing_arguments(spec, nargs));
    }
    let leading = (required == 2).then(|| borrowed(positional[0]));
    let callback = borrowed(positional[required - 1]);
    let args = PyTuple::new(py, positional[required..].iter().map(|&ptr| borrowed(ptr)))?;
    let mut context = None;
    if let Some((names, values)) = keywords {
        let wanted = intern!(py, "context");
        for (name, &value) in names.iter().zip(values) {
            let is_context = name.is(wanted) || name.downcast::<PyString>()?.to_str()? == "context";
            if !is_context {
                return Err(PyTypeError::new_err(format!(
                    "{}() got an unexpected keyword argument '{name}'",
                    spec.method
                )));
            }
            context = Some(borrowed(value));
        }
    }
    Ok(CallArgs {
        leading,
        callback,
        args,
        context,
    })
}

/// Parses the call for `spec` and hands it to `body` with the loop.
///
/// SAFETY: called by CPython's vectorcall with the GIL held.
unsafe fn dispatch(
    py: Python<'_>,
    spec: &Spec,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    body: for<'py> fn(&Bound<'py, Loop>, CallArgs<'py>) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: `slf` is the instance the descriptor was bound to, and a
    // method descriptor checks that its `self` is an instance of its type.
    let slf = unsafe { Bound::from_borrowed_ptr(py, slf).downcast_into_unchecked::<Loop>() };
    // SAFETY: forwarded from the vectorcall protocol.
    let call = unsafe { parse(py, spec, args, nargs, kwnames) }?;
    Ok(body(&slf, call)?.into_ptr())
}

/// The leading argument of `call_later`/`call_at`; `parse` guarantees it.
fn leading<'py>(call: &CallArgs<'py>) -> PyResult<Bound<'py, PyAny>> {
    call.leading
        .clone()
        .ok_or_else(|| PyTypeError::new_err("missing the delay or deadline"))
}

macro_rules! raw_method {
    ($fn_name:ident, $method:literal, [$($required:literal),+], |$slf:ident, $call:ident| $body:expr) => {
        unsafe extern "C" fn $fn_name(
            slf: *mut ffi::PyObject,
            args: *const *mut ffi::PyObject,
            nargs: ffi::Py_ssize_t,
            kwnames: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            const SPEC: Spec = Spec {
                method: $method,
                required: &[$($required),+],
            };
            fn body<'py>($slf: &Bound<'py, Loop>, $call: CallArgs<'py>) -> PyResult<Bound<'py, PyAny>> {
                $body
            }
            // SAFETY: the trampoline holds the GIL and turns panics into errors.
            unsafe {
                fastcall_with_keywords(slf, args, nargs, kwnames, |py, slf, args, nargs, kwnames| {
                    dispatch(py, &SPEC, slf, args, nargs, kwnames, body)
                })
            }
        }
    };
}

raw_method!(call_soon, "call_soon", ["callback"], |slf, call| {
    Loop::call_soon(slf, call.callback, &call.args, call.context).map(Bound::into_any)
});
raw_method!(
    call_soon_threadsafe,
    "call_soon_threadsafe",
    ["callback"],
    |slf, call| {
        Loop::call_soon_threadsafe(slf, call.callback, &call.args, call.context)
            .map(Bound::into_any)
    }
);
raw_method!(
    call_later,
    "call_later",
    ["delay", "callback"],
    |slf, call| {
        let delay = leading(&call)?;
        Loop::call_later(slf, &delay, call.callback, &call.args, call.context).map(Bound::into_any)
    }
);
raw_method!(call_at, "call_at", ["when", "callback"], |slf, call| {
    let when = leading(&call)?;
    Loop::call_at(slf, &when, call.callback, &call.args, call.context).map(Bound::into_any)
});

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

static METHODS: [MethodDef; 4] = [
    method(
        c"call_soon",
        c"call_soon($self, callback, /, *args, context=None)\n--\n\n\
          Run callback(*args) on the next iteration.",
        call_soon,
    ),
    method(
        c"call_soon_threadsafe",
        c"call_soon_threadsafe($self, callback, /, *args, context=None)\n--\n\n\
          Like call_soon, from any thread.",
        call_soon_threadsafe,
    ),
    method(
        c"call_later",
        c"call_later($self, delay, callback, /, *args, context=None)\n--\n\n\
          Run callback(*args) after delay seconds.",
        call_later,
    ),
    method(
        c"call_at",
        c"call_at($self, when, callback, /, *args, context=None)\n--\n\n\
          Run callback(*args) at loop time `when`.",
        call_at,
    ),
];

/// Parameters of a transport method: all positional-or-keyword, the first
/// `required` of them required, the rest defaulting to None. Errors carry
/// PyO3's messages (these methods were `#[pymethods]` before).
struct Params {
    method: &'static str,
    names: &'static [&'static str],
    required: usize,
}

/// Splits vectorcall arguments into one slot per parameter of `params`.
///
/// SAFETY: as `parse`.
unsafe fn parse_params<'py, const N: usize>(
    py: Python<'py>,
    params: &Params,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<[Option<Bound<'py, PyAny>>; N]> {
    let Params {
        method,
        names,
        required,
    } = *params;
    // SAFETY: forwarded from the vectorcall protocol.
    let (positional, keywords) = unsafe { split_args(py, args, nargs, kwnames) }?;
    let nargs = positional.len();
    if nargs > N {
        // PyO3's wording, plural even for one.
        let takes = if required == N {
            format!("{N} positional arguments")
        } else {
            format!("from {required} to {N} positional arguments")
        };
        return Err(PyTypeError::new_err(format!(
            "{method}() takes {takes} but {nargs} were given"
        )));
    }
    // SAFETY: every pointer the call passed is a live object borrowed for it.
    let borrowed = |ptr: *mut ffi::PyObject| unsafe { Bound::from_borrowed_ptr(py, ptr) };
    let mut slots: [Option<Bound<'py, PyAny>>; N] = std::array::from_fn(|_| None);
    for (slot, &ptr) in slots.iter_mut().zip(positional) {
        *slot = Some(borrowed(ptr));
    }
    if let Some((kwnames, values)) = keywords {
        for (name, &value) in kwnames.iter().zip(values) {
            let given = name.downcast::<PyString>()?.to_str()?;
            let Some(at) = names.iter().position(|&n| n == given) else {
                return Err(PyTypeError::new_err(format!(
                    "{method}() got an unexpected keyword argument '{given}'"
                )));
            };
            if slots[at].is_some() {
                return Err(PyTypeError::new_err(format!(
                    "{method}() got multiple values for argument '{given}'"
                )));
            }
            slots[at] = Some(borrowed(value));
        }
    }
    let missing: Vec<String> = (0..required)
        .filter(|&at| slots[at].is_none())
        .map(|at| format!("'{}'", names[at]))
        .collect();
    if !missing.is_empty() {
        let s = if missing.len() == 1 { "" } else { "s" };
        return Err(PyTypeError::new_err(format!(
            "{method}() missing {} required positional argument{s}: {}",
            missing.len(),
            missing.join(", ")
        )));
    }
    Ok(slots)
}

/// A raw `METH_FASTCALL | METH_KEYWORDS` method of a native transport type
/// `$ty`: its parameters parsed by `parse_params`, `$body` called with them.
macro_rules! raw_transport_method {
    ($fn_name:ident, $ty:ty, $method:literal, [$($name:literal),+], $required:literal,
     |$slf:ident, $slots:ident| $body:expr) => {
        unsafe extern "C" fn $fn_name(
            slf: *mut ffi::PyObject,
            args: *const *mut ffi::PyObject,
            nargs: ffi::Py_ssize_t,
            kwnames: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            const PARAMS: Params = Params {
                method: $method,
                names: &[$($name),+],
                required: $required,
            };
            // SAFETY: the trampoline holds the GIL and turns panics into errors.
            unsafe {
                fastcall_with_keywords(slf, args, nargs, kwnames, |py, slf, args, nargs, kwnames| {
                    // SAFETY: the method descriptor checks that `self` is an
                    // instance of the type it was installed on.
                    let $slf = Bound::from_borrowed_ptr(py, slf).downcast_into_unchecked::<$ty>();
                    // SAFETY: forwarded from the vectorcall protocol.
                    let $slots = parse_params::<{ [$($name),+].len() }>(py, &PARAMS, args, nargs, kwnames)?;
                    $body?;
                    Ok(py.None().into_ptr())
                })
            }
        }
    };
}

raw_transport_method!(
    datagram_sendto,
    DatagramTransport,
    "DatagramTransport.sendto",
    ["data", "addr"],
    1,
    |slf, slots| {
        let [data, addr] = slots;
        match data {
            Some(data) => DatagramTransport::sendto(&slf, &data, addr),
            None => Err(PyTypeError::new_err("sendto: missing data")),
        }
    }
);

raw_transport_method!(
    socket_write,
    SocketTransport,
    "SocketTransport.write",
    ["data"],
    1,
    |slf, slots| {
        let [data] = slots;
        match data {
            Some(data) => SocketTransport::write(&slf, &data),
            None => Err(PyTypeError::new_err("write: missing data")),
        }
    }
);

static DATAGRAM_METHODS: [MethodDef; 1] = [method(
    c"sendto",
    c"sendto($self, data, addr=None)\n--\n\n\
      Send data to addr (the remote address of a connected endpoint if None).",
    datagram_sendto,
)];

static SOCKET_METHODS: [MethodDef; 1] = [method(
    c"write",
    c"write($self, data)\n--\n\n\
      Write data to the transport (buffered when the socket would block).",
    socket_write,
)];

/// Installs the raw method on the native `SocketTransport` type.
pub fn install_socket(py: Python<'_>, ty: &Bound<'_, PyType>) -> PyResult<()> {
    install_on(py, ty, &SOCKET_METHODS)
}

/// Installs the raw methods on the native `DatagramTransport` type.
pub fn install_datagram(py: Python<'_>, ty: &Bound<'_, PyType>) -> PyResult<()> {
    install_on(py, ty, &DATAGRAM_METHODS)
}

/// Installs the raw methods on the native `Loop` type.
pub fn install(py: Python<'_>, loop_type: &Bound<'_, PyType>) -> PyResult<()> {
    install_on(py, loop_type, &METHODS)
}

fn install_on(
    py: Python<'_>,
    loop_type: &Bound<'_, PyType>,
    methods: &'static [MethodDef],
) -> PyResult<()> {
    for def in methods {
        let def_ptr = (&raw const def.0).cast_mut();
        // SAFETY: a valid type object and a 'static method definition.
        let descr = unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyDescr_NewMethod(loop_type.as_ptr().cast(), def_ptr),
            )?
        };
        // SAFETY: ml_name points at a NUL-terminated literal.
        let name = unsafe { std::ffi::CStr::from_ptr(def.0.ml_name) }.to_str()?;
        loop_type.setattr(name, descr)?;
    }
    Ok(())
}
