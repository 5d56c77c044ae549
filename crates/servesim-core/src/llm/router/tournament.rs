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
//! | [`Tournament::least`] | O(1); O(c) load reads when every holder carries 2³² − 1 requests or more |
//! | [`Tournament::set`], [`Tournament::leave`] | O(log c) |
//! | [`Tournament::enter`] | O(log c), or O(c) when the leaves run out (at most once per doubling) |
//! | [`Tournament::members`] | O(c) |
//!
//! Memory: 2c keys of 8 bytes, and a list of vacant leaves.

/// A holder's key: its load above its replica index, so that one integer
/// compare orders by load, then by index. Eight bytes keep a tree of a
/// hundred holders in a few kilobytes; a load from [`SATURATED`] up is
/// kept as [`SATURATED`].
type Key = u64;

/// The most a key's load says; the tree cannot order loads past it.
const SATURATED: u64 = u32::MAX as u64;

fn key(load: u64, i: usize) -> Key {
    (load.min(SATURATED) << 32) | i as Key
}

/// A leaf with no holder: loses every match (no replica has index
/// `u32::MAX`).
const VACANT: Key = Key::MAX;

/// The holders of one prefix and their loads, as a tournament.
#[derive(Debug)]
pub(super) struct Tournament {
    /// Node k's winner; the leaves are `c..2c` (c = `nodes.len() / 2`),
    /// the root node 1, node 0 unused.
    nodes: Vec<Key>,
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

    /// The least-loaded holder and its load (`load_of` gives every
    /// replica's), ties to the lowest index; None if there are no holders.
    /// The root's, unless every holder's load is past what a key holds:
    /// then the holders are read.
    pub(super) fn least(&self, load_of: impl Fn(usize) -> u64) -> Option<(u64, usize)> {
        let root = self.nodes[1];
        if root == VACANT {
            return None;
        }
        let (load, i) = (root >> 32, root as u32 as usize);
        if load < SATURATED {
            return Some((load, i));
        }
        let holders = self.nodes[self.leaves()..].iter().filter(|&&key| key != VACANT);
        holders.map(|&key| (load_of(key as u32 as usize), key as u32 as usize)).min()
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
        self.replay(leaf, key(load, i));
        leaf
    }

    /// The holder at `leaf` leaves.
    pub(super) fn leave(&mut self, leaf: u32) {
        self.replay(leaf, VACANT);
        self.vacant.push(leaf);
    }

    /// The holder at `leaf` is now at `load`.
    pub(super) fn set(&mut self, leaf: u32, load: u64) {
        let i = self.nodes[self.leaves() + leaf as usize] as u32 as usize;
        self.replay(leaf, key(load, i));
    }

    /// The holders, in no particular order, appended to `out`.
    pub(super) fn members(&self, out: &mut Vec<u32>) {
        out.extend(self.nodes[self.leaves()..].iter().filter(|&&key| key != VACANT).map(|&key| key as u32));
    }

    /// Puts `key` at `leaf` and replays the matches above it until one's
    /// winner is unchanged; the winner climbs in a register, each match
    /// reading only the sibling.
    fn replay(&mut self, leaf: u32, key: Key) {
        let mut k = self.leaves() + leaf as usize;
        self.nodes[k] = key;
        let mut winner = key;
        while k > 1 {
            winner = winner.min(self.nodes[k ^ 1]);
            k /= 2;
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
        /// (load, replica) among the holders, loads past what a key holds
        /// included.
        #[test]
        fn root_is_the_least_holder(
            capacity in 0usize..5,
            ops in proptest::collection::vec(
                (0usize..40, prop_oneof![0u64..10, SATURATED - 2..SATURATED + 3], any::<bool>()),
                1..300,
            ),
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
                prop_assert_eq!(tree.least(|j| holders[&j].1), least);
                prop_assert_eq!(tree.len(), holders.len());
                let mut members = Vec::new();
                tree.members(&mut members);
                members.sort_unstable();
                prop_assert_eq!(members, holders.keys().map(|&i| i as u32).collect::<Vec<_>>());
            }
        }
    }
}
