//! Waiting for a deadline with better than Tokio's 1 ms resolution.
//!
//! Tokio's timer wheel rounds sleeps up to whole milliseconds, so a timer due
//! in 0.3 ms fired after 1-2 ms (p90 2.1 ms, PYLOOP_NOTES.md). On Linux the
//! reactor waits on a timerfd armed to the exact deadline instead: the kernel
//! wakes epoll when it expires, with no early wake-up and no spinning.
//! Elsewhere Tokio's sleep is used.

use std::time::Duration;

#[cfg(target_os = "linux")]
pub use linux::DeadlineTimer;

#[cfg(not(target_os = "linux"))]
pub use portable::DeadlineTimer;

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::time::Duration;

    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    struct TimerFd(OwnedFd);

    impl AsRawFd for TimerFd {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }
    }

    /// A CLOCK_MONOTONIC timerfd registered with the runtime's reactor.
    pub struct DeadlineTimer {
        fd: AsyncFd<TimerFd>,
    }

    impl DeadlineTimer {
        /// Must be called inside the runtime's context (it registers the fd).
        pub fn new() -> io::Result<Self> {
            // SAFETY: plain syscall; the result is checked before use.
            let raw = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh fd that nothing else owns.
            let owned = unsafe { OwnedFd::from_raw_fd(raw) };
            // SAFETY: TimerFd owns the fd, so it stays open and is the same
            // fd for as long as the AsyncFd lives.
            let fd = unsafe { AsyncFd::register_with_interest(TimerFd(owned), Interest::READABLE) }
                .map_err(|e| e.into_parts().1)?;
            Ok(Self { fd })
        }

        /// Arms the timer `after` from now (also resetting any expiration not
        /// yet read) and waits until it expires.
        pub async fn sleep(&self, after: Duration) -> io::Result<()> {
            // A zero it_value would disarm the timer; one nanosecond fires at once.
            let after = after.max(Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
                    tv_nsec: libc::c_long::from(
                        i32::try_from(after.subsec_nanos()).unwrap_or(999_999_999),
                    ),
                },
            };
            // SAFETY: a valid timerfd and a valid itimerspec.
            if unsafe {
                libc::timerfd_settime(
                    self.fd.as_raw_fd(),
                    0,
                    &raw const spec,
                    std::ptr::null_mut(),
                )
            } < 0
            {
                return Err(io::Error::last_os_error());
            }
            loop {
                let mut guard = self.fd.readable().await?;
                let read = guard.try_io(|fd| {
                    let mut ticks = [0u8; 8];
                    // SAFETY: reading 8 bytes into an 8-byte buffer.
                    let n = unsafe { libc::read(fd.as_raw_fd(), ticks.as_mut_ptr().cast(), 8) };
                    if n < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(())
                    }
                });
                match read {
                    Ok(result) => return result,
                    // Stale readiness from an earlier arming: keep waiting.
                    Err(_would_block) => {}
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod portable {
    use std::io;
    use std::time::Duration;

    pub struct DeadlineTimer;

    impl DeadlineTimer {
        pub fn new() -> io::Result<Self> {
            Ok(Self)
        }

        pub async fn sleep(&self, after: Duration) -> io::Result<()> {
            tokio::time::sleep(after).await;
            Ok(())
        }
    }
}

/// How long `park` may block at most (asyncio's `MAXIMUM_SELECT_TIMEOUT`).
pub const MAX_PARK: Duration = Duration::from_secs(24 * 3600);
