//! `ByteView`: a contiguous view of any object with the buffer protocol
//! (bytes, bytearray, memoryview, array, mmap, ...), as `socket.send` and
//! `recv_into` accept them, released when dropped.

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

pub struct ByteView {
    view: Box<ffi::Py_buffer>,
}

impl ByteView {
    /// The object's bytes; `writable` asks for a writable buffer (the
    /// exporter raises BufferError/TypeError when it cannot give one).
    pub fn get(obj: &Bound<'_, PyAny>, writable: bool) -> PyResult<Self> {
        let flags = if writable {
            ffi::PyBUF_WRITABLE
        } else {
            ffi::PyBUF_SIMPLE
        };
        // SAFETY: an all-zero Py_buffer is the documented "empty" state;
        // PyObject_GetBuffer fills it or fails and leaves nothing to release.
        let mut view: Box<ffi::Py_buffer> = Box::new(unsafe { std::mem::zeroed() });
        if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, flags) } != 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        Ok(Self { view })
    }

    pub fn len(&self) -> usize {
        usize::try_from(self.view.len).unwrap_or(0)
    }

    pub fn as_slice(&self) -> &[u8] {
        if self.len() == 0 {
            return &[];
        }
        // SAFETY: a simple (contiguous) buffer of `len` bytes, alive until
        // released in drop.
        unsafe { std::slice::from_raw_parts(self.view.buf.cast::<u8>(), self.len()) }
    }

    /// The bytes to write into; only for a view taken with `writable`.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.len() == 0 || self.view.readonly != 0 {
            return &mut [];
        }
        // SAFETY: as in as_slice, and the exporter granted a writable buffer.
        unsafe { std::slice::from_raw_parts_mut(self.view.buf.cast::<u8>(), self.len()) }
    }
}

impl Drop for ByteView {
    fn drop(&mut self) {
        // Views are only made and dropped by code holding the GIL.
        // SAFETY: the view was filled by a successful PyObject_GetBuffer.
        unsafe { ffi::PyBuffer_Release(&mut *self.view) };
    }
}
