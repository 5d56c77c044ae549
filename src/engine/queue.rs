//! Pending events, ordered by `(time, seq)`.
//!
//! `seq` is a monotone insertion counter, so events due at the same instant
//! pop in the order they were scheduled (FIFO): ties never depend on payload
//! contents or memory addresses. Popping an event whose time is earlier than
//! the last popped one is impossible by construction: `schedule` clamps to
//! `now`.
//!
//! Layout: an implicit 4-ary min-heap. `(time, seq)` is packed into one
//! `u128` key (`time << 64 | seq`), so comparing two keys is one branch-free
//! 128-bit compare and keys are unique (no ties for the heap to break). Keys
//! live in their own vector, payloads in a parallel one that follows the
//! same moves: the sift loops read only the dense key array. Choosing the
//! smallest of four children is a branch-free tournament, so a pop descends
//! log4(n) levels with no data-dependent branch instead of log2(n) levels
//! with a coin-flip branch each. O(log n) per push/pop; enough up to ~1e5
//! pending events (DESIGN.md: measure before reaching for calendar or ladder
//! queues; `benches/engine.rs` measures it with the hold model). The sim
//! keeps O(servers + timers) pending.

use crate::time::SimTime;

/// Children per node.
const ARITY: usize = 4;

#[inline(always)]
fn pack(time: u64, seq: u64) -> u128 {
    (u128::from(time) << 64) | u128::from(seq)
}

#[inline(always)]
fn time_of(key: u128) -> u64 {
    (key >> 64) as u64
}

