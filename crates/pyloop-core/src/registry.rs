//! fd readiness for `add_reader` / `add_writer`: one Tokio registration per
//! fd, shared by its reader and writer (DESIGN.md section 7).
//!
//! Tokio's reactor is edge-triggered; asyncio's selectors are level-triggered
//! (a reader that leaves data unread is called again). Tokio keeps a
//! readiness until it is cleared, so a readiness that was already handed out
//! once is checked with a zero-timeout `poll(2)` before it is handed out
//! again, and cleared when the fd is no longer ready. A fresh readiness (the
//! first after Tokio last said "not ready") is handed out without the check:
//! it comes from an epoll edge, and the typical reader drains the fd and
//! removes itself before it could be checked. For an fd whose owner says
//! when it ran dry (`drained`: the native transports), a readiness is
//! instead cleared in Tokio as it is handed out, so the owner's report
//! costs no further poll of Tokio (`Level`).
//!
//! A poll looks only at the fds that can have news: those Tokio woke (each
//! fd has its own waker, which queues the fd and wakes the park), those just
//! registered, and those handed out ready last time (the level-triggered
//! recheck). Its cost follows the ready fds, not the watched ones.
//!
//! A registration is made for both directions whichever is watched, so a
//! writer that comes and goes (a transport's, with its buffer) flips a flag
//! instead of re-registering; a direction's readiness is treated as stale
//! once it was unwatched.
//!
//! When its last interest goes, a non-socket fd is deregistered at once,
//! before user code can close it and reuse its number. A socket's
//! registration stays, idle: `sock_recv`/`sock_sendall` and libraries that
//! add and remove a reader around every wait would otherwise pay an
//! `epoll_ctl` ADD and DEL per wait. An idle registration is taken up again
//! only while the fd still names the same socket (`fstat`'s device and inode,
//! unique among live sockets); if the number now names another file, the old
//! socket was closed (the kernel dropped it from epoll with its last fd) and
//! the new file is registered afresh. Only sockets linger: an eventfd shares
//! one inode with every other, and a FIFO opened twice is two files with one.
//!
//! An error condition alone (`EPOLLERR` without `EPOLLIN`: the ICMP error a
//! UDP socket gets after sending to a closed port) wakes no reader or writer
//! in Tokio; only a waiter for `Interest::ERROR` hears it. Each registration
//! keeps one such waiter, and while `poll(2)` shows the error pending the fd
//! is reported ready in the directions it is watched for, as asyncio's
//! selectors report `EPOLLERR` (the callback's next system call gets the
//! error).

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use tokio::io::unix::AsyncFd;

use crate::fd_map::FdMap;
use tokio::io::Interest;

/// A borrowed fd: pyloop never closes it, the user does.
struct Borrowed(RawFd);

impl AsRawFd for Borrowed {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Locks, carrying on after a panic elsewhere (the data stays consistent:
/// every critical section here is a single insert, remove or swap).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The fds Tokio woke since the last poll, the park's waker, and whether
/// another thread asked the park to end.
#[derive(Default)]
struct Woken {
    fds: Mutex<Vec<RawFd>>,
    park: Mutex<Option<Waker>>,
    requested: AtomicBool,
}

impl Woken {
    fn push(&self, fd: RawFd) {
        lock(&self.fds).push(fd);
    }

    fn wake_park(&self) {
        // Woken under the lock, by reference: no clone and drop of the waker
        // per wake-up. Waking the park only sets Tokio's flag (and writes
        // its eventfd from another thread); it never comes back here.
        if let Some(park) = lock(&self.park).as_ref() {
            park.wake_by_ref();
        }
    }
}

/// Ends the registry's park from any thread: the flag is set before the
/// park's waker is read, and `poll_events` stores that waker before
/// `take_wake_request` reads the flag, so a wake is never lost (one that
/// comes while nobody parks ends the next park at once).
#[derive(Clone)]
pub struct RemoteWaker(Arc<Woken>);

impl RemoteWaker {
    pub fn wake(&self) {
        self.0.requested.store(true, Ordering::Release);
        self.0.wake_park();
    }
}

/// The waker Tokio holds for one fd: queues the fd and wakes the park.
struct FdWaker {
    fd: RawFd,
    woken: Arc<Woken>,
}

impl Wake for FdWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.push(self.fd);
        self.woken.wake_park();
    }
}

/// Resolves when Tokio sees an error condition on the fd, with that
/// readiness cleared again (the level is checked with `poll(2)`).
type ErrorWait = Pin<Box<dyn Future<Output = ()> + Send>>;

