//! The timer heap.
//!
//! asyncio keeps its timers in a `heapq` list compared by deadline only, and
//! `heapq` is not stable: timers with equal deadlines come out in the order its
//! sift algorithm leaves them, not in insertion order. pyloop promises the same
//! callback order as asyncio, so this heap performs the same sift steps (push =
//! append + sift towards the root; pop = move the last leaf to the root, walk
//! the hole down along the smaller child, then sift back up). The cancelled-timer
//! bookkeeping follows `BaseEventLoop._run_once` for the same reason.

use std::mem::ManuallyDrop;
use std::ptr;

/// Something that can sit in the heap.
pub trait Timer {
    /// Deadline on the loop's clock.
    fn when(&self) -> f64;
    /// A cancelled timer is dropped instead of fired.
    fn is_cancelled(&self) -> bool;
}

/// Below this many timers the heap is never compacted (asyncio's
/// `_MIN_SCHEDULED_TIMER_HANDLES`).
const MIN_TIMERS_TO_COMPACT: usize = 100;
/// Compact when more than this share of the timers is cancelled (asyncio's
/// `_MIN_CANCELLED_TIMER_HANDLES_FRACTION`).
const CANCELLED_SHARE_TO_COMPACT: f64 = 0.5;

pub struct TimerHeap<T> {
    heap: Vec<T>,
    cancelled: usize,
}

impl<T> Default for TimerHeap<T> {
    fn default() -> Self {
        Self {
            heap: Vec::new(),
            cancelled: 0,
        }
    }
}

impl<T: Timer> TimerHeap<T> {
    pub fn push(&mut self, timer: T) {
        self.heap.push(timer);
        let last = self.heap.len() - 1;
        self.sift_towards_root(0, last);
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Records that one scheduled timer was cancelled.
    pub fn note_cancelled(&mut self) {
        self.cancelled += 1;
    }

    #[must_use]
    pub fn cancelled_count(&self) -> usize {
        self.cancelled
    }

    /// The earliest deadline, cancelled or not (call `drop_cancelled` first).
    #[must_use]
    pub fn next_deadline(&self) -> Option<f64> {
        self.heap.first().map(Timer::when)
    }

    /// Removes cancelled timers the way `_run_once` does: rebuild the heap when
    /// most of a large heap is cancelled, otherwise pop cancelled heads. The
    /// removed timers go to `out` so the caller can drop them outside any lock.
    pub fn drop_cancelled(&mut self, out: &mut Vec<T>) {
        let count = self.heap.len();
        #[allow(clippy::cast_precision_loss)]
        let share = self.cancelled as f64 / count.max(1) as f64;
        if count > MIN_TIMERS_TO_COMPACT && share > CANCELLED_SHARE_TO_COMPACT {
            let (kept, removed): (Vec<T>, Vec<T>) = std::mem::take(&mut self.heap)
                .into_iter()
                .partition(|t| !t.is_cancelled());
            out.extend(removed);
            self.heap = kept;
            self.heapify();
            self.cancelled = 0;
        } else {
            while self.heap.first().is_some_and(Timer::is_cancelled) {
                self.cancelled = self.cancelled.saturating_sub(1);
                if let Some(t) = self.pop() {
                    out.push(t);
                }
            }
        }
    }

    /// Pops the earliest timer if its deadline is before `end_time`.
    pub fn pop_due(&mut self, end_time: f64) -> Option<T> {
        if self.heap.first().is_some_and(|t| t.when() < end_time) {
            self.pop()
        } else {
            None
        }
    }

    /// The earliest timer, left in place.
    #[must_use]
    pub fn peek(&self) -> Option<&T> {
        self.heap.first()
    }

    /// Removes and returns the earliest timer.
    pub fn pop(&mut self) -> Option<T> {
        let last = self.heap.pop()?;
        if self.heap.is_empty() {
            return Some(last);
        }
        let first = std::mem::replace(&mut self.heap[0], last);
        self.sift_leafwards(0);
        Some(first)
    }

    /// Empties the heap (loop close), handing every timer to the caller.
    pub fn clear(&mut self) -> Vec<T> {
        self.cancelled = 0;
        std::mem::take(&mut self.heap)
    }

    fn heapify(&mut self) {
        for pos in (0..self.heap.len() / 2).rev() {
            self.sift_leafwards(pos);
        }
    }

    /// heapq's `_siftdown`: move the item at `pos` up while it is strictly
    /// earlier than its parent.
    fn sift_towards_root(&mut self, start: usize, pos: usize) {
        if pos >= self.heap.len() {
            return;
        }
        let mut hole = Hole::new(&mut self.heap, pos);
        hole.rise(start);
    }

    /// heapq's `_siftup`: walk the item at `pos` down to a leaf along the
    /// smaller child (the right one on ties), then sift it back up.
    fn sift_leafwards(&mut self, pos: usize) {
        let end = self.heap.len();
        if pos >= end {
            return;
        }
        let mut hole = Hole::new(&mut self.heap, pos);
        let mut child = 2 * pos + 1;
        while child < end {
            let right = child + 1;
            // Branch-free choice of the child: which one is smaller is a coin
            // toss for the CPU's predictor on every level of a large heap.
            if right < end {
                child += usize::from(hole.get(child).when() >= hole.get(right).when());
            }
            // SAFETY: `child < end`, and a child is never its parent's slot.
            unsafe { hole.move_from(child) };
            child = 2 * hole.pos + 1;
        }
        hole.rise(pos);
    }
}

/// An item lifted out of the heap while it travels to its place, and the
/// slot it leaves open: each level of a sift moves one neighbour into the
/// slot instead of swapping two (a swap of 16-byte entries went through
/// the stack: 26 instructions per level, now 20). The item is written
/// back into the slot when the hole is dropped, panic or not.
struct Hole<'a, T> {
    heap: &'a mut [T],
    item: ManuallyDrop<T>,
    pos: usize,
}

