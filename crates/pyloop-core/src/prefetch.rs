//! A hint to the CPU to start loading a cache line before it is needed.
//!
//! The loop's hot walks (a timer heap pop, a batch of ready handles) touch
//! memory whose address is known a step ahead; asking for it early overlaps
//! the miss with the work of the current step. A prefetch never faults, so
//! any address, even one past the end of an allocation, is allowed.

/// Starts loading the cache line holding `ptr` (a no-op where no
/// instruction for it is wired up).
#[inline(always)]
pub fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 only hints the cache; it reads nothing and cannot
    // fault, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: PRFM is a hint; it cannot fault and changes no register or flag.
    unsafe {
        core::arch::asm!(
            "prfm pldl1keep, [{0}]",
            in(reg) ptr,
            options(nostack, readonly, preserves_flags)
        );
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = ptr;
}