fn error_wait(fd: &Arc<AsyncFd<Borrowed>>) -> ErrorWait {
    let fd = Arc::clone(fd);
    Box::pin(async move {
        match fd.ready(Interest::ERROR).await {
            Ok(mut guard) => guard.clear_ready(),
            // The driver is gone: no error will ever be seen.
            Err(_) => std::future::pending().await,
        }
    })
}

/// Which socket an fd names: device and inode from `fstat`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SocketId {
    dev: u64,
    ino: u64,
}

impl SocketId {
    /// The socket `fd` names; None for anything else (or a closed fd).
    fn of(fd: RawFd) -> Option<Self> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat fills the buffer when it returns 0.
        if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: initialised by the successful fstat.
        let st = unsafe { st.assume_init() };
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        let id = Self {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
        };
        (st.st_mode & libc::S_IFMT == libc::S_IFSOCK).then_some(id)
    }
}

struct Watched {
    fd: Arc<AsyncFd<Borrowed>>,
    /// Set for a socket: its registration outlives its interests (module docs).
    socket: Option<SocketId>,
    /// Waits for an error condition (see the module docs).
    error: ErrorWait,
    /// An error condition was seen and not yet found gone.
    error_pending: bool,
    /// This fd's `FdWaker`, handed to Tokio when its readiness is polled.
    waker: Waker,
    /// Registered with Tokio for writing too (see `IoRegistry::watch_with`).
    both: bool,
    read: bool,
    write: bool,
    /// Per direction: what Tokio's readiness means now.
    read_state: Level,
    write_state: Level,
    /// The owner reports `drained` (a native transport): a readiness is
    /// cleared when handed out, which makes that report cost no poll.
    /// Others (`add_reader`, a `sock_*` wait) would pay the clearing for
    /// nothing: theirs stays, checked with `poll(2)` when next looked at.
    says_drained: bool,
}

/// What Tokio's readiness of one direction of a fd tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Tokio said "not ready" since we last looked: a readiness now comes
    /// from an epoll edge.
    Fresh,
    /// Handed out, with Tokio's readiness cleared at once (so Tokio holds
    /// the fd's waker): a readiness is a new edge; none means the callback
    /// may have left data, which `poll(2)` tells, unless it said `drained`.
    Handed,
    /// Handed out and left as it was, or unwatched since: a readiness may
    /// be old (or an edge nobody watched); `poll(2)` tells.
    Stale,
}

impl Watched {
    fn is_idle(&self) -> bool {
        !self.read && !self.write
    }
}

/// What an fd is ready for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoEvent {
    pub fd: RawFd,
    pub readable: bool,
    pub writable: bool,
}

#[derive(Default)]
struct Inner {
    /// Every registration, idle sockets included.
    watched: FdMap<Watched>,
    /// How many of them are watched in some direction.
    active: usize,
    /// Fds handed out ready by the last poll: looked at again by the next.
    recheck: Vec<RawFd>,
    /// The fds one poll looks at; kept only for its capacity (a poll per
    /// loop iteration should not allocate).
    candidates: Vec<RawFd>,
}

pub struct IoRegistry {
    inner: Mutex<Inner>,
    woken: Arc<Woken>,
    /// How many fds the user watches (the reserved one not counted),
    /// readable without the lock: the run loop asks on every iteration with
    /// ready callbacks whether there is any fd to poll.
    count: AtomicUsize,
    /// The reactor's own wake-up socket: watched for good, not the user's.
    reserved: AtomicI32,
}

/// True if `poll(2)` says `fd` is ready for `events` right now.
fn ready_now(fd: RawFd, events: libc::c_short) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&raw mut pfd, 1, 0) };
    // Errors and hang-ups count as ready: the callback then sees the error,
    // as with asyncio's selectors.
    n > 0 && pfd.revents & (events | libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
}

impl Default for IoRegistry {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            woken: Arc::default(),
            count: AtomicUsize::new(0),
            reserved: AtomicI32::new(-1),
        }
    }
}

/// True if `poll(2)` says `fd` has an error condition pending.
fn error_now(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&raw mut pfd, 1, 0) };
    n > 0 && pfd.revents & libc::POLLERR != 0
}

