//! The least-loaded replica, kept as loads change: a bucket queue.
//!
//! Routing asks "which replica has the fewest outstanding requests (ties to
//! the lowest index)?" once per arrival, and loads change a few times per
//! request (arrival, step end, cancel, hand-off), each by a few requests.
//! Scanning every replica per arrival costs O(replicas), which dominates a
//! 2,000-replica fleet; a balanced tree over `(load, index)` costs
//! O(log replicas) per change and walks out of the cache at fleet size.
//!
//! Outstanding counts are small integers that move by small steps, so the
//! replicas are kept in one bucket per load, each bucket a hierarchical
//! bitset of replica indices (64 per word, then one bit per non-zero word,
//! and so on up to a single word), and the index remembers the least
//! non-empty load. The pick is that bucket's lowest set bit, exactly
//! `min_by_key(load)` over the indices in order, the choice a linear scan
//! makes. The same buckets answer "the least loaded of these replicas"
//! (a prefix's holders, as a bitset in the buckets' layout) by walking the
//! loads upwards and intersecting each bucket with the set, so the set
//! needs no ordering by load and costs nothing when loads change. Costs,
//! n replicas, a load change from `old` to `new`:
//!
//! | operation | cost |
//! |---|---|
//! | [`LoadIndex::least`] | O(log₆₄ n) word reads (3 at 10,000 replicas) |
//! | [`LoadIndex::set`] | O(log₆₄ n) word writes, plus O(new − old) bucket checks when it empties the least bucket |
//! | [`LoadIndex::least_within`] | one check per load from the least to the limit, plus one [`Layout::first_common`] per non-empty bucket on the way |
//!
//! Memory: the bitsets live in one arena of fixed-size slots, one per
//! non-empty load, reused through a free list; k distinct loads need at
//! least k(k−1)/2 outstanding requests, so the arena stays a small
//! multiple of n/8 bytes. The bucket table has one 4-byte entry per load
//! up to the highest seen, which the requests holding that load outweigh.

mod bitset;

pub use bitset::Layout;

/// Loads of `n` replicas and, in the least non-empty bucket, the least
/// loaded.
#[derive(Debug, Clone)]
pub struct LoadIndex {
    loads: Vec<u64>,
    /// Per load, the arena slot of its bitset, or [`EMPTY`].
    buckets: Vec<u32>,
    /// The least load whose bucket is non-empty (0 when there are no
    /// replicas).
    min: usize,
    /// Bitset slots, `layout.words()` words each.
    arena: Vec<u64>,
    layout: Layout,
    /// Slots not in use.
    free: Vec<u32>,
}

const EMPTY: u32 = u32::MAX;

impl LoadIndex {
    /// `n` replicas, all at load 0. O(n).
    pub fn new(n: usize) -> Self {
        let mut index = LoadIndex {
            loads: vec![0; n],
            buckets: vec![EMPTY],
            min: 0,
            arena: Vec::new(),
            layout: Layout::new(n),
            free: Vec::new(),
        };
        for i in 0..n {
            index.insert(i, 0);
        }
        index
    }

    pub fn len(&self) -> usize {
        self.loads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.loads.is_empty()
    }

    pub fn load(&self, i: usize) -> u64 {
        self.loads[i]
    }

    /// The layout of the buckets' bitsets, for sets of replicas that
    /// [`LoadIndex::least_within`] intersects with them.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The replica with the least load, ties to the lowest index; None if
    /// there are no replicas.
    pub fn least(&self) -> Option<usize> {
        let slot = *self.buckets.get(self.min).filter(|&&s| s != EMPTY)?;
        self.layout.first(self.slot(slot))
    }

    /// The least-loaded replica of `members` (a bitset in
    /// [`LoadIndex::layout`]) whose load is at most `limit`, ties to the
    /// lowest index; None if every member's load exceeds `limit`. Walks
    /// the buckets from the least load up to `limit`, intersecting each
    /// non-empty one with `members`.
    pub fn least_within(&self, members: &[u64], limit: u64) -> Option<usize> {
        let top = usize::try_from(limit).unwrap_or(usize::MAX).min(self.buckets.len() - 1);
        self.buckets
            .get(self.min..=top)?
            .iter()
            .filter(|&&slot| slot != EMPTY)
            .find_map(|&slot| self.layout.first_common(self.slot(slot), members))
    }

