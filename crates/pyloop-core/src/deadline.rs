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

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::task::{ready, Context, Poll};

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
        /// The deadline the timerfd is armed for (`f64::to_bits`), 0 when
        /// disarmed or expired: a wait for the same deadline as the last one
        /// (a pending timer over many loop iterations) re-arms nothing.
        armed: AtomicU64,
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
            Ok(Self {
                fd,
                armed: AtomicU64::new(0),
            })
        }

        /// Arms the timer for `when` on the monotonic clock (unless it is
        /// armed for it already); Ready once it expired.
        pub fn poll_until(&self, cx: &mut Context<'_>, when: f64) -> Poll<io::Result<()>> {
            if self.armed.load(Ordering::Relaxed) != when.to_bits() {
                if let Err(err) = self.arm(when) {
                    return Poll::Ready(Err(err));
                }
            }
            let expired = ready!(self.poll_expired(cx));
            self.armed.store(0, Ordering::Relaxed);
            Poll::Ready(expired)
        }

        /// Sets the absolute expiration (resetting any not yet read).
        fn arm(&self, when: f64) -> io::Result<()> {
            // Zero would disarm the timer; a moment in the past fires at once.
            let at = Duration::try_from_secs_f64(when)
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: libc::time_t::try_from(at.as_secs()).unwrap_or(libc::time_t::MAX),
                    tv_nsec: libc::c_long::from(
                        i32::try_from(at.subsec_nanos()).unwrap_or(999_999_999),
                    ),
                },
            };
            // SAFETY: a valid timerfd and a valid itimerspec.
            if unsafe {
                libc::timerfd_settime(
                    self.fd.as_raw_fd(),
                    libc::TFD_TIMER_ABSTIME,
                    &raw const spec,
                    std::ptr::null_mut(),
                )
            } < 0
            {
                self.armed.store(0, Ordering::Relaxed);
                return Err(io::Error::last_os_error());
            }
            self.armed.store(when.to_bits(), Ordering::Relaxed);
            Ok(())
        }

        fn poll_expired(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            loop {
                let mut guard = ready!(self.fd.poll_read_ready(cx))?;
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
                    Ok(result) => return Poll::Ready(result),
                    // Stale readiness from an earlier arming: keep waiting.
                    Err(_would_block) => {}
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod portable {
    use std::future::Future;
    use std::io;
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::task::{Context, Poll};
    use std::time::Duration;

    /// Tokio's sleep, kept while the loop waits for the same deadline.
    #[derive(Default)]
    pub struct DeadlineTimer(Mutex<Option<(f64, Pin<Box<tokio::time::Sleep>>)>>);

    impl DeadlineTimer {
        pub fn new() -> io::Result<Self> {
            Ok(Self::default())
        }

        pub fn poll_until(&self, cx: &mut Context<'_>, when: f64) -> Poll<io::Result<()>> {
            let mut slot = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if slot.as_ref().is_none_or(|(armed, _)| *armed != when) {
                let after = Duration::try_from_secs_f64(when - crate::monotonic())
                    .unwrap_or(Duration::ZERO);
                *slot = Some((when, Box::pin(tokio::time::sleep(after))));
            }
            let Some((_, sleep)) = slot.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            *slot = None;
            Poll::Ready(Ok(()))
        }
    }
}

/// How long `park` may block at most (asyncio's `MAXIMUM_SELECT_TIMEOUT`).
pub const MAX_PARK: Duration = Duration::from_secs(24 * 3600);
