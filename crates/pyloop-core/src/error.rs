//! Errors the core can report; pyloop-py turns them into Python exceptions.

use std::fmt;

#[derive(Debug)]
pub enum CoreError {
    /// The operating system refused a resource (runtime, socket pair...).
    Io(std::io::Error),
    /// The loop was built in another process and cannot run after fork.
    Forked { owner_pid: u32 },
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Forked { owner_pid } => write!(
                f,
                "this event loop was created in process {owner_pid} and cannot run in a \
                 forked child; create a new event loop in the child"
            ),
        }
    }
}

impl std::error::Error for CoreError {}

impl From<std::io::Error> for CoreError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}
