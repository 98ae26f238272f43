//! Maps keyed by file descriptor with a hash made for them: fds are small
//! integers, so one multiplication spreads them over the table. The standard
//! SipHash (built against collision attacks on untrusted keys) cost ~100
//! instructions per lookup, several lookups per readiness.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::os::fd::RawFd;

/// A `HashMap` from fd to `V`.
pub type FdMap<V> = HashMap<RawFd, V, BuildHasherDefault<FdHasher>>;

#[derive(Default)]
pub struct FdHasher(u64);

impl Hasher for FdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only fds are hashed here (`write_i32`); any other key still hashes.
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(FIBONACCI);
        }
    }

    fn write_i32(&mut self, fd: i32) {
        // Fibonacci hashing: the high bits, which the table also uses, vary.
        self.0 = u64::from(u32::from_ne_bytes(fd.to_ne_bytes())).wrapping_mul(FIBONACCI);
    }
}

/// 2^64 / the golden ratio.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

#[cfg(test)]
mod tests {
    use super::FdMap;

    #[test]
    fn holds_and_finds_fds() {
        let mut map = FdMap::default();
        for fd in (0..2000).chain([-1, i32::MAX]) {
            map.insert(fd, i64::from(fd) * 2);
        }
        assert_eq!(map.len(), 2002);
        assert_eq!(map.get(&1999), Some(&3998));
        assert_eq!(map.get(&-1), Some(&-2));
        assert_eq!(map.remove(&7), Some(14));
        assert_eq!(map.get(&7), None);
    }
}
