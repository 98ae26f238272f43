//! The glue between native transports and the loop: their reader and writer
//! registrations carry the transport itself, and the loop's handle calls its
//! `IoReady::on_ready` without a Python call in between; and the loop calls
//! every transport makes the same way.

use std::os::fd::RawFd;

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::datagram::DatagramTransport;
use crate::handle::{Callback, Handle};
use crate::loop_::Loop;
use crate::pipe_transport::{ReadPipeTransport, WritePipeTransport};
use crate::transport::SocketTransport;

/// A native transport's reader (read=True) or writer callback.
pub(crate) trait IoReady: pyo3::PyClass + pyo3::type_object::PyTypeInfo {
    fn on_ready(slf: &Bound<'_, Self>, read: bool) -> PyResult<()>;
}

fn run<T: IoReady>(target: &Bound<'_, PyAny>, read: bool) -> Option<PyResult<()>> {
    target.downcast::<T>().ok().map(|t| T::on_ready(t, read))
}

pub(crate) fn on_ready(target: &Bound<'_, PyAny>, read: bool) -> PyResult<()> {
    // One line per native transport type.
    run::<SocketTransport>(target, read)
        .or_else(|| run::<ReadPipeTransport>(target, read))
        .or_else(|| run::<WritePipeTransport>(target, read))
        .or_else(|| run::<DatagramTransport>(target, read))
        .unwrap_or_else(|| {
            Err(PyTypeError::new_err(format!(
                "pyloop: {} has no native I/O callbacks",
                target.get_type().name()?
            )))
        })
}

/// Makes `transport`'s reader (read=True) or writer the fd's registration.
pub(crate) fn watch(
    loop_: &Bound<'_, Loop>,
    fd: RawFd,
    read: bool,
    transport: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let callback = Callback::Transport {
        transport: transport.clone().unbind(),
        read,
    };
    let handle = Handle::with_callback(loop_.py(), callback, None, loop_.clone().unbind())?;
    Loop::register_io(loop_, fd, read, handle).map(drop)
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
