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
//! A spare of 16 KiB or more is read into directly (`receive`: the kernel
//! fills it first and this buffer with what does not fit), so a stream of
//! equal large messages costs no copy here at all.
//! Above 512 bytes CPython takes bytes from glibc's malloc, ~500 instructions
//! per object with its free. Nothing else can see the object (bytes are not
//! tracked by the garbage collector, the reader held the last reference), so
//! refilling it is as safe as CPython's own in-place `_PyBytes_Resize`.

use std::io;
use std::os::fd::RawFd;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::sys_io;

const PAGE: usize = 4096;

/// Shorter bytes may be CPython's shared one-character objects; longer ones
/// are not worth holding on to.
const SPARE_LEN: std::ops::RangeInclusive<usize> = 2..=256 * 1024;

/// From this length on a receive goes straight into the spare: below it
/// the copy costs less than the scattered read (PYLOOP_NOTES.md).
const SCATTER_MIN: usize = 16 * 1024;

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
                    std::ptr::copy_nonoverlapping(data.as_ptr(), bytes_text(&spare), len);
                    reset_hash(&spare);
                }
                spare
            }
            _ => PyBytes::new(py, data),
        }
    }

    /// One receive of up to `max` bytes from `fd`, as a bytes object; None:
    /// it would block. When the spare is a large one (SCATTER_MIN bytes or
    /// more) the kernel writes into it first and into the buffer only what
    /// does not fit, so a message of the spare's length (a stream of equal
    /// messages) is handed out without a copy; otherwise `recv` into the
    /// buffer and `take_bytes`.
    pub fn receive<'py>(
        &mut self,
        py: Python<'py>,
        fd: RawFd,
        max: usize,
    ) -> io::Result<Option<(usize, Bound<'py, PyBytes>)>> {
        let spare = match self.spare.take().map(|spare| spare.into_bound(py)) {
            Some(spare) if spare.as_bytes().len() >= SCATTER_MIN && sole_owner(&spare) => spare,
            other => {
                self.spare = other.map(Bound::unbind);
                let got = sys_io::recv(fd, self.get(max))?;
                return Ok(got.map(|n| (n, self.take_bytes(py, n))));
            }
        };
        let fits = spare.as_bytes().len().min(max);
        // SAFETY: only this reference reaches the spare (checked above), so
        // writing its bytes is unobservable, as in `take_bytes`.
        let text = unsafe { bytes_text(&spare) };
        let got = {
            let rest = self.get(max - fits);
            // SAFETY: the spare's text is `fits` bytes or longer and lives
            // as long as `spare`.
            let head = unsafe { std::slice::from_raw_parts_mut(text, fits) };
            sys_io::recv_scattered(fd, head, rest)
        };
        let n = match got {
            Ok(Some(n)) => n,
            other => {
                self.spare = Some(spare.unbind());
                return other.map(|got| got.map(|n| (n, PyBytes::new(py, b""))));
            }
        };
        // SAFETY: as above; the first min(n, fits) bytes were just written.
        let head = unsafe { std::slice::from_raw_parts(text, n.min(fits)) };
        let data = if n == spare.as_bytes().len() {
            // SAFETY: as above (the cached hash is reset as for a refill).
            unsafe { reset_hash(&spare) };
            spare
        } else {
            let joined = if n <= fits {
                PyBytes::new(py, head)
            } else {
                let tail = &self.storage[self.start..self.start + (n - fits)];
                PyBytes::new_with(py, n, |buf| {
                    buf[..fits].copy_from_slice(head);
                    buf[fits..].copy_from_slice(tail);
                    Ok(())
                })
                .map_err(|err| io::Error::other(err.to_string()))?
            };
            self.spare = Some(spare.unbind());
            joined
        };
        Ok(Some((n, data)))
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

/// The first byte of a bytes object's text.
///
/// SAFETY: a live bytes object; writing through the pointer is for an
/// object only the caller's reference reaches.
unsafe fn bytes_text(bytes: &Bound<'_, PyBytes>) -> *mut u8 {
    let raw = bytes.as_ptr().cast::<ffi::PyBytesObject>();
    unsafe { std::ptr::addr_of_mut!((*raw).ob_sval).cast::<u8>() }
}

/// Forgets a bytes object's cached hash, as CPython does for one it resized.
///
/// SAFETY: as `bytes_text`.
unsafe fn reset_hash(bytes: &Bound<'_, PyBytes>) {
    let raw = bytes.as_ptr().cast::<ffi::PyBytesObject>();
    #[allow(deprecated)]
    unsafe {
        (*raw).ob_shash = -1;
    }
}

fn sole_owner(bytes: &Bound<'_, PyBytes>) -> bool {
    // SAFETY: a valid object pointer, the GIL is held.
    unsafe { ffi::Py_REFCNT(bytes.as_ptr()) == 1 }
}
