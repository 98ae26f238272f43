//! One bytes object for a burst of TLS records: after the first decrypted
//! chunk, the rest of what the incoming BIO holds is decrypted straight into
//! a bytes object sized for it, instead of one bytes object per record and a
//! join (asyncio's `_do_read__copied` reads chunks and joins them; the bytes
//! the app gets are the same).
//!
//! Only for the C object of a plain `ssl.SSLObject` (`_ssl._SSLSocket`),
//! which reads into the memoryview given and keeps no reference to it.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::tls_ssl::{Bio, Engine};

/// Bytes the incoming BIO and OpenSSL still hold: an upper bound on the
/// plaintext left (a record's plaintext is shorter than its ciphertext).
/// `whole`: OpenSSL is known to hold no decrypted byte (see `gather`).
fn room(incoming: &Bio<'_>, engine: &Engine<'_>, whole: bool) -> PyResult<usize> {
    let queued = incoming.pending()?;
    let decrypted = if whole { 0 } else { engine.pending()? };
    Ok(queued.saturating_add(decrypted))
}

/// A fresh bytes object that only this module has seen.
struct Building {
    obj: *mut ffi::PyObject,
    len: usize,
}

impl Building {
    fn new(py: Python<'_>, len: usize) -> PyResult<Self> {
        let size = ffi::Py_ssize_t::try_from(len)?;
        // SAFETY: a NULL source asks for an uninitialised bytes object of
        // `size` bytes; NULL comes back with MemoryError set.
        let obj = unsafe { ffi::PyBytes_FromStringAndSize(std::ptr::null(), size) };
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        Ok(Self { obj, len })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `obj` is a bytes object of `len` bytes owned here, not yet
        // shared, so writing into its storage is allowed.
        unsafe {
            std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(self.obj).cast::<u8>(), self.len)
        }
    }

    /// Grows or shrinks the object (its address may change).
    fn resize(&mut self, py: Python<'_>, len: usize) -> PyResult<()> {
        let size = ffi::Py_ssize_t::try_from(len)?;
        // SAFETY: `obj` has one reference (ours) and no exported buffer (the
        // memoryviews over it are gone), as _PyBytes_Resize requires; on
        // failure it frees the object and sets `obj` to NULL.
        if unsafe { ffi::_PyBytes_Resize(&mut self.obj, size) } != 0 {
            return Err(PyErr::fetch(py));
        }
        self.len = len;
        Ok(())
    }

    /// A writable memoryview of the bytes from `start` on; it must be gone
    /// before the next `resize`.
    fn view_from<'py>(&mut self, py: Python<'py>, start: usize) -> PyResult<Bound<'py, PyAny>> {
        let rest = &mut self.bytes()[start..];
        let size = ffi::Py_ssize_t::try_from(rest.len())?;
        // SAFETY: the memory stays valid while the memoryview lives (it is
        // dropped before any resize or before the object is handed out).
        unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyMemoryView_FromMemory(rest.as_mut_ptr().cast(), size, ffi::PyBUF_WRITE),
            )
        }
    }

    fn finish(mut self, py: Python<'_>, len: usize) -> PyResult<Bound<'_, PyBytes>> {
        self.resize(py, len)?;
        let obj = std::mem::replace(&mut self.obj, std::ptr::null_mut());
        // SAFETY: a complete bytes object; our reference moves to the Bound.
        let bound = unsafe { Bound::from_owned_ptr(py, obj) };
        Ok(bound.downcast_into::<PyBytes>()?)
    }
}

impl Drop for Building {
    fn drop(&mut self) {
        if !self.obj.is_null() {
            // SAFETY: our own reference, dropped with the GIL held (every
            // Building lives inside a call from Python).
            unsafe { ffi::Py_DECREF(self.obj) };
        }
    }
}

/// How a gathered burst ended.
pub struct Gathered<'py> {
    pub data: Bound<'py, PyBytes>,
    /// A read returned 0: the peer's close_notify.
    pub close_notify: bool,
    /// It ended on an empty incoming BIO (not on close_notify or an
    /// SSLAgainError).
    pub dry: bool,
}

/// `head` (the chunk already read) followed by everything `engine` can
/// decrypt now, read until the BIO runs dry, a read returns 0, or `again`
/// (asyncio's SSLAgainErrors) is raised. Any other exception propagates and
/// the bytes read are dropped, as asyncio's loop drops its chunks.
///
/// `whole`: the read that gave `first` left no decrypted byte in OpenSSL
/// (it asked for at least a record's largest plaintext). Every read here
/// asks for at least what the BIO holds, more than the next record's
/// plaintext, so none leaves any either, and OpenSSL's `pending` need not
/// be asked.
pub fn gather<'py>(
    head: &[u8],
    incoming: &Bio<'py>,
    engine: &Engine<'py>,
    whole: bool,
    is_again: impl Fn(&PyErr) -> bool,
) -> PyResult<Gathered<'py>> {
    let py = engine.py();
    let mut filled = head.len();
    let mut building = Building::new(py, filled.saturating_add(room(incoming, engine, whole)?))?;
    building.bytes()[..filled].copy_from_slice(head);
    let mut close_notify = false;
    let mut dry = false;
    loop {
        if filled == building.len {
            let more = room(incoming, engine, whole)?;
            if more == 0 {
                dry = true;
                break;
            }
            building.resize(py, filled.saturating_add(more))?;
        }
        let view = building.view_from(py, filled)?;
        let asked = isize::try_from(building.len - filled)?;
        let read = engine.read_into(asked, &view);
        drop(view);
        match read.and_then(|count| Ok(usize::try_from(count)?)) {
            Ok(0) => {
                close_notify = true;
                break;
            }
            Ok(count) => filled = filled.saturating_add(count).min(building.len),
            Err(err) if is_again(&err) => break,
            Err(err) => return Err(err),
        }
        if room(incoming, engine, whole)? == 0 {
            dry = true;
            break;
        }
    }
    Ok(Gathered {
        data: building.finish(py, filled)?,
        close_notify,
        dry,
    })
}
