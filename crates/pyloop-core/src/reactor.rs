//! The reactor: one Tokio current_thread runtime per loop, driven only by the
//! loop's own thread, inside `drive` (one `block_on` per run of the loop).
//!
//! Between two steps of the loop, `drive` waits (step 2 of an iteration) for
//! a ready fd, a cross-thread wake-up, a signal byte on the wake-up socket, or
//! the deadline, whichever comes first. Nothing here sleeps a fixed interval;
//! an idle loop blocks in the kernel. The caller releases the GIL around
//! `drive` (a Tokio task never needs it) and each step takes it back.

use std::io::ErrorKind;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, RawFd};
use std::task::Poll;

use std::io::Read;
use std::os::unix::net::UnixStream;
use tokio::runtime::{Builder, Runtime};

use crate::deadline::{DeadlineTimer, MAX_PARK};
use crate::error::CoreError;
use crate::fork::Owner;
use crate::registry::{IoEvent, IoRegistry, RemoteWaker};

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Park {
    /// The timeout ran out (or was zero).
    TimedOut,
    /// Another thread called `Waker::wake`.
    Woken,
    /// A signal handler wrote to the wake-up socket: check Python signals.
    Signalled,
    /// Watched fds became ready; the events were appended to the caller's list.
    Io,
}

/// What the loop asks of `Reactor::drive` after a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next<R> {
    /// Collect fd readiness without waiting, then step.
    PollIo,
    /// Wait for an fd, a wake-up, a signal or the deadline (a time of the
    /// monotonic clock; None: none), then step.
    Wait(Option<f64>),
    /// Leave `drive` with this.
    Done(R),
}

/// What `drive` waits for between two steps.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Waiting {
    /// A zero-timeout driver turn, not yet asked for.
    Turn,
    /// The turn was asked for: whatever it found ends the wait.
    Turned,
    Until(Option<f64>),
}

/// A lock the caller of `Reactor::drive` holds across its steps and lets go
/// of only while the thread may block in Tokio (the GIL, for the loop):
/// `release` just before `drive` hands control to Tokio's scheduler for a
/// wait that may block, `acquire` before the next step. Calls come in pairs,
/// never two of one kind in a row. Between the two, only Tokio's driver and
/// this crate's registry run on the thread.
pub trait Gate {
    fn release(&mut self);
    fn acquire(&mut self);
}

/// No lock to let go of (the core's own tests).
impl Gate for () {
    fn release(&mut self) {}
    fn acquire(&mut self) {}
}

/// (A zero-timeout turn is asked for by waking the `block_on` future from
/// its own poll: Tokio's current_thread scheduler (pinned at 1.54.1) then
/// parks with a zero timeout, `park_yield`, as it does for `yield_now`,
/// whose deferred waker costs a thread-local lookup and a queue push more.
/// `one_io_poll_reports_an_fd_watched_with_data_already_there` hangs if a
/// self-wake ever blocks instead.)
///
/// Whether a wait starts with a zero-timeout turn of the I/O driver, the
/// gate still held, and is let go of only if that turn found nothing.
/// A busy loop (an echo: the peer's answer is in the socket by the time the
/// step ends) then never releases the gate; the GIL hand-off was ~400
/// instructions of every wake-up. A turn that finds nothing costs one
/// `epoll_wait` more before the blocking one, so after each miss the next
/// 1, 3, 7 ... `MAX_SKIPPED` waits block at once; a hit starts over.
#[derive(Default)]
struct TurnFirst {
    /// Waits still to skip the turn.
    skip: u32,
    /// How many the last miss skipped.
    backoff: u32,
    /// The wait under way began with a turn.
    tried: bool,
}

const MAX_SKIPPED: u32 = 63;

impl TurnFirst {
    /// Whether the wait about to begin starts with a turn.
    fn now(&mut self) -> bool {
        if self.skip == 0 {
            self.tried = true;
        } else {
            self.skip -= 1;
        }
        self.tried
    }

    /// The first look at a wait's events: whether it ended the wait.
    fn outcome(&mut self, ended: bool) {
        if std::mem::take(&mut self.tried) {
            if ended {
                self.backoff = 0;
            } else {
                self.backoff = (self.backoff * 2 + 1).min(MAX_SKIPPED);
                self.skip = self.backoff;
            }
        }
    }
}

/// Wakes a parked reactor from any thread. A wake while nobody parks is
/// kept and ends the next park at once, so one that races with the loop
/// going to sleep is never lost.
pub type Waker = RemoteWaker;