/// The fd has an error condition pending: seen by its error waiter and
/// still there (level-triggered, as the other readinesses).
fn error_ready(
    fd: &Arc<AsyncFd<Borrowed>>,
    error: &mut ErrorWait,
    error_pending: &mut bool,
    cx: &mut Context<'_>,
) -> bool {
    loop {
        if *error_pending {
            if error_now(fd.as_raw_fd()) {
                return true;
            }
            *error_pending = false;
        }
        if error.as_mut().poll(cx).is_pending() {
            return false;
        }
        // Seen: wait for the next one, and check the level now.
        *error = error_wait(fd);
        *error_pending = true;
    }
}

impl IoRegistry {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    /// Keeps `count` in step; called with the lock held, after each change.
    fn recount(&self, inner: &Inner) {
        let reserved = self.reserved.load(Ordering::Relaxed);
        let reserved = usize::from(inner.watched.get(&reserved).is_some_and(|e| !e.is_idle()));
        self.count
            .store(inner.active.saturating_sub(reserved), Ordering::Release);
    }

    /// Watches `fd` for reading for the registry's whole life: `clear` keeps
    /// it and `is_empty` does not count it.
    pub fn watch_reserved(&self, fd: RawFd) -> io::Result<()> {
        self.reserved.store(fd, Ordering::Relaxed);
        self.watch(fd, true)
    }

    /// Sets the read or write interest of `fd` (registering it if new).
    /// Must be called inside the runtime's context.
    pub fn watch(&self, fd: RawFd, read: bool) -> io::Result<()> {
        self.watch_with(fd, read, false)
    }