    /// Replica `i`'s load is now `load`.
    pub fn set(&mut self, i: usize, load: u64) {
        let old = self.loads[i];
        if old == load {
            return;
        }
        self.remove(i, old as usize);
        self.insert(i, load as usize);
        self.loads[i] = load;
        if (load as usize) < self.min {
            self.min = load as usize;
        } else {
            // Only a change out of the least bucket can empty it; the
            // replica's new bucket bounds the climb.
            while self.buckets[self.min] == EMPTY {
                self.min += 1;
            }
        }
    }

    fn slot(&self, slot: u32) -> &[u64] {
        let words = self.layout.words();
        &self.arena[slot as usize * words..][..words]
    }

    /// Sets replica `i`'s bit in bucket `load`, taking a slot if the
    /// bucket was empty.
    fn insert(&mut self, i: usize, load: usize) {
        let words = self.layout.words();
        if load >= self.buckets.len() {
            self.buckets.resize(load + 1, EMPTY);
        }
        if self.buckets[load] == EMPTY {
            self.buckets[load] = self.free.pop().unwrap_or_else(|| {
                self.arena.resize(self.arena.len() + words, 0);
                (self.arena.len() / words - 1) as u32
            });
        }
        let start = self.buckets[load] as usize * words;
        self.layout.insert(&mut self.arena[start..start + words], i);
    }

    /// Clears replica `i`'s bit in bucket `load`, freeing the slot if the
    /// bucket is left empty.
    fn remove(&mut self, i: usize, load: usize) {
        let slot = self.buckets[load];
        let start = slot as usize * self.layout.words();
        if self.layout.remove(&mut self.arena[start..start + self.layout.words()], i) {
            self.buckets[load] = EMPTY;
            self.free.push(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The linear scan the index replaced.
    fn scan(loads: &[u64]) -> Option<usize> {
        (0..loads.len()).min_by_key(|&i| loads[i])
    }

    proptest! {
        /// The least-loaded replica is the scan's, ties to the lowest
        /// index, over pools of one and two bitset levels and loads that
        /// jump as well as step.
        #[test]
        fn least_matches_the_linear_scan(
            (n, ops) in (1usize..300).prop_flat_map(|n| {
                let change = (0..n, prop_oneof![0u64..6, 0u64..200]);
                (Just(n), proptest::collection::vec(change, 1..300))
            })
        ) {
            let mut index = LoadIndex::new(n);
            let mut loads = vec![0; n];
            for (i, load) in ops {
                loads[i] = load;
                index.set(i, load);
                prop_assert_eq!(index.least(), scan(&loads));
                prop_assert_eq!(index.load(i), load);
            }
        }
    }

    #[test]
    fn least_loaded_ties_go_to_the_lowest_index() {
        let mut index = LoadIndex::new(5);
        assert_eq!(index.least(), Some(0));
        index.set(0, 3);
        index.set(1, 3);
        assert_eq!(index.least(), Some(2));
        [2, 3, 4].into_iter().for_each(|i| index.set(i, 3));
        assert_eq!(index.least(), Some(0));
        index.set(4, 1);
        assert_eq!(index.least(), Some(4));
        assert_eq!(LoadIndex::new(0).least(), None);
    }

    /// Three bitset levels (more than 4,096 replicas): every replica but
    /// the last moves up in turn, so the least climbs through the words.
    #[test]
    fn least_is_found_through_three_levels() {
        let n = 5_000;
        let mut index = LoadIndex::new(n);
        for i in 0..n - 1 {
            assert_eq!(index.least(), Some(i));
            index.set(i, 1);
        }
        assert_eq!(index.least(), Some(n - 1));
        index.set(n - 1, 2);
        assert_eq!(index.least(), Some(0));
        index.set(4_097, 0);
        assert_eq!(index.least(), Some(4_097));
    }
}