pub struct Reactor {
    // ManuallyDrop: in a forked child these must be leaked, not dropped (the
    // runtime's threads and the epoll set belong to the parent).
    runtime: ManuallyDrop<Runtime>,
    /// Watched through the registry like any fd: one wait fewer per park
    /// than a future of its own.
    signal_rx: ManuallyDrop<UnixStream>,
    deadline: ManuallyDrop<DeadlineTimer>,
    registry: ManuallyDrop<IoRegistry>,
    signal_tx: std::os::unix::net::UnixStream,
    /// The signal numbers that came through the wake-up socket since
    /// `take_signals`, in order, as CPython's C handler writes them: the
    /// loop's own handlers are run from these, as asyncio's are.
    arrived: std::sync::Mutex<Vec<u8>>,
    /// `arrived` may be non-empty: the per-iteration check costs no lock.
    any_arrived: std::sync::atomic::AtomicBool,
    owner: Owner,
}

impl Reactor {
    pub fn new() -> Result<Self, CoreError> {
        let mut builder = Builder::new_current_thread();
        builder.enable_io();
        // Deadlines are a timerfd on Linux; Tokio's timer wheel would only
        // add its own bookkeeping to every park.
        #[cfg(not(target_os = "linux"))]
        builder.enable_time();
        let runtime = builder.build()?;
        let (rx, tx) = std::os::unix::net::UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        let registry = IoRegistry::default();
        let deadline = {
            let _guard = runtime.enter();
            registry.watch_reserved(rx.as_raw_fd())?;
            DeadlineTimer::new()?
        };
        Ok(Self {
            runtime: ManuallyDrop::new(runtime),
            signal_rx: ManuallyDrop::new(rx),
            deadline: ManuallyDrop::new(deadline),
            registry: ManuallyDrop::new(registry),
            signal_tx: tx,
            arrived: std::sync::Mutex::default(),
            any_arrived: std::sync::atomic::AtomicBool::new(false),
            owner: Owner::current(),
        })
    }

    #[must_use]
    pub fn waker(&self) -> Waker {
        self.registry.remote_waker()
    }

    /// The socket to hand to `signal.set_wakeup_fd`.
    #[must_use]
    pub fn signal_fd(&self) -> RawFd {
        self.signal_tx.as_raw_fd()
    }

    /// Fails with `CoreError::Forked` in a child of the process that built it.
    pub fn check_owner(&self) -> Result<(), CoreError> {
        if self.owner.is_current() {
            Ok(())
        } else {
            Err(CoreError::Forked {
                owner_pid: self.owner.pid(),
            })
        }
    }

    /// Starts watching `fd` for reading (`read`) or writing.
    pub fn watch(&self, fd: RawFd, read: bool) -> Result<(), CoreError> {
        self.watch_with(fd, read, false)
    }

    /// `watch`; `reads_only`: the fd's writes seldom wait (a datagram
    /// socket), see `IoRegistry::watch_with`.
    pub fn watch_with(&self, fd: RawFd, read: bool, reads_only: bool) -> Result<(), CoreError> {
        self.check_owner()?;
        let _guard = self.runtime.enter();
        Ok(self.registry.watch_with(fd, read, reads_only)?)
    }

    /// Stops watching `fd` for reading or writing; deregisters it when idle.
    pub fn unwatch(&self, fd: RawFd, read: bool) -> Result<(), CoreError> {
        self.check_owner()?;
        let _guard = self.runtime.enter();
        Ok(self.registry.unwatch(fd, read)?)
    }

    /// `fd` is about to be closed: drops its idle registration, if any
    /// (see `IoRegistry::forget`).
    pub fn forget(&self, fd: RawFd) {
        if self.owner.is_current() {
            let _guard = self.runtime.enter();
            self.registry.forget(fd);
        }
    }

    /// `fd` ran dry for reading or writing (see `IoRegistry::drained`).
    pub fn drained(&self, fd: RawFd, read: bool) {
        if self.owner.is_current() {
            self.registry.drained(fd, read);
        }
    }

    /// Deregisters every watched fd.
    pub fn unwatch_all(&self) {
        if self.owner.is_current() {
            let _guard = self.runtime.enter();
            self.registry.clear();
        }
    }

    #[must_use]
    pub fn watches_fds(&self) -> bool {
        !self.registry.is_empty()
    }

