//! Fork detection: a runtime belongs to the process that built it. Its worker
//! state does not survive `fork()`, so the child must neither run nor drop it.
//!
//! The check runs on every loop iteration, so it reads a counter that a
//! `pthread_atfork` child handler bumps instead of asking the kernel for the
//! pid (`getpid` is a real system call in current glibc).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

/// How many forks this process is removed from the one that loaded us.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static WATCH_FORKS: Once = Once::new();
/// The handler is registered; if registering failed, compare pids instead.
static HANDLER_REGISTERED: AtomicBool = AtomicBool::new(false);

extern "C" fn forked_child() {
    // Only an atomic add: async-signal-safe, as a fork handler must be.
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The process that built a runtime: its pid (for messages) and the fork
/// generation it was built in.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pid: u32,
    generation: u64,
}

impl Owner {
    #[must_use]
    pub fn current() -> Self {
        WATCH_FORKS.call_once(|| {
            // SAFETY: registers a handler with no preconditions; it only
            // touches an atomic.
            let status = unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
            HANDLER_REGISTERED.store(status == 0, Ordering::Relaxed);
        });
        Self {
            pid: std::process::id(),
            generation: FORK_GENERATION.load(Ordering::Relaxed),
        }
    }

    /// True when called in the process that built the runtime.
    #[must_use]
    pub fn is_current(self) -> bool {
        if HANDLER_REGISTERED.load(Ordering::Relaxed) {
            self.generation == FORK_GENERATION.load(Ordering::Relaxed)
        } else {
            self.pid == std::process::id()
        }
    }

    #[must_use]
    pub fn pid(self) -> u32 {
        self.pid
    }
}
