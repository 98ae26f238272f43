//! The native fast path of `sock_recv` and `sock_sendall`: the system call is
//! made here, at once and again each time the fd is ready, and the result
//! resolves a `pyloop.Future` directly, with no Python callback per wake-up.
//!
//! The wait is an ordinary reader/writer registration of the loop (so
//! `add_reader` on the same fd replaces it, as in asyncio), whose handle
//! carries a `SockWait` instead of a Python callable. The Python side
//! (`_sock.py`) removes the registration if the await is cancelled.

use std::io;
use std::os::fd::RawFd;

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::{PyTraverseError, PyVisit};

use crate::future::Future;
use crate::gil_cell::GilCell;
use crate::loop_::Loop;
use crate::recv_buffer::RecvBuffer;
use crate::sys_io;

/// What a waiting socket call still has to do.
pub(crate) enum SockOp {
    Recv { nbytes: usize },
    SendAll { data: PyBuffer<u8>, sent: usize },
}

/// Outcome of one attempt.
enum Attempt<'py> {
    Done(Bound<'py, PyAny>),
    WouldBlock,
}

/// `recv(2)` into the loop's scratch buffer; the bytes object is the copy.
fn recv_now<'py>(
    py: Python<'py>,
    fd: RawFd,
    nbytes: usize,
    scratch: &mut RecvBuffer,
) -> io::Result<Option<Bound<'py, PyBytes>>> {
    let buf = scratch.get(nbytes);
    let got = sys_io::recv(fd, buf)?;
    Ok(got.map(|n| PyBytes::new(py, &buf[..n])))
}

/// Sends the rest of `data` from `sent` on until the socket would block;
/// returns the new `sent` and whether everything is sent.
fn send_now(fd: RawFd, data: &PyBuffer<u8>, sent: usize) -> io::Result<(usize, bool)> {
    let total = data.len_bytes();
    if sent >= total {
        return Ok((sent, true));
    }
    // SAFETY: the buffer stays exported (and so valid) while `data` lives;
    // it is a contiguous byte buffer of `total` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(data.buf_ptr().cast::<u8>(), total) };
    let sent = sent + sys_io::send_all(fd, &bytes[sent..])?;
    Ok((sent, sent == total))
}

/// A socket call waiting for its fd: the handle of the loop's reader or
/// writer registration runs it each time the fd is ready.
#[pyclass(frozen, module = "pyloop._pyloop")]
pub struct SockWait {
    fd: RawFd,
    read: bool,
    future: Py<Future>,
    op: GilCell<Option<SockOp>>,
}

impl SockWait {
    pub(crate) fn future(&self) -> &Py<Future> {
        &self.future
    }

    fn attempt<'py>(&self, loop_: &Bound<'py, Loop>) -> PyResult<io::Result<Attempt<'py>>> {
        let py = loop_.py();
        let op = self.op.with(py, Option::take)?;
        let (outcome, keep) = match op {
            Some(SockOp::Recv { nbytes }) => {
                let got = loop_
                    .get()
                    .with_scratch(py, |buf| recv_now(py, self.fd, nbytes, buf))?;
                match got {
                    Ok(Some(bytes)) => (Ok(Attempt::Done(bytes.into_any())), None),
                    Ok(None) => (Ok(Attempt::WouldBlock), Some(SockOp::Recv { nbytes })),
                    Err(err) => (Err(err), None),
                }
            }
            Some(SockOp::SendAll { data, sent }) => match send_now(self.fd, &data, sent) {
                Ok((_, true)) => (Ok(Attempt::Done(py.None().into_bound(py))), None),
                Ok((sent, false)) => (
                    Ok(Attempt::WouldBlock),
                    Some(SockOp::SendAll { data, sent }),
                ),
                Err(err) => (Err(err), None),
            },
            None => (Ok(Attempt::WouldBlock), None),
        };
        if let Some(op) = keep {
            self.op.with(py, |slot| *slot = Some(op))?;
        }
        Ok(outcome)
    }

    /// The fd is ready: try again; on completion or error, unregister and
    /// resolve the future.
    pub(crate) fn on_ready(&self, loop_: &Bound<'_, Loop>) -> PyResult<()> {
        let py = loop_.py();
        let future = self.future.bind(py);
        if future.get().is_done() {
            // Cancelled (or resolved) while the fd was not ready.
            return Loop::remove_sock_wait(loop_, self.fd, self.read, future).map(drop);
        }
        match self.attempt(loop_)? {
            Ok(Attempt::WouldBlock) => {
                loop_.get().note_drained(self.fd, self.read);
                Ok(())
            }
            Ok(Attempt::Done(value)) => {
                Loop::remove_sock_wait(loop_, self.fd, self.read, future)?;
                Future::finish_with_result(future, value)
            }
            Err(err) => {
                Loop::remove_sock_wait(loop_, self.fd, self.read, future)?;
                let exc = crate::errors::io_to_py(err)
                    .into_value(py)
                    .into_bound(py)
                    .into_any();
                Future::finish_with_exception(future, exc)
            }
        }
    }
}

#[pymethods]
impl SockWait {
    fn __repr__(&self) -> String {
        let what = if self.read {
            "sock_recv"
        } else {
            "sock_sendall"
        };
        format!("<{what} waiting on fd {}>", self.fd)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.future)
    }
}

/// `loop._sock_recv(fd, nbytes)`: the bytes now, or a Future for them.
pub fn sock_recv<'py>(
    loop_: &Bound<'py, Loop>,
    fd: RawFd,
    nbytes: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let py = loop_.py();
    let nbytes = usize::try_from(nbytes)
        .map_err(|_| pyo3::exceptions::PyValueError::new_err("negative buffersize in recv"))?;
    let got = loop_
        .get()
        .with_scratch(py, |buf| recv_now(py, fd, nbytes, buf))?;
    match got.map_err(crate::errors::io_to_py)? {
        Some(bytes) => Ok(bytes.into_any()),
        None => wait(loop_, fd, true, SockOp::Recv { nbytes }),
    }
}

/// `loop._sock_sendall(fd, data)`: None when all was sent now, else a
/// Future resolved when the rest is.
pub fn sock_sendall<'py>(
    loop_: &Bound<'py, Loop>,
    fd: RawFd,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = loop_.py();
    let data = PyBuffer::<u8>::get(data)?;
    match send_now(fd, &data, 0).map_err(crate::errors::io_to_py)? {
        (_, true) => Ok(py.None().into_bound(py)),
        (sent, false) => wait(loop_, fd, false, SockOp::SendAll { data, sent }),
    }
}

fn wait<'py>(
    loop_: &Bound<'py, Loop>,
    fd: RawFd,
    read: bool,
    op: SockOp,
) -> PyResult<Bound<'py, PyAny>> {
    let py = loop_.py();
    let future = crate::future::_new_future(loop_.clone().into_any())?;
    let waiter = Py::new(
        py,
        SockWait {
            fd,
            read,
            future: future.clone().unbind(),
            op: GilCell::new(Some(op)),
        },
    )?;
    Loop::add_sock_wait(loop_, fd, read, waiter)?;
    // The call that brought us here would have blocked: Tokio's readiness
    // for this direction (left over from an earlier wait on a socket whose
    // registration stayed, see registry.rs) is stale and is cleared now
    // instead of checked with poll(2) later.
    loop_.get().note_drained(fd, read);
    Ok(future.into_any())
}