    /// Runs the loop inside one `block_on`: `step` is called, says what to
    /// wait for (`Next`), and is called again when that came, with the
    /// ready fds in `events` and why the wait ended. Waiting is returning
    /// Pending to Tokio's scheduler, which blocks in epoll until a waker
    /// fires; entering the runtime once per run, not once per wait, is what
    /// makes a wait cheap (it was ~40 % of a small echo round trip).
    ///
    /// `step` runs inside the runtime's context: what it calls must not
    /// `block_on` a pyloop runtime (the loop refuses to run inside another
    /// running loop) or drop one the blocking way (`Drop` below does not).
    /// `gate` is held while `step` runs and while the I/O driver turns with
    /// a zero timeout (`Next::PollIo`); it is released only for a wait that
    /// may block, and taken back before the next step. A panic while it is
    /// released unwinds through here with it released: the `Gate` must
    /// take it back when dropped.
    /// The poll is outside Tokio's cooperative budget: one registry poll may
    /// look at hundreds of fds, and with the budget spent half-way the rest
    /// were answered Pending and never looked at again (500 echo pairs hung;
    /// tests/test_sock_stress.py).
    pub fn drive<R>(
        &self,
        events: &mut Vec<IoEvent>,
        gate: &mut impl Gate,
        mut step: impl FnMut(&mut Vec<IoEvent>, Option<Park>) -> Next<R>,
    ) -> Result<R, CoreError> {
        self.check_owner()?;
        let mut waiting: Option<Waiting> = None;
        let mut woke: Option<Park> = None;
        let mut released = false;
        let mut turn_first = TurnFirst::default();
        let done = self
            .runtime
            .block_on(tokio::task::unconstrained(std::future::poll_fn(
                |cx| loop {
                    if let Some(wait) = waiting {
                        if wait == Waiting::Turn {
                            // A self-wake: the scheduler, seeing the future
                            // woken, turns the I/O driver with a zero timeout
                            // (`park_yield`), then polls us again. The
                            // registry is polled after the turn only, so no
                            // fd is reported twice and nothing (not a wake-up
                            // left by `stop`, say) ends the poll before it.
                            cx.waker().wake_by_ref();
                            waiting = Some(Waiting::Turned);
                            return Poll::Pending;
                        }
                        // The registry poll comes first: it stores the waker
                        // the wake request and the fds need.
                        let io = self.registry.poll_events(cx, events);
                        let ended = if self.registry.take_wake_request() {
                            Some(Park::Woken)
                        } else if io.is_ready() {
                            Some(Park::Io)
                        } else {
                            match wait {
                                // The zero-timeout driver turn has been made.
                                Waiting::Turned => Some(Park::TimedOut),
                                Waiting::Turn | Waiting::Until(None) => None,
                                // An error arming the timer ends the wait: the
                                // step recomputes it, so nothing is lost.
                                Waiting::Until(Some(t)) => self
                                    .deadline
                                    .poll_until(cx, t)
                                    .is_ready()
                                    .then_some(Park::TimedOut),
                            }
                        };
                        turn_first.outcome(ended.is_some());
                        let Some(ended) = ended else {
                            if !released {
                                released = true;
                                gate.release();
                            }
                            return Poll::Pending;
                        };
                        if released {
                            released = false;
                            gate.acquire();
                        }
                        waiting = None;
                        woke = Some(self.settle_signal(ended, events));
                    }
                    match step(events, woke.take()) {
                        Next::Done(out) => return Poll::Ready(out),
                        Next::PollIo => waiting = Some(Waiting::Turn),
                        Next::Wait(deadline) => {
                            // The clock is read only for a deadline: a wait
                            // for I/O alone (an echo's) needs none.
                            let capped = deadline
                                .map(|t| t.min(crate::monotonic() + MAX_PARK.as_secs_f64()));
                            waiting = Some(Waiting::Until(capped));
                            if turn_first.now() {
                                // A zero-timeout turn first, with the gate
                                // held: in a busy loop it finds the next
                                // event, and the wait needs no release.
                                cx.waker().wake_by_ref();
                                return Poll::Pending;
                            }
                        }
                    }
                },
            )));
        Ok(done)
    }

    /// Why a wait ended, with the wake-up socket's event taken out of
    /// `events`: Signalled when it was all there was and a byte came.
    fn settle_signal(&self, woke: Park, events: &mut Vec<IoEvent>) -> Park {
        match (woke, self.take_signal_event(events)) {
            (Park::Io, Some(signalled)) if events.is_empty() => {
                if signalled {
                    Park::Signalled
                } else {
                    // Readiness was stale: nothing was written.
                    Park::TimedOut
                }
            }
            _ => woke,
        }
    }

