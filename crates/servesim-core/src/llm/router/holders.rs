//! Which replicas cache which prefix, and the least loaded of a prefix's
//! holders, for prefix-affinity routing.
//!
//! Holder sets are not ordered by load. A replica caches many prefixes
//! (in a small pool, most of them), so keeping each set ordered would
//! re-key a replica in every set it belongs to on each of its load
//! changes, a cost that grows as the pool shrinks. Here a load change
//! costs nothing, and the pick does the work, by the size of the set:
//!
//! - few holders (at most the set's `few` bound): a sorted list, and the
//!   pick reads each holder's load;
//! - more: a bitset in the load index's layout, and the pick walks the
//!   load buckets from the least load up to its limit, intersecting each
//!   with the set ([`LoadIndex::least_within`]); the more holders, the
//!   sooner a bucket meets one.
//!
//! A set becomes a bitset when it grows past `few` and a list again when
//! it shrinks to `few / 2`, so one hovering at the bound does not convert
//! on every change. Costs, n replicas, h holders of the prefix, `few` the
//! bound, log₆₄ n the depth of the bitsets (3 at 10,000 replicas):
//!
//! | operation | cost |
//! |---|---|
//! | least holder within a load limit, h ≤ few | h load reads |
//! | least holder within a load limit, h > few | one check per load from the least to the limit; per non-empty bucket on the way, O(log₆₄ n) words plus one per 64-replica word that holds both holders and that bucket's replicas but no replica in both |
//! | replica starts or stops caching a prefix | O(log prefixes) lookup, then O(few) list shift or O(log₆₄ n) bitset words; a conversion O(n/64 + few log₆₄ n) words, at most once per few/2 changes of that set |
//! | load change | none |
//!
//! Memory: a list of at most `few` indices per cached prefix, or n/8 bytes
//! for a prefix with more than `few` holders.

use super::super::load_index::{Layout, LoadIndex};
use std::collections::BTreeMap;

/// The replicas caching one prefix.
#[derive(Debug)]
pub(super) enum HolderSet {
    /// Replica indices, increasing.
    Few(Vec<u32>),
    /// A bitset in the load index's layout, and how many it holds.
    Many { members: Box<[u64]>, count: usize },
}

impl HolderSet {
    /// The least-loaded holder whose load is at most `limit`, ties to the
    /// lowest index; None if every holder's load exceeds it.
    pub(super) fn least_within(&self, loads: &LoadIndex, limit: u64) -> Option<usize> {
        match self {
            HolderSet::Few(list) => {
                // The list is by index, so the first holder at the least
                // load is the tie-break's: one compare per holder.
                let (&first, rest) = list.split_first()?;
                let (mut least, mut at) = (loads.load(first as usize), first);
                for &i in rest {
                    let load = loads.load(i as usize);
                    if load < least {
                        (least, at) = (load, i);
                    }
                }
                (least <= limit).then_some(at as usize)
            }
            HolderSet::Many { members, .. } => loads.least_within(members, limit),
        }
    }

    fn len(&self) -> usize {
        match self {
            HolderSet::Few(list) => list.len(),
            HolderSet::Many { count, .. } => *count,
        }
    }

    fn insert(&mut self, i: usize, few: usize, layout: &Layout) {
        match self {
            HolderSet::Few(list) => {
                let Err(at) = list.binary_search(&(i as u32)) else { return };
                list.insert(at, i as u32);
                if list.len() > few {
                    let mut members = vec![0; layout.words()].into_boxed_slice();
                    list.iter().for_each(|&j| layout.insert(&mut members, j as usize));
                    *self = HolderSet::Many { members, count: list.len() };
                }
            }
            HolderSet::Many { members, count } => {
                if !layout.contains(members, i) {
                    layout.insert(members, i);
                    *count += 1;
                }
            }
        }
    }

    fn remove(&mut self, i: usize, few: usize, layout: &Layout) {
        match self {
            HolderSet::Few(list) => {
                if let Ok(at) = list.binary_search(&(i as u32)) {
                    list.remove(at);
                }
            }
            HolderSet::Many { members, count } => {
                if layout.contains(members, i) {
                    layout.remove(members, i);
                    *count -= 1;
                    if *count <= few / 2 {
                        let mut list = Vec::with_capacity(few + 1);
                        layout.members(members, &mut list);
                        *self = HolderSet::Few(list);
                    }
                }
            }
        }
    }
}

/// Per prefix, the replicas caching it (prefixes nobody caches are
/// absent).
#[derive(Debug)]
pub(super) struct Holders {
    /// Most holders a set keeps as a list.
    few: usize,
    by_prefix: BTreeMap<u32, HolderSet>,
}

impl Holders {
    pub(super) fn new(few: usize) -> Self {
        Holders { few, by_prefix: BTreeMap::new() }
    }

    /// The replicas caching prefix `id`; None if none does.
    pub(super) fn of(&self, id: u32) -> Option<&HolderSet> {
        self.by_prefix.get(&id)
    }

    /// Replica `i` now caches prefix `id` (`holds`), or no longer does;
    /// telling it what it already knows changes nothing. `layout` is the
    /// load index's.
    pub(super) fn set(&mut self, i: usize, id: u32, holds: bool, layout: &Layout) {
        if holds {
            self.by_prefix.entry(id).or_insert_with(|| HolderSet::Few(Vec::new())).insert(i, self.few, layout);
        } else if let Some(set) = self.by_prefix.get_mut(&id) {
            set.remove(i, self.few, layout);
            if set.len() == 0 {
                self.by_prefix.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Whatever the bound between list and bitset, and however sets
        /// cross it both ways, the least holder within a limit is a scan's
        /// (ties to the lowest index), over one and two bitset levels.
        #[test]
        fn least_holder_matches_a_scan(
            (n, few, ops) in (1usize..300, 0usize..6).prop_flat_map(|(n, few)| {
                let op = (0..n, 0u32..3, any::<bool>(), 0u64..12, 0u64..16);
                (Just(n), Just(few), proptest::collection::vec(op, 1..400))
            })
        ) {
            let mut loads = LoadIndex::new(n);
            let mut holders = Holders::new(few);
            let mut held = vec![BTreeSet::new(); 3];
            for (i, id, holds, load, limit) in ops {
                loads.set(i, load);
                holders.set(i, id, holds, loads.layout());
                if holds { held[id as usize].insert(i); } else { held[id as usize].remove(&i); }
                for (id, set) in held.iter().enumerate() {
                    let scan = set.iter().copied().filter(|&j| loads.load(j) <= limit).min_by_key(|&j| loads.load(j));
                    let least = holders.of(id as u32).and_then(|s| s.least_within(&loads, limit));
                    prop_assert_eq!(least, scan);
                    prop_assert_eq!(holders.of(id as u32).map_or(0, HolderSet::len), set.len());
                }
            }
        }
    }
}