/// A future-event list with a clock that only moves forward.
pub struct EventQueue<E> {
    /// Heap-ordered `(time << 64 | seq)` keys.
    keys: Vec<u128>,
    /// `events[i]` is the payload of `keys[i]`.
    events: Vec<E>,
    seq: u64,
    now: SimTime,
    clamped: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue { keys: Vec::new(), events: Vec::new(), seq: 0, now: SimTime::ZERO, clamped: 0 }
    }

    /// The time of the last popped event (the simulated "now").
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at `at`; a time in the past is clamped to `now`, so
    /// the clock never runs backwards. O(log n).
    #[inline]
    pub fn schedule(&mut self, at: SimTime, event: E) {
        if at < self.now {
            self.clamped += 1;
        }
        let key = pack(at.0.max(self.now.0), self.seq);
        self.seq += 1;
        self.keys.push(key);
        self.events.push(event);
        self.sift_up(self.keys.len() - 1, key);
    }

    /// Pops the earliest event and advances the clock to its time. O(log n).
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let last = self.keys.len().checked_sub(1)?;
        self.keys.swap(0, last);
        self.events.swap(0, last);
        let key = self.keys.pop()?;
        let event = self.events.pop()?;
        if self.keys.len() > 1 {
            // Floyd: walk the hole at the root down to a leaf along the
            // smallest children, then sift the displaced last entry up
            // (it came from the bottom, so it rarely climbs far).
            let moved = self.keys[0];
            let leaf = self.hole_to_leaf();
            self.sift_up(leaf, moved);
        }
        debug_assert!(time_of(key) >= self.now.0, "event in the past");
        self.now = SimTime(time_of(key));
        Some((self.now, event))
    }

    /// Time of the earliest pending event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.keys.first().map(|k| SimTime(time_of(*k)))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Events that asked for a time in the past (a driver bug if not 0).
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Moves entry `i` (whose key is `key`) toward the root while its parent
    /// is later.
    #[inline(always)]
    fn sift_up(&mut self, mut i: usize, key: u128) {
        while i > 0 {
            let parent = (i - 1) / ARITY;
            let above = self.keys[parent];
            if above <= key {
                break;
            }
            self.keys[i] = above;
            self.events.swap(i, parent);
            i = parent;
        }
        self.keys[i] = key;
    }

    /// Moves the root's entry down to a leaf, each level swapping it with its
    /// smallest child; returns the leaf's index. The root's key is left for
    /// the caller to write back (it is overwritten here).
    #[inline(always)]
    fn hole_to_leaf(&mut self) -> usize {
        let n = self.keys.len();
        let keys = &mut self.keys[..];
        let events = &mut self.events[..n];
        let mut i = 0;
        let mut child = 1;
        // All four children present: a branch-free tournament on a fixed-size
        // view (one bounds check per level, not one per key). The descent is
        // a chain of dependent loads, so its latency is what a pop costs.
        while let Some(group) = keys.get(child..child + ARITY) {
            let group: &[u128; ARITY] = group.try_into().expect("ARITY keys");
            // Selects of values as well as of indices (cmovs): re-reading
            // `group[m]` would add a dependent load to every level.
            let (lt01, lt23) = (group[1] < group[0], group[3] < group[2]);
            let (a, key_a) = if lt01 { (1, group[1]) } else { (0, group[0]) };
            let (b, key_b) = if lt23 { (3, group[3]) } else { (2, group[2]) };
            let (m, key_m) = if key_b < key_a { (b, key_b) } else { (a, key_a) };
            keys[i] = key_m;
            events.swap(i, child + m);
            i = child + m;
            child = ARITY * i + 1;
        }
        // Last, partial group (1 to 3 children).
        if child < n {
            let mut min = child;
            for j in child + 1..n {
                if keys[j] < keys[min] {
                    min = j;
                }
            }
            keys[i] = keys[min];
            events.swap(i, min);
            i = min;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    #[test]
    fn equal_times_pop_in_insertion_order() {
        let mut q = EventQueue::new();
        for i in 0..10 {
            q.schedule(SimTime(5), i);
        }
        let order: Vec<i32> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn past_events_are_clamped_to_now() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(10), 'a');
        assert_eq!(q.pop(), Some((SimTime(10), 'a')));
        q.schedule(SimTime(3), 'b');
        assert_eq!(q.pop(), Some((SimTime(10), 'b')));
        assert_eq!(q.clamped(), 1);
    }

    /// Drives the queue and a `BTreeMap<(time, seq), payload>` shadow
    /// (NeXosim style) with the same operations: `push(step)` says whether
    /// step `step` schedules or pops, `delay(now)` when a push is due.
    fn check_against_shadow(
        steps: u64,
        mut push: impl FnMut(u64) -> bool,
        mut delay: impl FnMut(u64) -> u64,
    ) -> EventQueue<u64> {
        let mut q = EventQueue::new();
        let mut shadow = BTreeMap::new();
        let mut seq = 0u64;
        for step in 0..steps {
            if push(step) || shadow.is_empty() {
                let at = q.now().0 + delay(q.now().0);
                q.schedule(SimTime(at), step);
                shadow.insert((at, seq), step);
                seq += 1;
            } else {
                let ((t, _), want) = shadow.pop_first().unwrap();
                assert_eq!(q.pop(), Some((SimTime(t), want)));
            }
            assert_eq!(q.len(), shadow.len());
            assert_eq!(q.peek_time(), shadow.keys().next().map(|(t, _)| SimTime(*t)));
        }
        while let Some(((t, _), want)) = shadow.pop_first() {
            assert_eq!(q.pop(), Some((SimTime(t), want)));
        }
        assert_eq!(q.pop(), None);
        q
    }

    #[test]
    fn matches_btreemap_shadow() {
        let rng = std::cell::RefCell::new(rand_chacha::ChaCha8Rng::seed_from_u64(7));
        check_against_shadow(20_000, |_| rng.borrow_mut().random_bool(0.55), |_| rng.borrow_mut().random_range(0..50));
    }

    /// Large, widely spread times (the time half of the packed key uses its
    /// high bits), zero-delay events (ties) and bursts of pushes then pops,
    /// so deep heaps and partial child groups are exercised.
    #[test]
    fn matches_btreemap_shadow_wide_times() {
        let rng = std::cell::RefCell::new(rand_chacha::ChaCha8Rng::seed_from_u64(11));
        let push = |step: u64| rng.borrow_mut().random_bool(if step % 5_000 < 4_000 { 0.7 } else { 0.2 });
        let delay = |now: u64| {
            let mut r = rng.borrow_mut();
            if r.random_bool(0.1) {
                0
            } else {
                r.random_range(0..=(u64::MAX - now) / 1_000_000)
            }
        };
        let q = check_against_shadow(50_000, push, delay);
        assert_eq!(q.clamped(), 0);
    }
}
