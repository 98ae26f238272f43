//! The glue between native transports and the loop: their reader and writer
//! registrations carry the transport itself, and the loop's handle calls its
//! `IoReady::on_ready` without a Python call in between; and the loop calls
//! every transport makes the same way.

use std::os::fd::RawFd;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::handle::{Callback, Handle};
use crate::loop_::Loop;

/// A native transport's reader (read=True) or writer callback.
pub(crate) trait IoReady: pyo3::PyClass + pyo3::type_object::PyTypeInfo {
    /// The transport's writes seldom wait (datagrams): its fd is registered
    /// for reading alone until a writer is needed (`IoRegistry::watch_with`).
    const WRITES_SELDOM_WAIT: bool = false;

    fn on_ready(slf: &Bound<'_, Self>, read: bool) -> PyResult<()>;
}

/// How a registration reaches its transport's `on_ready`: chosen once, when
/// the reader or writer is registered, so a readiness costs no type check.
pub(crate) type OnReady = fn(&Bound<'_, PyAny>, bool) -> PyResult<()>;

fn on_ready_of<T: IoReady>(target: &Bound<'_, PyAny>, read: bool) -> PyResult<()> {
    // SAFETY: `watch` stores this function only next to an object of type T
    // (or a Python subclass of it), and the handle never swaps the object.
    let transport = unsafe { target.downcast_unchecked::<T>() };
    T::on_ready(transport, read)
}

/// Makes `transport`'s reader (read=True) or writer the fd's registration.
pub(crate) fn watch<T: IoReady>(
    loop_: &Bound<'_, Loop>,
    fd: RawFd,
    read: bool,
    transport: &Bound<'_, T>,
) -> PyResult<()> {
    let callback = Callback::Transport {
        transport: transport.clone().into_any().unbind(),
        read,
        on_ready: on_ready_of::<T>,
    };
    let handle = Handle::with_callback(loop_.py(), callback, None, loop_.clone().unbind(), false)?;
    Loop::register_io(loop_, fd, read, handle, T::WRITES_SELDOM_WAIT).map(drop)
}

/// `loop.call_soon(callback, arg)`: how transports schedule protocol calls.
pub(crate) fn call_soon(
    loop_: &Bound<'_, Loop>,
    callback: Bound<'_, PyAny>,
    arg: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let py = loop_.py();
    match arg {
        Some(arg) => loop_.call_method1(intern!(py, "call_soon"), (callback, arg)),
        None => loop_.call_method1(intern!(py, "call_soon"), (callback,)),
    }
    .map(drop)
}

/// Reports a transport's error to the loop's exception handler, with the
/// context keys asyncio's transports give.
pub(crate) fn report_error(
    loop_: &Bound<'_, Loop>,
    message: &str,
    exc: &Bound<'_, PyAny>,
    transport: &Bound<'_, PyAny>,
    protocol: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let py = loop_.py();
    let context = PyDict::new(py);
    context.set_item("message", message)?;
    context.set_item("exception", exc)?;
    context.set_item("transport", transport)?;
    context.set_item("protocol", protocol)?;
    loop_
        .call_method1(intern!(py, "call_exception_handler"), (context,))
        .map(drop)
}
