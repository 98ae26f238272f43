//! `ByteView`: a contiguous view of any object with the buffer protocol
//! (bytes, bytearray, memoryview, array, mmap, ...), as `socket.send` and
//! `recv_into` accept them, for the length of a call.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView};

/// bytes, bytearray or memoryview: what asyncio's transports accept in
/// `write`/`sendto` (the check is by type, before any buffer is asked for).
pub fn is_bytes_like(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
        || obj.is_instance_of::<PyMemoryView>()
}

/// Borrows the bytes of an object with the buffer protocol for the length
/// of a closure. The `Py_buffer` lives on the stack of that call, never
/// moved while filled (no exporter is promised it can be) and with no heap
/// allocation: a read into a BufferedProtocol's buffer takes one per call.
pub struct ByteView;

impl ByteView {
    /// `f` with the object's bytes (a contiguous buffer, else the
    /// exporter's BufferError/TypeError).
    pub fn read<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
        with_buffer(obj, ffi::PyBUF_SIMPLE, |start, len| {
            // SAFETY: `len` bytes at `start`, alive until the view is
            // released after `f` returns.
            f(unsafe { std::slice::from_raw_parts(start, len) })
        })
    }

    /// `f` with the object's bytes to write into (the exporter raises
    /// BufferError/TypeError when it cannot give a writable buffer).
    pub fn write<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&mut [u8]) -> R) -> PyResult<R> {
        with_buffer(obj, ffi::PyBUF_WRITABLE, |start, len| {
            // SAFETY: as in `read`, and the exporter granted a writable
            // buffer; nothing else touches it while the GIL is held here.
            f(unsafe { std::slice::from_raw_parts_mut(start, len) })
        })
    }
}

/// Releases a filled view when dropped, also if the closure panics.
struct Filled<'a>(&'a mut ffi::Py_buffer);

impl Drop for Filled<'_> {
    fn drop(&mut self) {
        // Views are only made and dropped by code holding the GIL.
        // SAFETY: the view was filled by a successful PyObject_GetBuffer.
        unsafe { ffi::PyBuffer_Release(self.0) };
    }
}

/// `f` with the start and length of the object's buffer taken with `flags`
/// (a dangling, aligned start for an empty one, as slices want).
fn with_buffer<R>(
    obj: &Bound<'_, PyAny>,
    flags: std::os::raw::c_int,
    f: impl FnOnce(*mut u8, usize) -> R,
) -> PyResult<R> {
    // SAFETY: an all-zero Py_buffer is the documented "empty" state;
    // PyObject_GetBuffer fills it or fails and leaves nothing to release.
    let mut view: ffi::Py_buffer = unsafe { std::mem::zeroed() };
    if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut view, flags) } != 0 {
        return Err(PyErr::fetch(obj.py()));
    }
    let filled = Filled(&mut view);
    let len = usize::try_from(filled.0.len).unwrap_or(0);
    let start = if len == 0 {
        std::ptr::NonNull::<u8>::dangling().as_ptr()
    } else {
        filled.0.buf.cast::<u8>()
    };
    Ok(f(start, len))
}
