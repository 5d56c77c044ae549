//! The least-loaded of a prefix's holders, kept as their loads change: a
//! tournament tree over the holders.
//!
//! A prefix cached by a few dozen to a few thousand replicas of a large
//! pool is too many to read at each pick and too sparse for the load
//! buckets to meet one soon (most buckets' replicas are not holders). Its
//! holders instead play a tournament: each holder sits at a leaf with its
//! `(load, replica)` key, each inner node keeps the lesser key of its two
//! children, and the root is the least-loaded holder, ties to the lowest
//! replica index whatever the leaves' order. A holder's load change
//! replays its matches up to the root, stopping at the first node whose
//! winner it does not change. Leaves are handed out in any order and
//! reused once vacated; the tree doubles when they run out, keeping every
//! leaf where it was. Costs, `c` leaves (a power of two, at most twice the
//! most holders the set has had):
//!
//! | operation | cost |
//! |---|---|
//! | [`Tournament::least`] | O(1) |
//! | [`Tournament::set`], [`Tournament::leave`] | O(log c) |
//! | [`Tournament::enter`] | O(log c), or O(c) when the leaves run out (at most once per doubling) |
//! | [`Tournament::members`] | O(c) |
//!
//! Memory: 2c keys of 16 bytes, and a list of vacant leaves.

/// A leaf with no holder: loses every match.
const VACANT: (u64, u32) = (u64::MAX, u32::MAX);

/// The holders of one prefix and their loads, as a tournament.
#[derive(Debug)]
pub(super) struct Tournament {
    /// Node k's winner; the leaves are `c..2c` (c = `nodes.len() / 2`),
    /// the root node 1, node 0 unused.
    nodes: Vec<(u64, u32)>,
    /// Leaves without a holder.
    vacant: Vec<u32>,
}

impl Tournament {
    /// No holders yet, room for `capacity` before the tree grows.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        let c = capacity.max(1).next_power_of_two();
        Tournament { nodes: vec![VACANT; 2 * c], vacant: (0..c as u32).rev().collect() }
    }

    fn leaves(&self) -> usize {
        self.nodes.len() / 2
    }

    /// The least-loaded holder and its load, ties to the lowest index;
    /// None if there are no holders.
    pub(super) fn least(&self) -> Option<(u64, usize)> {
        let (load, i) = self.nodes[1];
        (self.nodes[1] != VACANT).then_some((load, i as usize))
    }

    /// Holders, as many as the tree has had leaves taken and not vacated.
    pub(super) fn len(&self) -> usize {
        self.leaves() - self.vacant.len()
    }

    /// Replica `i`, at `load`, becomes a holder; returns its leaf.
    pub(super) fn enter(&mut self, i: usize, load: u64) -> u32 {
        let leaf = match self.vacant.pop() {
            Some(leaf) => leaf,
            None => self.grow(),
        };
        self.replay(leaf, (load, i as u32));
        leaf
    }

    /// The holder at `leaf` leaves.
    pub(super) fn leave(&mut self, leaf: u32) {
        self.replay(leaf, VACANT);
        self.vacant.push(leaf);
    }

    /// The holder at `leaf` is now at `load`.
    pub(super) fn set(&mut self, leaf: u32, load: u64) {
        let (_, i) = self.nodes[self.leaves() + leaf as usize];
        self.replay(leaf, (load, i));
    }

    /// The holders, in no particular order, appended to `out`.
    pub(super) fn members(&self, out: &mut Vec<u32>) {
        out.extend(self.nodes[self.leaves()..].iter().filter(|&&key| key != VACANT).map(|&(_, i)| i));
    }

    /// Puts `key` at `leaf` and replays the matches above it until one's
    /// winner is unchanged.
    fn replay(&mut self, leaf: u32, key: (u64, u32)) {
        let mut k = self.leaves() + leaf as usize;
        self.nodes[k] = key;
        while k > 1 {
            k /= 2;
            let winner = self.nodes[2 * k].min(self.nodes[2 * k + 1]);
            if self.nodes[k] == winner {
                break;
            }
            self.nodes[k] = winner;
        }
    }

    /// Doubles the leaves: the old tree becomes the new root's left
    /// subtree, so every leaf keeps its number. Returns the first new
    /// leaf; the others become vacant. O(c).
    fn grow(&mut self) -> u32 {
        let c = self.leaves();
        let mut nodes = vec![VACANT; 4 * c];
        // Level by level, each of the old tree's levels moves down one
        // and doubles its offset: old node k at depth d is new node k + 2^d.
        let mut width = 1;
        while width <= c {
            nodes[2 * width..3 * width].copy_from_slice(&self.nodes[width..2 * width]);
            width *= 2;
        }
        nodes[1] = nodes[2];
        self.nodes = nodes;
        self.vacant.extend((c as u32 + 1..2 * c as u32).rev());
        c as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Whatever the order of entries, departures and load changes,
        /// and however often the tree grows, the root is the least
        /// (load, replica) among the holders.
        #[test]
        fn root_is_the_least_holder(
            capacity in 0usize..5,
            ops in proptest::collection::vec((0usize..40, 0u64..10, any::<bool>()), 1..300),
        ) {
            let mut tree = Tournament::with_capacity(capacity);
            let mut holders: BTreeMap<usize, (u32, u64)> = BTreeMap::new();
            for (i, load, stays) in ops {
                match (holders.get(&i).copied(), stays) {
                    (Some((leaf, _)), true) => {
                        tree.set(leaf, load);
                        holders.insert(i, (leaf, load));
                    }
                    (Some((leaf, _)), false) => {
                        tree.leave(leaf);
                        holders.remove(&i);
                    }
                    (None, _) => {
                        holders.insert(i, (tree.enter(i, load), load));
                    }
                }
                let least = holders.iter().map(|(&i, &(_, load))| (load, i)).min();
                prop_assert_eq!(tree.least(), least);
                prop_assert_eq!(tree.len(), holders.len());
                let mut members = Vec::new();
                tree.members(&mut members);
                members.sort_unstable();
                prop_assert_eq!(members, holders.keys().map(|&i| i as u32).collect::<Vec<_>>());
            }
        }
    }
}
