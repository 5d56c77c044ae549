//! Hierarchical bitsets over replica indices: 64 replicas per word at
//! level 0, then one bit per non-zero word of the level below, up to a
//! single word. The lowest member, or the lowest member of two sets at
//! once, is found by descending one word per level instead of scanning
//! the replicas.
//!
//! A [`Layout`] describes the sets of one pool; the words live in the
//! caller's storage (a slot of the load index's arena, a prefix's holder
//! set), so the sets of a pool share one layout. Costs, n replicas
//! (log₆₄ n is 3 at 10,000):
//!
//! | operation | cost |
//! |---|---|
//! | [`Layout::insert`], [`Layout::remove`], [`Layout::first`] | O(log₆₄ n) words |
//! | [`Layout::first_common`] | O(log₆₄ n) words, plus one word per level-0 word both sets touch without a common member, below the first common one |
//! | [`Layout::members`] | O(members × log₆₄ n) words |

/// Where each level of a pool's bitsets starts, and the words per set.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Start of each level within a set; `levels[0] == 0`, the last level
    /// is a single word.
    levels: Vec<usize>,
    words: usize,
}

impl Layout {
    /// Sets over `n` replicas.
    pub fn new(n: usize) -> Self {
        let mut levels = vec![0];
        let mut level_words = n.div_ceil(64).max(1);
        let mut words = level_words;
        while level_words > 1 {
            levels.push(words);
            level_words = level_words.div_ceil(64);
            words += level_words;
        }
        Layout { levels, words }
    }

    /// Words per set.
    pub fn words(&self) -> usize {
        self.words
    }

    pub fn contains(&self, set: &[u64], i: usize) -> bool {
        (set[i / 64] >> (i % 64)) & 1 == 1
    }

    /// Adds replica `i` to `set`.
    pub fn insert(&self, set: &mut [u64], i: usize) {
        let mut bit = i;
        for &start in &self.levels {
            let word = &mut set[start + bit / 64];
            let was_zero = *word == 0;
            *word |= 1 << (bit % 64);
            if !was_zero {
                break;
            }
            bit /= 64;
        }
    }

    /// Removes replica `i` from `set`; true if the set is left empty.
    pub fn remove(&self, set: &mut [u64], i: usize) -> bool {
        let mut bit = i;
        for &start in &self.levels {
            let word = &mut set[start + bit / 64];
            *word &= !(1 << (bit % 64));
            if *word != 0 {
                return false;
            }
            bit /= 64;
        }
        true
    }

    /// The lowest member of `set`; None if it is empty.
    pub fn first(&self, set: &[u64]) -> Option<usize> {
        let top = self.levels.len() - 1;
        if set[self.levels[top]] == 0 {
            return None;
        }
        let mut i = 0;
        for &start in self.levels.iter().rev() {
            i = 64 * i + set[start + i].trailing_zeros() as usize;
        }
        Some(i)
    }

    /// The lowest replica in both `a` and `b`; None if they are disjoint.
    pub fn first_common(&self, a: &[u64], b: &[u64]) -> Option<usize> {
        self.first_common_under(a, b, self.levels.len() - 1, 0)
    }

    /// The lowest common member under word `word` of level `level`.
    fn first_common_under(&self, a: &[u64], b: &[u64], level: usize, word: usize) -> Option<usize> {
        let at = self.levels[level] + word;
        let mut both = a[at] & b[at];
        while both != 0 {
            let bit = 64 * word + both.trailing_zeros() as usize;
            if level == 0 {
                return Some(bit);
            }
            if let Some(i) = self.first_common_under(a, b, level - 1, bit) {
                return Some(i);
            }
            both &= both - 1;
        }
        None
    }

    /// The members of `set`, in increasing order, appended to `out`.
    pub fn members(&self, set: &[u64], out: &mut Vec<u32>) {
        self.members_under(set, self.levels.len() - 1, 0, out);
    }

    fn members_under(&self, set: &[u64], level: usize, word: usize, out: &mut Vec<u32>) {
        let mut bits = set[self.levels[level] + word];
        while bits != 0 {
            let bit = 64 * word + bits.trailing_zeros() as usize;
            if level == 0 {
                out.push(bit as u32);
            } else {
                self.members_under(set, level - 1, bit, out);
            }
            bits &= bits - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn set_of(layout: &Layout, members: &BTreeSet<usize>) -> Vec<u64> {
        let mut set = vec![0; layout.words()];
        members.iter().for_each(|&i| layout.insert(&mut set, i));
        set
    }

    proptest! {
        /// Membership, the lowest member, the lowest common member and the
        /// member list agree with ordered sets, over one, two and three
        /// levels.
        #[test]
        fn bitsets_match_ordered_sets(
            (n, a, b, gone) in prop_oneof![1usize..200, 4_000usize..9_000].prop_flat_map(|n| (
                Just(n),
                proptest::collection::btree_set(0..n, 0..40),
                proptest::collection::btree_set(0..n, 0..40),
                proptest::collection::vec(0..n, 0..20),
            ))
        ) {
            let layout = Layout::new(n);
            let (mut a, b) = (a, b);
            let mut set_a = set_of(&layout, &a);
            let set_b = set_of(&layout, &b);
            for i in gone {
                if a.remove(&i) {
                    prop_assert_eq!(layout.remove(&mut set_a, i), a.is_empty());
                }
            }
            prop_assert_eq!(layout.first(&set_a), a.first().copied());
            prop_assert_eq!(layout.first_common(&set_a, &set_b), a.intersection(&b).next().copied());
            let mut members = Vec::new();
            layout.members(&set_a, &mut members);
            prop_assert_eq!(members, a.iter().map(|&i| i as u32).collect::<Vec<_>>());
            prop_assert!((0..n).all(|i| layout.contains(&set_a, i) == a.contains(&i)));
        }
    }
}