impl<'a, T: Timer> Hole<'a, T> {
    /// Lifts out the item at `pos` (which must be in bounds: checked here).
    fn new(heap: &'a mut [T], pos: usize) -> Self {
        assert!(pos < heap.len());
        // SAFETY: in bounds; the slot counts as empty until `drop` writes
        // an item back, and nothing reads it before.
        let item = unsafe { ptr::read(heap.as_ptr().add(pos)) };
        Self {
            heap,
            item: ManuallyDrop::new(item),
            pos,
        }
    }

    /// An item other than the lifted one.
    fn get(&self, index: usize) -> &T {
        debug_assert_ne!(index, self.pos);
        &self.heap[index]
    }

    /// Moves the item at `index` into the open slot; `index` opens instead.
    ///
    /// SAFETY: `index` is in bounds and is not the open slot.
    unsafe fn move_from(&mut self, index: usize) {
        debug_assert!(index < self.heap.len() && index != self.pos);
        // SAFETY: both in bounds and distinct (the caller's promise); the
        // item at `index` now lives at `pos`, and `index` is the open slot.
        unsafe {
            let base = self.heap.as_mut_ptr();
            ptr::copy_nonoverlapping(base.add(index), base.add(self.pos), 1);
        }
        self.pos = index;
    }

    /// heapq's `_siftdown` for the lifted item: up while strictly earlier
    /// than the parent, not above `start`.
    fn rise(&mut self, start: usize) {
        while self.pos > start {
            let parent = (self.pos - 1) >> 1;
            if self.item.when() < self.get(parent).when() {
                // SAFETY: `parent < pos`, which is in bounds.
                unsafe { self.move_from(parent) };
            } else {
                break;
            }
        }
    }
}

