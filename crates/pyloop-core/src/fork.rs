//! Fork detection: a runtime belongs to the process that built it. Its worker
//! state does not survive `fork()`, so the child must neither run nor drop it.

/// The pid recorded when a runtime was built.
#[derive(Debug, Clone, Copy)]
pub struct Owner(u32);

impl Owner {
    #[must_use]
    pub fn current() -> Self {
        Self(std::process::id())
    }

    /// True when called in the process that built the runtime.
    #[must_use]
    pub fn is_current(self) -> bool {
        self.0 == std::process::id()
    }

    #[must_use]
    pub fn pid(self) -> u32 {
        self.0
    }
}