    /// `watch`, where `reads_only` says the fd's writes seldom wait (a
    /// datagram socket): a new registration made for reading is then made
    /// for reading alone. A UDP socket is told writable again each time a
    /// datagram it sent is consumed (the kernel frees its buffer space), so
    /// a registration for both directions brings an epoll event and a Tokio
    /// wake-up nobody listens for with every datagram echoed. The first
    /// writer widens it to both directions for good (`epoll_ctl` DEL and ADD).
    pub fn watch_with(&self, fd: RawFd, read: bool, reads_only: bool) -> io::Result<()> {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let mut socket = None;
        // What a registration widened for a writer keeps: the read interest
        // and the owner's `drained` reports.
        let mut widened = None;
        if let Some(entry) = inner.watched.get_mut(&fd) {
            let idle = entry.is_idle();
            // An idle socket's registration serves only the same socket.
            if idle {
                socket = SocketId::of(fd);
            }
            if !idle || entry.socket.is_some_and(|id| socket == Some(id)) {
                if read || entry.both {
                    // Registered for this direction already: a flag, no epoll_ctl.
                    let on = if read {
                        &mut entry.read
                    } else {
                        &mut entry.write
                    };
                    if !std::mem::replace(on, true) {
                        inner.active += usize::from(idle);
                        self.recount(inner);
                        // Polled once soon: hands Tokio the waker for this direction.
                        self.woken.push(fd);
                    }
                    return Ok(());
                }
                // A writer on a registration for reading only.
                socket = entry.socket;
                widened = Some((entry.read, entry.says_drained));
                inner.active -= usize::from(!idle);
            }
            // The socket was closed and the number now names another file
            // (or none: registering then fails as for any closed fd); or the
            // registration is widened. Either way the old one goes first
            // (with its error waiter, which holds it too): epoll_ctl DEL.
            inner.watched.remove(&fd);
        } else {
            socket = SocketId::of(fd);
        }
        // One registration per fd, for both directions whatever is watched
        // now (unless `reads_only`): turning the other direction on or off
        // later (a transport's writer comes and goes with its buffer) then
        // costs no epoll_ctl.
        let both = !(reads_only && read);
        let interest = if both {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        // SAFETY: the fd is open now (registering fails otherwise). A
        // non-socket is deregistered before `remove_reader`/`remove_writer`
        // return, and asyncio's contract is that user code removes the
        // callback before closing; an idle socket that is closed meanwhile
        // left epoll with its last fd, and is told apart from a later file
        // with the same number as the module docs say.
        let afd = Arc::new(
            unsafe { AsyncFd::register_with_interest(Borrowed(fd), interest) }
                .map_err(|e| e.into_parts().1)?,
        );
        let error = error_wait(&afd);
        let waker = Waker::from(Arc::new(FdWaker {
            fd,
            woken: Arc::clone(&self.woken),
        }));
        let (read_on, write_on, says_drained) = match widened {
            Some((was_reading, says_drained)) => (was_reading, true, says_drained),
            None => (read, !read, false),
        };
        inner.watched.insert(
            fd,
            Watched {
                fd: afd,
                socket,
                error,
                error_pending: false,
                waker,
                both,
                read: read_on,
                write: write_on,
                // Tokio starts with no readiness, so the first one it reports
                // for the watched direction comes from a real edge; the other
                // direction's may be old by the time it is watched. A widened
                // registration's reader may have left data behind: `poll(2)`
                // tells.
                read_state: if read && widened.is_none() {
                    Level::Fresh
                } else {
                    Level::Stale
                },
                write_state: if read { Level::Stale } else { Level::Fresh },
                says_drained,
            },
        );
        inner.active += 1;
        self.recount(inner);
        // Polled once soon, which hands Tokio its waker.
        self.woken.push(fd);
        Ok(())
    }

    /// Drops the read or write interest. With none left a socket's
    /// registration goes idle; any other fd is deregistered.
    pub fn unwatch(&self, fd: RawFd, read: bool) -> io::Result<()> {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let Some(entry) = inner.watched.get_mut(&fd) else {
            return Ok(());
        };
        if entry.is_idle() {
            return Ok(());
        }
        if read {
            entry.read = false;
            // Edges may come and go unseen while unwatched.
            entry.read_state = Level::Stale;
        } else {
            entry.write = false;
            entry.write_state = Level::Stale;
        }
        if entry.is_idle() {
            if entry.socket.is_none() {
                inner.watched.remove(&fd);
            }
            inner.active -= 1;
            inner.recheck.retain(|&queued| queued != fd);
        }
        self.recount(inner);
        Ok(())
    }

    /// The fd is about to be closed by its owner (a transport): an idle
    /// registration is dropped now, while the number still names its socket.
    pub fn forget(&self, fd: RawFd) {
        let mut inner = lock(&self.inner);
        if inner.watched.get(&fd).is_some_and(Watched::is_idle) {
            inner.watched.remove(&fd);
        }
    }

    /// The caller just saw `fd` run dry for reading (`read`) or writing: a
    /// short read or a would-block. Tokio's readiness is cleared (it was at
    /// hand-out already, the usual case), so the level-triggered recheck
    /// needs no `poll(2)`; data that arrives later is a new epoll edge (the
    /// I/O driver only turns inside the loop's own park, after this call),
    /// which makes the next readiness fresh.
    pub fn drained(&self, fd: RawFd, read: bool) {
        let mut inner = lock(&self.inner);
        let Inner {
            watched, recheck, ..
        } = &mut *inner;
        let Some(entry) = watched.get_mut(&fd) else {
            return;
        };
        entry.says_drained = true;
        let Watched {
            fd: afd,
            waker,
            read_state,
            write_state,
            ..
        } = entry;
        let (state, other) = if read {
            (read_state, *write_state)
        } else {
            (write_state, *read_state)
        };
        let waiting = if *state == Level::Handed {
            // Cleared when handed out, and Tokio has held the waker since.
            true
        } else {
            let mut cx = Context::from_waker(waker);
            let poll = |cx: &mut Context<'_>| {
                if read {
                    afd.poll_read_ready(cx)
                } else {
                    afd.poll_write_ready(cx)
                }
            };
            match poll(&mut cx) {
                Poll::Ready(Ok(mut guard)) => {
                    guard.clear_ready();
                    // Polled again so Tokio holds the waker: Pending unless
                    // the driver turned in between (it does not outside the park).
                    poll(&mut cx).is_pending()
                }
                Poll::Pending => true,
                Poll::Ready(Err(_)) => false,
            }
        };
        *state = Level::Fresh;
        // No recheck needed when Tokio now holds this fd's waker and no other
        // direction (or an error) was handed out: new data wakes it as any fd.
        let other_settled = other == Level::Fresh || !(if read { entry.write } else { entry.read });
        if waiting && other_settled && !entry.error_pending {
            recheck.retain(|&queued| queued != fd);
        }
    }

    /// A handle that ends the park from another thread.
    #[must_use]
    pub fn remote_waker(&self) -> RemoteWaker {
        RemoteWaker(Arc::clone(&self.woken))
    }

    /// True (once) if `RemoteWaker::wake` was called since the last call.
    /// Read after `poll_events`, which stores the park's waker.
    pub fn take_wake_request(&self) -> bool {
        self.woken.requested.swap(false, Ordering::AcqRel)
    }

    /// Deregisters everything (loop close).
    pub fn clear(&self) {
        let mut inner = lock(&self.inner);
        let reserved = self.reserved.load(Ordering::Relaxed);
        inner.watched.retain(|fd, _| *fd == reserved);
        inner.active = inner.watched.len();
        inner.recheck.clear();
        self.recount(&inner);
    }