    /// Takes the wake-up socket's event out of `events`, draining the socket:
    /// None if it had none, else whether any byte was there.
    fn take_signal_event(&self, events: &mut Vec<IoEvent>) -> Option<bool> {
        let fd = self.signal_rx.as_raw_fd();
        let at = events.iter().position(|e| e.fd == fd)?;
        events.swap_remove(at);
        let drained = self.drain_signal_bytes();
        self.registry.drained(fd, true);
        Some(drained)
    }

    /// Empties the wake-up socket, noting the signal numbers read; true if
    /// any byte was there.
    fn drain_signal_bytes(&self) -> bool {
        let mut buf = [0u8; 256];
        let mut any = false;
        loop {
            match (&*self.signal_rx).read(&mut buf) {
                Ok(0) => return any,
                Ok(n) => {
                    any = true;
                    // 0 is no signal (a plain wake-up byte).
                    self.arrived_signals()
                        .extend(buf[..n].iter().filter(|&&sig| sig != 0));
                    self.any_arrived
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return any,
            }
        }
    }

    /// The signal numbers read from the wake-up socket since the last call,
    /// in the order they came.
    pub fn take_signals(&self) -> Vec<u8> {
        if !self
            .any_arrived
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return Vec::new();
        }
        std::mem::take(&mut *self.arrived_signals())
    }

    fn arrived_signals(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // Only pushes and takes happen under it: a panic leaves a whole Vec.
        self.arrived
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        if self.owner.is_current() {
            // SAFETY: each field is dropped exactly once, here, and never used again.
            let runtime = unsafe {
                ManuallyDrop::drop(&mut self.registry);
                ManuallyDrop::drop(&mut self.deadline);
                ManuallyDrop::drop(&mut self.signal_rx);
                ManuallyDrop::take(&mut self.runtime)
            };
            // Not a plain drop: that waits for the blocking pool, which Tokio
            // refuses (a panic) inside another runtime's context, and a loop
            // may be dropped from a callback of another loop's `drive`.
            runtime.shutdown_background();
        }
    }
}

/// One-wait uses of `drive`, for the unit tests below (the loop drives a
/// whole run through `drive` itself).
#[cfg(test)]
impl Reactor {
    /// Collects fd readiness without blocking: one zero-timeout turn of the
    /// I/O driver.
    pub fn poll_io(&self, events: &mut Vec<IoEvent>) -> Result<(), CoreError> {
        if self.registry.is_empty() {
            return Ok(());
        }
        let mut asked = false;
        self.drive(events, &mut (), |_, _| {
            if std::mem::replace(&mut asked, true) {
                Next::Done(())
            } else {
                Next::PollIo
            }
        })
    }

    /// Blocks until woken, signalled, a watched fd is ready, or `timeout`
    /// (None: no deadline) passes. Ready fds are appended to `events`.
    pub fn park(
        &self,
        timeout: Option<std::time::Duration>,
        events: &mut Vec<IoEvent>,
    ) -> Result<Park, CoreError> {
        let deadline = timeout.map(|t| crate::monotonic() + t.min(MAX_PARK).as_secs_f64());
        self.park_until(deadline, events)
    }

