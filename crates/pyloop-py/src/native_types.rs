//! The native classes' type objects, recorded when the module loads, and the
//! type checks made against them on hot paths: PyO3's `downcast` first asks
//! its lazy type object (~40 instructions), which each future and task
//! paid several times (PYLOOP_NOTES.md, fifth session).

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::future::Future;
use crate::loop_::Loop;
use crate::task::Task;
use crate::tls_core::TlsCore;
use crate::transport::SocketTransport;

pub(crate) static LOOP_TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(std::ptr::null_mut());
pub(crate) static FUTURE_TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(std::ptr::null_mut());
pub(crate) static TASK_TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(std::ptr::null_mut());
pub(crate) static TLS_CORE_TYPE: AtomicPtr<ffi::PyTypeObject> =
    AtomicPtr::new(std::ptr::null_mut());
pub(crate) static SOCKET_TRANSPORT_TYPE: AtomicPtr<ffi::PyTypeObject> =
    AtomicPtr::new(std::ptr::null_mut());

/// Records the type objects; called once by the module's init.
pub(crate) fn record(py: Python<'_>) {
    LOOP_TYPE.store(py.get_type::<Loop>().as_type_ptr(), Ordering::Relaxed);
    FUTURE_TYPE.store(py.get_type::<Future>().as_type_ptr(), Ordering::Relaxed);
    TASK_TYPE.store(py.get_type::<Task>().as_type_ptr(), Ordering::Relaxed);
    TLS_CORE_TYPE.store(py.get_type::<TlsCore>().as_type_ptr(), Ordering::Relaxed);
    SOCKET_TRANSPORT_TYPE.store(
        py.get_type::<SocketTransport>().as_type_ptr(),
        Ordering::Relaxed,
    );
}

fn type_of(obj: &Bound<'_, PyAny>) -> *mut ffi::PyTypeObject {
    // SAFETY: reading the type of a live object.
    unsafe { ffi::Py_TYPE(obj.as_ptr()) }
}

/// True if `obj` is an instance of the recorded type or of a subclass.
fn instance_of(obj: &Bound<'_, PyAny>, recorded: &AtomicPtr<ffi::PyTypeObject>) -> bool {
    let wanted = recorded.load(Ordering::Relaxed);
    let ty = type_of(obj);
    // SAFETY: both are live type objects (the recorded one lives as long as
    // the module, which is never unloaded).
    ty == wanted || (!wanted.is_null() && unsafe { ffi::PyType_IsSubtype(ty, wanted) } != 0)
}

macro_rules! cast_fn {
    ($name:ident, $class:ty, $recorded:ident) => {
        /// `obj` as this native class (or a subclass), like `downcast`.
        pub(crate) fn $name<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> Option<&'a Bound<'py, $class>> {
            // SAFETY: the type check.
            instance_of(obj, &$recorded).then(|| unsafe { obj.downcast_unchecked::<$class>() })
        }
    };
}

cast_fn!(as_loop, Loop, LOOP_TYPE);
cast_fn!(as_future, Future, FUTURE_TYPE);
cast_fn!(as_task, Task, TASK_TYPE);
cast_fn!(as_tls_core, TlsCore, TLS_CORE_TYPE);
cast_fn!(as_socket_transport, SocketTransport, SOCKET_TRANSPORT_TYPE);

/// `obj` as a Future when its type is exactly `Future` or `Task`: only then
/// may a task skip the Python-level methods (a subclass may override them).
pub(crate) fn exact_future<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> Option<&'a Bound<'py, Future>> {
    let ty = type_of(obj);
    let native =
        ty == FUTURE_TYPE.load(Ordering::Relaxed) || ty == TASK_TYPE.load(Ordering::Relaxed);
    // SAFETY: the type check.
    native.then(|| unsafe { obj.downcast_unchecked::<Future>() })
}

/// The last loop type asked about in `has_native_call_soon`, with the
/// version tag it had and the answer: a type's attributes cannot change
/// without its version tag changing (or becoming invalid), and tags are
/// never handed out twice.
struct SeenLoopType {
    ty: AtomicPtr<ffi::PyTypeObject>,
    tag: AtomicU32,
    native: AtomicBool,
}

static SEEN: SeenLoopType = SeenLoopType {
    ty: AtomicPtr::new(std::ptr::null_mut()),
    tag: AtomicU32::new(0),
    native: AtomicBool::new(false),
};

/// The type's version tag, if it has a valid one.
fn version_tag(ty: *mut ffi::PyTypeObject) -> Option<u32> {
    // SAFETY: a live type object; the flags and tag are plain fields.
    unsafe {
        let valid = ffi::PyType_GetFlags(ty) & ffi::Py_TPFLAGS_VALID_VERSION_TAG != 0;
        valid.then(|| (*ty).tp_version_tag)
    }
}

/// True for an instance of `Loop` whose class keeps the native `call_soon`
/// (futures then queue their callbacks without a Python call). Called for
/// every future and task; the answer is kept per type and version tag.
pub(crate) fn has_native_call_soon(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    static NATIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    if as_loop(obj).is_none() {
        return Ok(false);
    }
    let ty = type_of(obj);
    if let Some(tag) = version_tag(ty) {
        if SEEN.ty.load(Ordering::Relaxed) == ty && SEEN.tag.load(Ordering::Relaxed) == tag {
            return Ok(SEEN.native.load(Ordering::Relaxed));
        }
    }
    let py = obj.py();
    let native = NATIVE.get_or_try_init(py, || {
        py.get_type::<Loop>()
            .getattr(intern!(py, "call_soon"))
            .map(Bound::unbind)
    })?;
    let answer = obj.get_type().getattr(intern!(py, "call_soon"))?.is(native);
    // The lookup gave the type a valid tag if it had none (the GIL is held
    // throughout, so nothing changed the type in between).
    if let Some(tag) = version_tag(ty) {
        SEEN.ty.store(ty, Ordering::Relaxed);
        SEEN.tag.store(tag, Ordering::Relaxed);
        SEEN.native.store(answer, Ordering::Relaxed);
    }
    Ok(answer)
}