impl<T> Drop for Hole<'_, T> {
    fn drop(&mut self) {
        // SAFETY: `pos` is in bounds and open; the lifted item is moved
        // back exactly once.
        unsafe {
            let item = ManuallyDrop::take(&mut self.item);
            ptr::write(self.heap.as_mut_ptr().add(self.pos), item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Timer, TimerHeap};
    use std::cell::Cell;

    struct T {
        when: f64,
        id: usize,
        cancelled: Cell<bool>,
    }

    impl Timer for T {
        fn when(&self) -> f64 {
            self.when
        }
        fn is_cancelled(&self) -> bool {
            self.cancelled.get()
        }
    }

    fn t(when: f64, id: usize) -> T {
        T {
            when,
            id,
            cancelled: Cell::new(false),
        }
    }

    fn drain(h: &mut TimerHeap<T>) -> Vec<usize> {
        std::iter::from_fn(|| h.pop_due(f64::INFINITY))
            .map(|t| t.id)
            .collect()
    }

    #[test]
    fn earliest_first() {
        let mut h = TimerHeap::default();
        for (i, w) in [5.0, 1.0, 3.0, 2.0, 4.0].into_iter().enumerate() {
            h.push(t(w, i));
        }
        assert_eq!(drain(&mut h), vec![1, 3, 2, 4, 0]);
    }

    #[test]
    fn equal_deadlines_follow_heapq_not_fifo() {
        // The orders CPython's heapq gives for 20 equal keys pushed 0..20,
        // without and with a later 21st key.
        let mut h = TimerHeap::default();
        for i in 0..20 {
            h.push(t(1.0, i));
        }
        assert_eq!(
            drain(&mut h),
            vec![0, 2, 6, 14, 19, 18, 17, 16, 13, 15, 12, 11, 10, 9, 8, 5, 7, 4, 1, 3]
        );
        for i in 0..20 {
            h.push(t(1.0, i));
        }
        h.push(t(2.0, 99));
        assert_eq!(
            drain(&mut h),
            vec![0, 2, 6, 14, 13, 19, 18, 17, 16, 15, 5, 11, 12, 10, 9, 8, 7, 1, 3, 4, 99]
        );
    }

    #[test]
    fn only_expired_are_popped() {
        let mut h = TimerHeap::default();
        h.push(t(1.0, 0));
        h.push(t(2.0, 1));
        assert_eq!(h.pop_due(2.0).map(|t| t.id), Some(0));
        assert!(h.pop_due(2.0).is_none());
        assert_eq!(h.next_deadline(), Some(2.0));
    }

    #[test]
    fn cancelled_heads_are_dropped() {
        let mut h = TimerHeap::default();
        for i in 0..5 {
            h.push(t(f64::from(u8::try_from(i).unwrap()), i));
        }
        h.heap[0].cancelled.set(true);
        h.note_cancelled();
        let mut removed = Vec::new();
        h.drop_cancelled(&mut removed);
        assert_eq!(removed.len(), 1);
        assert_eq!(h.cancelled_count(), 0);
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn mostly_cancelled_heap_is_compacted() {
        let mut h = TimerHeap::default();
        for i in 0..200 {
            h.push(t(f64::from(u32::try_from(i).unwrap()), i));
        }
        for tm in h.heap.iter().filter(|t| t.id % 4 != 0) {
            tm.cancelled.set(true);
        }
        for _ in 0..150 {
            h.note_cancelled();
        }
        let mut removed = Vec::new();
        h.drop_cancelled(&mut removed);
        assert_eq!(removed.len(), 150);
        assert_eq!(h.len(), 50);
        let ids = drain(&mut h);
        assert_eq!(ids, (0..200).step_by(4).collect::<Vec<_>>());
    }

    /// heapq's algorithm written out with swaps, as `heapq.py` reads: the
    /// model the heap's hole-based sifts must agree with, pop for pop.
    struct Model(Vec<(f64, usize)>);

    impl Model {
        fn push(&mut self, item: (f64, usize)) {
            self.0.push(item);
            let last = self.0.len() - 1;
            self.up(0, last);
        }

        fn pop(&mut self) -> Option<usize> {
            let last = self.0.pop()?;
            if self.0.is_empty() {
                return Some(last.1);
            }
            let first = std::mem::replace(&mut self.0[0], last);
            let (end, mut pos) = (self.0.len(), 0);
            let mut child = 1;
            while child < end {
                if child + 1 < end && self.0[child].0 >= self.0[child + 1].0 {
                    child += 1;
                }
                self.0.swap(pos, child);
                pos = child;
                child = 2 * pos + 1;
            }
            self.up(0, pos);
            Some(first.1)
        }

        fn up(&mut self, start: usize, mut pos: usize) {
            while pos > start {
                let parent = (pos - 1) / 2;
                if self.0[pos].0 < self.0[parent].0 {
                    self.0.swap(pos, parent);
                    pos = parent;
                } else {
                    break;
                }
            }
        }
    }

    #[test]
    fn pops_match_heapq_through_random_pushes_and_pops() {
        // Few distinct deadlines, so ties are common; a fixed LCG keeps the
        // run reproducible.
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |bound: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % bound
        };
        let (mut heap, mut model) = (TimerHeap::default(), Model(Vec::new()));
        for id in 0..20_000 {
            if next(3) < 2 {
                let when = f64::from(u32::try_from(next(50)).unwrap_or(0));
                heap.push(t(when, id));
                model.push((when, id));
            } else {
                assert_eq!(heap.pop().map(|t| t.id), model.pop());
            }
        }
        while let Some(expected) = model.pop() {
            assert_eq!(heap.pop().map(|t| t.id), Some(expected));
        }
        assert!(heap.is_empty());
    }
}