    /// `park` with the deadline as a time of the monotonic clock (None: no
    /// deadline): one wait of `drive`.
    pub fn park_until(
        &self,
        deadline: Option<f64>,
        events: &mut Vec<IoEvent>,
    ) -> Result<Park, CoreError> {
        self.drive(events, &mut (), |_, woke| match woke {
            None => Next::Wait(deadline),
            Some(woke) => Next::Done(woke),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Gate, Next, Park, Reactor, TurnFirst};
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    #[test]
    fn times_out() {
        let r = Reactor::new().unwrap();
        assert_eq!(
            r.park(Some(Duration::from_millis(5)), &mut Vec::new())
                .unwrap(),
            Park::TimedOut
        );
    }

    #[test]
    fn sub_millisecond_deadline_never_wakes_early() {
        let r = Reactor::new().unwrap();
        for _ in 0..20 {
            let start = Instant::now();
            assert_eq!(
                r.park(Some(Duration::from_micros(200)), &mut Vec::new())
                    .unwrap(),
                Park::TimedOut
            );
            let took = start.elapsed();
            assert!(took >= Duration::from_micros(200), "woke early: {took:?}");
        }
    }

    #[test]
    fn an_interrupted_deadline_does_not_fire_later() {
        let r = Reactor::new().unwrap();
        r.waker().wake();
        assert_eq!(
            r.park(Some(Duration::from_millis(1)), &mut Vec::new())
                .unwrap(),
            Park::Woken
        );
        std::thread::sleep(Duration::from_millis(5));
        // The expired timer from the first park must not end this one early.
        let start = Instant::now();
        assert_eq!(
            r.park(Some(Duration::from_millis(20)), &mut Vec::new())
                .unwrap(),
            Park::TimedOut
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn zero_timeout_returns_at_once() {
        let r = Reactor::new().unwrap();
        assert_eq!(
            r.park(Some(Duration::ZERO), &mut Vec::new()).unwrap(),
            Park::TimedOut
        );
    }

    /// Wakes `r` from another thread after 20 ms.
    fn wake_soon(r: &Reactor) -> std::thread::JoinHandle<()> {
        let w = r.waker();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w.wake();
        })
    }

    #[test]
    fn woken_from_another_thread() {
        let r = Reactor::new().unwrap();
        let t = wake_soon(&r);
        // No deadline: only the other thread's wake can end this park.
        assert_eq!(r.park(None, &mut Vec::new()).unwrap(), Park::Woken);
        t.join().unwrap();
    }

    /// A gate that logs its calls and says whether it is held.
    #[derive(Default)]
    struct Recorder {
        released: bool,
        log: Vec<&'static str>,
    }

    impl Gate for Recorder {
        fn release(&mut self) {
            assert!(!self.released, "released twice");
            self.released = true;
            self.log.push("release");
        }

        fn acquire(&mut self) {
            assert!(self.released, "acquired while held");
            self.released = false;
            self.log.push("acquire");
        }
    }

    #[test]
    fn a_wait_that_may_block_runs_with_the_gate_released() {
        let r = Reactor::new().unwrap();
        let t = wake_soon(&r);
        let gate = std::cell::RefCell::new(Recorder::default());
        let mut steps = 0;
        let woke = r
            .drive(&mut Vec::new(), &mut GateRef(&gate), |_, woke| {
                // Every step runs with the gate held.
                assert!(!gate.borrow().released);
                steps += 1;
                match woke {
                    None => Next::Wait(None),
                    Some(woke) => Next::Done(woke),
                }
            })
            .unwrap();
        t.join().unwrap();
        assert_eq!(woke, Park::Woken);
        assert_eq!(steps, 2);
        assert_eq!(gate.borrow().log, ["release", "acquire"]);
    }

    #[test]
    fn a_wait_whose_first_turn_finds_io_keeps_the_gate() {
        let r = Reactor::new().unwrap();
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        r.watch(a.as_raw_fd(), true).unwrap();
        b.write_all(b"x").unwrap();
        let mut gate = Recorder::default();
        let mut events = Vec::new();
        let woke = r
            .drive(&mut events, &mut gate, |_, woke| match woke {
                None => Next::Wait(None),
                Some(woke) => Next::Done(woke),
            })
            .unwrap();
        assert_eq!(woke, Park::Io);
        assert_eq!(events.len(), 1);
        assert!(gate.log.is_empty(), "{:?}", gate.log);
    }

    #[test]
    fn a_missed_first_turn_is_skipped_by_the_next_waits() {
        let mut t = TurnFirst::default();
        let mut pattern = Vec::new();
        // Every wait misses: 1, 3, 7 ... waits are skipped after each miss.
        for _ in 0..20 {
            let tried = t.now();
            pattern.push(tried);
            t.outcome(false);
        }
        let tried_at: Vec<usize> = (0..20).filter(|&i| pattern[i]).collect();
        assert_eq!(tried_at, [0, 2, 6, 14]);
        // A hit starts over: the next wait turns first again.
        while !t.now() {
            t.outcome(false);
        }
        t.outcome(true);
        assert!(t.now());
        t.outcome(true);
        assert!(t.now());
    }

    /// Shares a `Recorder` with the step that checks it.
    struct GateRef<'a>(&'a std::cell::RefCell<Recorder>);

    impl Gate for GateRef<'_> {
        fn release(&mut self) {
            self.0.borrow_mut().release();
        }

        fn acquire(&mut self) {
            self.0.borrow_mut().acquire();
        }
    }

    #[test]
    fn wake_before_park_is_not_lost() {
        let r = Reactor::new().unwrap();
        r.waker().wake();
        assert_eq!(r.park(None, &mut Vec::new()).unwrap(), Park::Woken);
    }

    #[test]
    fn signal_byte_wakes_and_is_drained() {
        let r = Reactor::new().unwrap();
        let fd = r.signal_fd();
        // Write as CPython's C signal handler would: one byte on the fd.
        let mut tx = std::mem::ManuallyDrop::new(unsafe {
            <std::os::unix::net::UnixStream as std::os::fd::FromRawFd>::from_raw_fd(fd)
        });
        tx.write_all(&[2, 15, 0, 2]).unwrap();
        assert_eq!(r.park(None, &mut Vec::new()).unwrap(), Park::Signalled);
        // Every number, in order; the 0 of a plain wake-up is none.
        assert_eq!(r.take_signals(), vec![2, 15, 2]);
        assert!(r.take_signals().is_empty());
        assert_eq!(
            r.park(Some(Duration::from_millis(1)), &mut Vec::new())
                .unwrap(),
            Park::TimedOut
        );
    }
}

