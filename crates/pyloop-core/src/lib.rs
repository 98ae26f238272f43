//! pyloop-core: the part of the event loop that needs no Python object.
//!
//! It owns the clock, the timer heap (with asyncio's exact ordering) and
//! the reactor (a Tokio current_thread runtime parked
//! until a deadline, a cross-thread wake-up or a signal). It knows nothing of
//! callbacks: `pyloop-py` decides what a timer or an inbox entry is.

pub mod clock;
pub mod deadline;
pub mod error;
pub mod fd_map;
pub mod fork;
pub mod prefetch;
pub mod reactor;
pub mod registry;
pub mod timers;

pub use clock::monotonic;
pub use error::CoreError;
pub use prefetch::prefetch;
pub use reactor::{Park, Reactor};
pub use registry::IoEvent;
pub use timers::{Timer, TimerHeap};
