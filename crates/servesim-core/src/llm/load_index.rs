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
//! makes. Costs, n replicas, a load change from `old` to `new`:
//!
//! | operation | cost |
//! |---|---|
//! | [`LoadIndex::least`] | O(log₆₄ n) word reads (3 at 10,000 replicas) |
//! | [`LoadIndex::set`] | O(log₆₄ n) word writes, plus O(new − old) bucket checks when it empties the least bucket |
//!
//! Memory: the bitsets live in one arena of fixed-size slots, one per
//! non-empty load, reused through a free list; k distinct loads need at
//! least k(k−1)/2 outstanding requests, so the arena stays a small
//! multiple of n/8 bytes. The bucket table has one 4-byte entry per load
//! up to the highest seen, which the requests holding that load outweigh.

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
    /// Bitset slots, `stride` words each: level 0 (one bit per replica)
    /// first, then each summary level, the last a single word.
    arena: Vec<u64>,
    /// Start of each level within a slot; `levels[0] == 0`.
    levels: Vec<usize>,
    stride: usize,
    /// Slots not in use.
    free: Vec<u32>,
}

const EMPTY: u32 = u32::MAX;

impl LoadIndex {
    /// `n` replicas, all at load 0. O(n).
    pub fn new(n: usize) -> Self {
        let mut levels = vec![0];
        let mut words = n.div_ceil(64).max(1);
        let mut stride = words;
        while words > 1 {
            levels.push(stride);
            words = words.div_ceil(64);
            stride += words;
        }
        let mut index = LoadIndex {
            loads: vec![0; n],
            buckets: vec![EMPTY],
            min: 0,
            arena: Vec::new(),
            levels,
            stride,
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

    /// The replica with the least load, ties to the lowest index; None if
    /// there are no replicas.
    pub fn least(&self) -> Option<usize> {
        let slot = *self.buckets.get(self.min).filter(|&&s| s != EMPTY)?;
        let words = self.slot(slot);
        let mut i = 0;
        for &start in self.levels.iter().rev() {
            i = 64 * i + words[start + i].trailing_zeros() as usize;
        }
        Some(i)
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
        let start = slot as usize * self.stride;
        &self.arena[start..start + self.stride]
    }

    /// Sets replica `i`'s bit in bucket `load`, taking a slot if the
    /// bucket was empty.
    fn insert(&mut self, i: usize, load: usize) {
        if load >= self.buckets.len() {
            self.buckets.resize(load + 1, EMPTY);
        }
        if self.buckets[load] == EMPTY {
            self.buckets[load] = self.free.pop().unwrap_or_else(|| {
                self.arena.resize(self.arena.len() + self.stride, 0);
                (self.arena.len() / self.stride - 1) as u32
            });
        }
        let LoadIndex { arena, levels, stride, .. } = self;
        let words = &mut arena[self.buckets[load] as usize * *stride..];
        let mut bit = i;
        for &start in levels.iter() {
            let word = &mut words[start + bit / 64];
            let was_zero = *word == 0;
            *word |= 1 << (bit % 64);
            if !was_zero {
                break;
            }
            bit /= 64;
        }
    }

    /// Clears replica `i`'s bit in bucket `load`, freeing the slot if the
    /// bucket is left empty.
    fn remove(&mut self, i: usize, load: usize) {
        let slot = self.buckets[load];
        let LoadIndex { arena, levels, stride, .. } = self;
        let words = &mut arena[slot as usize * *stride..];
        let mut bit = i;
        let mut emptied = true;
        for &start in levels.iter() {
            let word = &mut words[start + bit / 64];
            *word &= !(1 << (bit % 64));
            if *word != 0 {
                emptied = false;
                break;
            }
            bit /= 64;
        }
        if emptied {
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
