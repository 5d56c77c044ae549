//! Pending events, ordered by `(time, seq)`.
//!
//! `seq` is a monotone insertion counter, so events due at the same instant
//! pop in the order they were scheduled (FIFO): ties never depend on payload
//! contents or memory addresses. A binary heap is O(log n) per push/pop and is
//! enough up to ~1e5 pending events (DESIGN.md: measure before reaching for
//! calendar or ladder queues); the sim keeps O(servers + timers) pending.
//! Popping an event whose time is earlier than the last popped one is
//! impossible by construction: `schedule` clamps to `now`.

use crate::time::SimTime;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Entry<E> {
    time: u64,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed: `BinaryHeap` is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// A future-event list with a clock that only moves forward.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
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
        EventQueue { heap: BinaryHeap::new(), seq: 0, now: SimTime::ZERO, clamped: 0 }
    }

    /// The time of the last popped event (the simulated "now").
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at `at`; a time in the past is clamped to `now`, so
    /// the clock never runs backwards. O(log n).
    pub fn schedule(&mut self, at: SimTime, event: E) {
        if at < self.now {
            self.clamped += 1;
        }
        let time = at.0.max(self.now.0);
        self.heap.push(Entry { time, seq: self.seq, event });
        self.seq += 1;
    }

    /// Pops the earliest event and advances the clock to its time. O(log n).
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let entry = self.heap.pop()?;
        debug_assert!(entry.time >= self.now.0, "event in the past");
        self.now = SimTime(entry.time);
        Some((self.now, entry.event))
    }

    /// Time of the earliest pending event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| SimTime(e.time))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Events that asked for a time in the past (a driver bug if not 0).
    pub fn clamped(&self) -> u64 {
        self.clamped
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

    /// Fuzz against a `BTreeMap<(time, seq), payload>` shadow (NeXosim style).
    #[test]
    fn matches_btreemap_shadow() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut q = EventQueue::new();
        let mut shadow = BTreeMap::new();
        let mut seq = 0u64;
        for step in 0..20_000u64 {
            if rng.random_bool(0.55) || shadow.is_empty() {
                let at = q.now().0 + rng.random_range(0..50);
                q.schedule(SimTime(at), step);
                shadow.insert((at, seq), step);
                seq += 1;
            } else {
                let ((t, _), want) = shadow.pop_first().unwrap();
                assert_eq!(q.pop(), Some((SimTime(t), want)));
            }
            assert_eq!(q.len(), shadow.len());
        }
    }
}