#[cfg(test)]
mod io_tests {
    use super::{IoEvent, Park, Reactor};
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    #[test]
    fn readable_fd_wakes_park_and_stays_ready_until_drained() {
        let r = Reactor::new().unwrap();
        let (mut a, mut b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        r.watch(b.as_raw_fd(), true).unwrap();
        let mut events = Vec::new();
        assert_eq!(
            r.park(Some(Duration::from_millis(20)), &mut events)
                .unwrap(),
            Park::TimedOut
        );
        assert!(events.is_empty());
        a.write_all(b"x").unwrap();
        assert_eq!(r.park(None, &mut events).unwrap(), Park::Io);
        assert_eq!(events.len(), 1);
        assert!(events[0].readable && !events[0].writable);
        // Level-triggered: not drained, so reported again.
        events.clear();
        r.poll_io(&mut events).unwrap();
        assert_eq!(events.len(), 1);
        let mut buf = [0u8; 8];
        assert_eq!(b.read(&mut buf).unwrap(), 1);
        events.clear();
        r.poll_io(&mut events).unwrap();
        assert!(events.is_empty());
    }

    #[test]
    fn reader_and_writer_share_one_registration() {
        let r = Reactor::new().unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        r.watch(b.as_raw_fd(), true).unwrap();
        r.watch(b.as_raw_fd(), false).unwrap();
        a.write_all(b"x").unwrap();
        let mut events = Vec::new();
        assert_eq!(r.park(None, &mut events).unwrap(), Park::Io);
        assert!(events[0].readable && events[0].writable);
        r.unwatch(b.as_raw_fd(), true).unwrap();
        events.clear();
        r.poll_io(&mut events).unwrap();
        assert!(!events[0].readable && events[0].writable);
        r.unwatch(b.as_raw_fd(), false).unwrap();
        assert!(!r.watches_fds());
    }

    #[test]
    fn one_ready_fd_among_hundreds_is_reported() {
        // More fds than Tokio's cooperative budget (128) in one poll; only
        // the woken fd is looked at and reported.
        let r = Reactor::new().unwrap();
        let pairs: Vec<_> = (0..300).map(|_| UnixStream::pair().unwrap()).collect();
        for (_, b) in &pairs {
            r.watch(b.as_raw_fd(), true).unwrap();
        }
        let mut events = Vec::new();
        assert_eq!(
            r.park(Some(Duration::from_millis(10)), &mut events)
                .unwrap(),
            Park::TimedOut
        );
        let (mut a, b) = (&pairs[250].0, &pairs[250].1);
        a.write_all(b"x").unwrap();
        assert_eq!(r.park(None, &mut events).unwrap(), Park::Io);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].fd, b.as_raw_fd());
    }

    #[test]
    fn error_condition_alone_wakes_a_reader_until_it_is_consumed() {
        // A connected UDP socket that sent to a closed port gets an ICMP
        // error: EPOLLERR without EPOLLIN.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        sock.connect(("127.0.0.1", port)).unwrap();
        let r = Reactor::new().unwrap();
        r.watch(sock.as_raw_fd(), true).unwrap();
        let mut events = Vec::new();
        r.poll_io(&mut events).unwrap();
        assert!(events.is_empty());
        sock.send(b"anyone?").unwrap();
        assert_eq!(
            r.park(Some(Duration::from_secs(5)), &mut events).unwrap(),
            Park::Io
        );
        assert!(events[0].readable && !events[0].writable);
        // Level-triggered: still reported until a call takes the error.
        events.clear();
        r.poll_io(&mut events).unwrap();
        assert_eq!(events.len(), 1);
        let err = sock.recv(&mut [0u8; 16]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        events.clear();
        r.poll_io(&mut events).unwrap();
        assert!(events.is_empty());
        // And the next error is heard again.
        sock.send(b"still?").unwrap();
        assert_eq!(
            r.park(Some(Duration::from_secs(5)), &mut events).unwrap(),
            Park::Io
        );
        assert!(events[0].readable);
        r.unwatch(sock.as_raw_fd(), true).unwrap();
    }

    #[test]
    fn pipe_write_end_watched_for_reading_sees_its_reader_close() {
        // EPOLLERR alone, for good: reported readable at every poll (as
        // asyncio's selectors do), without spinning inside one poll.
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let [read_end, write_end] = fds;
        let r = Reactor::new().unwrap();
        r.watch(write_end, true).unwrap();
        let mut events = Vec::new();
        r.poll_io(&mut events).unwrap();
        assert!(events.is_empty());
        unsafe { libc::close(read_end) };
        assert_eq!(
            r.park(Some(Duration::from_secs(5)), &mut events).unwrap(),
            Park::Io
        );
        assert!(events[0].readable);
        for _ in 0..3 {
            events.clear();
            r.poll_io(&mut events).unwrap();
            assert_eq!(events.len(), 1);
        }
        r.unwatch(write_end, true).unwrap();
        unsafe { libc::close(write_end) };
    }

    #[test]
    fn a_drained_fd_is_quiet_until_new_data_wakes_it() {
        let r = Reactor::new().unwrap();
        let (mut a, _b) = native_reader(&r);
        let mut events = Vec::new();
        assert_eq!(
            r.park(Some(Duration::from_millis(10)), &mut events)
                .unwrap(),
            Park::TimedOut
        );
        assert!(events.is_empty());
        // No recheck is queued for it: only Tokio's waker can bring it back.
        a.write_all(b"y").unwrap();
        assert_eq!(
            r.park(Some(Duration::from_secs(5)), &mut events).unwrap(),
            Park::Io
        );
        assert_eq!(events.len(), 1);
    }

    /// A reader that has said `drained` once (as native transports do), so
    /// its readinesses are cleared in Tokio when handed out.
    fn native_reader(r: &Reactor) -> (UnixStream, UnixStream) {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        r.watch(b.as_raw_fd(), true).unwrap();
        a.write_all(b"w").unwrap();
        assert_eq!(r.park(None, &mut Vec::new()).unwrap(), Park::Io);
        assert_eq!(b.read(&mut [0u8; 8]).unwrap(), 1);
        r.drained(b.as_raw_fd(), true);
        (a, b)
    }

    #[test]
    fn a_reader_handed_out_is_told_again_only_while_data_is_left() {
        // Tokio's readiness was cleared when handed out: a reader that does
        // not say `drained` this time is checked with poll(2).
        let r = Reactor::new().unwrap();
        let (mut a, mut b) = native_reader(&r);
        let mut events = Vec::new();
        a.write_all(b"xy").unwrap();
        assert_eq!(r.park(None, &mut events).unwrap(), Park::Io);
        assert_eq!(b.read(&mut [0u8; 1]).unwrap(), 1);
        events.clear();
        r.poll_io(&mut events).unwrap();
        assert_eq!(events.len(), 1, "data left: reported again");
        assert_eq!(b.read(&mut [0u8; 8]).unwrap(), 1);
        events.clear();
        r.poll_io(&mut events).unwrap();
        assert!(events.is_empty(), "read dry: quiet");
        a.write_all(b"z").unwrap();
        assert_eq!(
            r.park(Some(Duration::from_secs(5)), &mut events).unwrap(),
            Park::Io
        );
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn a_closed_peer_is_reported_again_after_a_short_read_said_drained() {
        // Tokio keeps a closed direction ready and holds no waker for it, so
        // `drained` must not take the fd for quiet (the end of file would
        // never be reported: a hang).
        let r = Reactor::new().unwrap();
        let (mut a, mut b) = native_reader(&r);
        a.write_all(b"x").unwrap();
        drop(a);
        let mut events = Vec::new();
        let patience = Some(Duration::from_secs(5));
        assert_eq!(r.park(patience, &mut events).unwrap(), Park::Io);
        assert_eq!(b.read(&mut [0u8; 8]).unwrap(), 1);
        r.drained(b.as_raw_fd(), true);
        events.clear();
        assert_eq!(r.park(patience, &mut events).unwrap(), Park::Io);
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn a_reader_paused_with_data_left_hears_it_when_resumed() {
        // A transport pauses reading after one read that left data: Tokio's
        // readiness was cleared at hand-out and no new edge comes, so the
        // resumed reader must be told by poll(2).
        let r = Reactor::new().unwrap();
        let (mut a, mut b) = native_reader(&r);
        // The writer keeps the registration while the reader is away.
        r.watch(b.as_raw_fd(), false).unwrap();
        a.write_all(b"xy").unwrap();
        let readable = |events: &mut Vec<IoEvent>| {
            // The writer is ready at every look; a few looks let the
            // driver turn and hand the reader its readiness.
            (0..5).any(|_| {
                events.clear();
                r.poll_io(events).unwrap();
                events.iter().any(|e| e.readable)
            })
        };
        let mut events = Vec::new();
        assert!(readable(&mut events));
        assert_eq!(b.read(&mut [0u8; 1]).unwrap(), 1);
        r.unwatch(b.as_raw_fd(), true).unwrap();
        r.watch(b.as_raw_fd(), true).unwrap();
        assert!(readable(&mut events), "the byte left is not reported");
    }

    #[test]
    fn a_writer_widens_a_read_only_registration_and_its_reader_keeps_its_data() {
        // A datagram socket is registered for reading alone; the first
        // writer re-registers it for both directions. A datagram left unread
        // across that is still reported, and writability is.
        let r = Reactor::new().unwrap();
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        let fd = a.as_raw_fd();
        r.watch_with(fd, true, true).unwrap();
        b.send_to(b"one", a.local_addr().unwrap()).unwrap();
        let mut events = Vec::new();
        let long = Some(Duration::from_secs(5));
        assert_eq!(r.park(long, &mut events).unwrap(), Park::Io);
        assert_eq!(
            events,
            [IoEvent {
                fd,
                readable: true,
                writable: false
            }]
        );
        r.drained(fd, true); // said, though the datagram is left unread
        events.clear();
        r.watch_with(fd, false, true).unwrap();
        assert_eq!(r.park(long, &mut events).unwrap(), Park::Io);
        assert_eq!(
            events,
            [IoEvent {
                fd,
                readable: true,
                writable: true
            }]
        );
        let mut buf = [0u8; 8];
        assert_eq!(a.recv(&mut buf).unwrap(), 3);
        r.drained(fd, true);
        r.unwatch(fd, false).unwrap();
        events.clear();
        let quiet = Some(Duration::from_millis(20));
        assert_eq!(r.park(quiet, &mut events).unwrap(), Park::TimedOut);
        assert!(events.is_empty());
        // Still heard for reading after the widening.
        b.send_to(b"two", a.local_addr().unwrap()).unwrap();
        assert_eq!(r.park(long, &mut events).unwrap(), Park::Io);
        assert_eq!(
            events,
            [IoEvent {
                fd,
                readable: true,
                writable: false
            }]
        );
    }

    #[test]
    fn a_writer_added_again_is_not_told_of_old_writability() {
        // One registration covers both directions, so Tokio hears the
        // socket turn writable while no writer watches; once the buffer is
        // full again, a new writer must not get that stale readiness.
        let r = Reactor::new().unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let fill = |a: &mut UnixStream| while a.write(&[0u8; 4096]).is_ok() {};
        let drain = || (&b).read(&mut vec![0u8; 1 << 20]).unwrap();
        let quiet = Some(Duration::from_millis(20));
        r.watch(a.as_raw_fd(), true).unwrap();
        fill(&mut a);
        r.watch(a.as_raw_fd(), false).unwrap();
        let mut events = Vec::new();
        assert_eq!(r.park(quiet, &mut events).unwrap(), Park::TimedOut);
        r.unwatch(a.as_raw_fd(), false).unwrap();
        // Room comes while nobody watches for it; Tokio records the edge.
        drain();
        assert_eq!(r.park(quiet, &mut events).unwrap(), Park::TimedOut);
        fill(&mut a);
        r.watch(a.as_raw_fd(), false).unwrap();
        assert_eq!(r.park(quiet, &mut events).unwrap(), Park::TimedOut);
        assert!(events.is_empty());
        // Room again: the writer hears it.
        drain();
        assert_eq!(
            r.park(Some(Duration::from_secs(5)), &mut events).unwrap(),
            Park::Io
        );
        assert!(events[0].writable);
    }

    #[test]
    fn one_io_poll_reports_an_fd_watched_with_data_already_there() {
        let r = Reactor::new().unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"x").unwrap();
        r.watch(b.as_raw_fd(), true).unwrap();
        // A wake-up left over from before (a `stop()`) must not cut the poll short.
        r.waker().wake();
        let mut events = Vec::new();
        r.poll_io(&mut events).unwrap();
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn unwatched_fd_reports_nothing() {
        let r = Reactor::new().unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        r.watch(b.as_raw_fd(), true).unwrap();
        r.unwatch(b.as_raw_fd(), true).unwrap();
        a.write_all(b"x").unwrap();
        let mut events = Vec::new();
        assert_eq!(
            r.park(Some(Duration::from_millis(10)), &mut events)
                .unwrap(),
            Park::TimedOut
        );
        assert!(events.is_empty());
    }
}
