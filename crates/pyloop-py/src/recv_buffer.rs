//! The loop's receive buffer: native reads land here before they become
//! a bytes object.
//!
//! It starts on a page boundary. glibc hands out large blocks 16 bytes into
//! a page, and the kernel's copy into a buffer at that offset measured
//! 2.5x slower per 100 KiB read than into an aligned one (PYLOOP_NOTES.md).
//!
//! It also keeps one spare bytes object: a callback that let go of the data
//! it was given (an echo, a length check) leaves the reader its only owner,
//! and the next read of the same length refills it instead of allocating.
//! Above 512 bytes CPython takes bytes from glibc's malloc, ~500 instructions
//! per object with its free. Nothing else can see the object (bytes are not
//! tracked by the garbage collector, the reader held the last reference), so
//! refilling it is as safe as CPython's own in-place `_PyBytes_Resize`.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

const PAGE: usize = 4096;

/// Shorter bytes may be CPython's shared one-character objects; longer ones
/// are not worth holding on to.
const SPARE_LEN: std::ops::RangeInclusive<usize> = 2..=256 * 1024;

#[derive(Default)]
pub struct RecvBuffer {
    storage: Vec<u8>,
    start: usize,
    /// A bytes object nothing else refers to, ready to be refilled.
    spare: Option<Py<PyBytes>>,
}

impl RecvBuffer {
    /// `len` writable bytes starting on a page boundary.
    pub fn get(&mut self, len: usize) -> &mut [u8] {
        if self.storage.len() < self.start + len {
            self.storage = vec![0; len + PAGE];
            let offset = self.storage.as_ptr().align_offset(PAGE);
            self.start = if offset < PAGE { offset } else { 0 };
        }
        &mut self.storage[self.start..self.start + len]
    }

    /// The first `len` bytes of the buffer (as last returned by `get`) as
    /// a bytes object: the spare one when it has that length.
    pub fn take_bytes<'py>(&mut self, py: Python<'py>, len: usize) -> Bound<'py, PyBytes> {
        let data = &self.storage[self.start..self.start + len];
        match self.spare.take().map(|spare| spare.into_bound(py)) {
            Some(spare) if spare.as_bytes().len() == len && sole_owner(&spare) => {
                // SAFETY: the object is an exact bytes of `len` bytes that
                // only this reference reaches (checked above), so no one
                // can observe the change; its cached hash is reset as
                // CPython resets a resized one.
                unsafe {
                    let raw = spare.as_ptr().cast::<ffi::PyBytesObject>();
                    let text = std::ptr::addr_of_mut!((*raw).ob_sval).cast::<u8>();
                    std::ptr::copy_nonoverlapping(data.as_ptr(), text, len);
                    #[allow(deprecated)]
                    {
                        (*raw).ob_shash = -1;
                    }
                }
                spare
            }
            _ => PyBytes::new(py, data),
        }
    }

    /// Keeps `data` as the spare if the caller's reference is the only one
    /// (the callback it was given to kept none).
    pub fn recycle(&mut self, data: Bound<'_, PyAny>) {
        if let Ok(bytes) = data.downcast_exact::<PyBytes>() {
            if sole_owner(bytes) && SPARE_LEN.contains(&bytes.as_bytes().len()) {
                self.spare = Some(bytes.clone().unbind());
            }
        }
    }
}

fn sole_owner(bytes: &Bound<'_, PyBytes>) -> bool {
    // SAFETY: a valid object pointer, the GIL is held.
    unsafe { ffi::Py_REFCNT(bytes.as_ptr()) == 1 }
}