    /// Appends the fds ready now among those that can have news to `events`
    /// (Ready if there was any); the others have their wakers registered
    /// with Tokio.
    pub fn poll_events(&self, cx: &mut Context<'_>, events: &mut Vec<IoEvent>) -> Poll<()> {
        {
            let mut park = lock(&self.woken.park);
            if !park.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *park = Some(cx.waker().clone());
            }
        }
        let mut inner = lock(&self.inner);
        let Inner {
            watched,
            recheck,
            candidates,
            ..
        } = &mut *inner;
        // Swapped, not taken: both vectors keep their capacity.
        std::mem::swap(candidates, &mut *lock(&self.woken.fds));
        if candidates.is_empty() && recheck.is_empty() {
            // The usual first poll of a park: nothing can have news yet.
            return Poll::Pending;
        }
        candidates.append(recheck);
        candidates.sort_unstable();
        candidates.dedup();
        let before = events.len();
        for &fd in candidates.iter() {
            let Some(entry) = watched.get_mut(&fd) else {
                continue; // unwatched since it was queued
            };
            // Borrowed field by field: the waker is lent to Tokio, not
            // cloned (an Arc count up and down per fd).
            let Watched {
                fd: afd,
                error,
                error_pending,
                waker,
                read,
                write,
                read_state,
                write_state,
                says_drained,
                ..
            } = entry;
            let mut fd_cx = Context::from_waker(waker);
            let clear = *says_drained;
            let mut readable = *read && Self::level_ready(afd, &mut fd_cx, true, read_state, clear);
            let mut writable =
                *write && Self::level_ready(afd, &mut fd_cx, false, write_state, clear);
            // An error makes every watched direction ready; asked only when
            // one is not ready already (the error waiter keeps its waker).
            if readable != *read || writable != *write {
                let errored = error_ready(afd, error, error_pending, &mut fd_cx);
                readable |= *read && errored;
                writable |= *write && errored;
            }
            if readable || writable {
                events.push(IoEvent {
                    fd,
                    readable,
                    writable,
                });
                recheck.push(fd);
            }
        }
        candidates.clear();
        if events.len() == before {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Level-triggered readiness on top of Tokio's edge-triggered one.
    /// With `clear`, a readiness handed out is cleared in Tokio at once,
    /// polling again so Tokio holds the waker: a native transport that then
    /// reads or writes until the socket would block (`drained`) costs no
    /// further poll.
    /// (An error condition alone is `Watched::error_ready`'s: Tokio keeps
    /// the WRITE_CLOSED it also sets for good, so polling the write side of
    /// a read-only fd for it would find it ready forever.)
    fn level_ready(
        fd: &AsyncFd<Borrowed>,
        cx: &mut Context<'_>,
        read: bool,
        state: &mut Level,
        clear: bool,
    ) -> bool {
        let events = if read { libc::POLLIN } else { libc::POLLOUT };
        let poll = |cx: &mut Context<'_>| {
            if read {
                fd.poll_read_ready(cx)
            } else {
                fd.poll_write_ready(cx)
            }
        };
        loop {
            match poll(cx) {
                Poll::Pending => {
                    // Handed out before and not said drained, or unwatched
                    // since (a paused reader): the callback may have left
                    // data that no new edge will announce, Tokio's readiness
                    // having been cleared at hand-out.
                    let hidden = *state == Level::Handed || (clear && *state == Level::Stale);
                    if hidden && ready_now(fd.as_raw_fd(), events) {
                        *state = Level::Handed;
                        return true;
                    }
                    *state = Level::Fresh;
                    return false;
                }
                Poll::Ready(Err(_)) => return true,
                Poll::Ready(Ok(mut guard)) => {
                    let ready = *state != Level::Stale || ready_now(fd.as_raw_fd(), events);
                    if ready && !clear {
                        *state = Level::Stale;
                        return true;
                    }
                    guard.clear_ready();
                    if ready {
                        // Polled again so Tokio holds the waker: Pending, as
                        // the driver cannot turn in between, unless the
                        // direction is closed (Tokio keeps that readiness
                        // for good and holds no waker: `drained` must not
                        // take it for a quiet fd).
                        *state = if poll(cx).is_pending() {
                            Level::Handed
                        } else {
                            Level::Fresh
                        };
                        return true;
                    }
                    // Stale: cleared; the next poll registers the waker.
                    *state = Level::Fresh;
                }
            }
        }
    }
}
