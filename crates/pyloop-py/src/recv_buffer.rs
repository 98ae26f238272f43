//! The loop's receive buffer: native reads land here before they become
//! a bytes object.
//!
//! It starts on a page boundary. glibc hands out large blocks 16 bytes into
//! a page, and the kernel's copy into a buffer at that offset measured
//! 2.5x slower per 100 KiB read than into an aligned one (PYLOOP_NOTES.md).

const PAGE: usize = 4096;

#[derive(Default)]
pub struct RecvBuffer {
    storage: Vec<u8>,
    start: usize,
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
}
