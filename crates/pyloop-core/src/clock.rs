//! Monotonic time in f64 seconds, the same clock as Python's `time.monotonic()`,
//! so `loop.time()` can be compared with it as asyncio users do.

/// Seconds on the clock `time.monotonic()` reads.
#[must_use]
pub fn monotonic() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // CPython uses CLOCK_MONOTONIC on Linux and mach_absolute_time (the same
    // clock as CLOCK_UPTIME_RAW) on macOS.
    #[cfg(target_os = "macos")]
    let clock = libc::CLOCK_UPTIME_RAW;
    #[cfg(not(target_os = "macos"))]
    let clock = libc::CLOCK_MONOTONIC;
    // SAFETY: `ts` is a valid, writable timespec; the clock id is supported.
    unsafe {
        libc::clock_gettime(clock, &raw mut ts);
    }
    #[allow(clippy::cast_precision_loss)]
    let secs = ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9;
    secs
}

#[cfg(test)]
mod tests {
    use super::monotonic;

    #[test]
    fn never_goes_back() {
        let mut last = monotonic();
        for _ in 0..10_000 {
            let now = monotonic();
            assert!(now >= last);
            last = now;
        }
    }
}
