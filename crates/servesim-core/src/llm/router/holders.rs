//! Which replicas cache which prefix, and the least loaded of a prefix's
//! holders, for prefix-affinity routing.
//!
//! What the pick can afford depends on how many replicas hold the prefix,
//! and what a load change can afford on how many sets the replica is in,
//! so a holder set takes one of three forms by its size h:
//!
//! - a few holders (h ≤ `few`): a list by index, and the pick reads each
//!   holder's load. A load change costs nothing, which matters in small
//!   pools, where a replica caches most prefixes.
//! - more, but a small share of the pool (h ≤ `many`): a tournament over
//!   the holders' `(load, replica)` (`tournament.rs`), whose root the pick
//!   reads; each holder's load change replays its matches. A replica of a
//!   large pool caches few of the prefixes that are held this sparsely
//!   (the sets hold at most `many` of n replicas each), so the replays per
//!   load change stay few; and the pick reads neither dozens of loads nor
//!   load buckets that hold no holder.
//! - a large share of the pool (h > `many`): a bitset in the load index's
//!   layout, and the pick walks the load buckets from the least load up
//!   to its limit, intersecting each with the set
//!   ([`LoadIndex::least_within`]); the denser the holders, the sooner a
//!   bucket meets one. A load change costs nothing, which matters when a
//!   prefix is cached everywhere (every replica is in the set).
//!
//! The bands overlap (a list up to `few`, a tournament from `few / 2` to
//! `many`, a bitset from `many / 2`; `many ≥ 2 few`), and a set converts
//! only when it leaves its band, so it converts at most once per `few / 2`
//! changes of it, and into or out of a bitset at most once per `many / 2`.
//! Costs, n replicas, h holders of the prefix, r the tournaments replica
//! `i` plays in, c ≤ 2 × (most holders the set has had) a tournament's
//! leaves, log₆₄ n the depth of the bitsets (3 at 10,000 replicas):
//!
//! | operation | cost |
//! |---|---|
//! | least holder within a load limit, list | h ≤ `few` load reads |
//! | least holder within a load limit, tournament | O(1) (c load reads when every holder carries 2³² − 1 requests or more) |
//! | least holder within a load limit, bitset | one check per load from the least to the limit; per non-empty bucket on the way, O(log₆₄ n) words plus one per 64-replica word that holds both holders and that bucket's replicas but no replica in both |
//! | load change of replica `i` | O(r log c): one replay per tournament it plays in; nothing for lists and bitsets |
//! | replica starts or stops caching a prefix | O(log prefixes) lookup, then an O(`few`) list shift, O(r + log c) tournament seat, or O(log₆₄ n) bitset words |
//! | conversion (amortized over the changes above) | list to tournament or back O(h log h + Σ r over the holders); to or from a bitset O(n/64 + h log₆₄ n) more |
//!
//! Memory: a list of at most `few` indices per cached prefix, 16c bytes
//! for a tournament plus 8 per holder in the players' lists, n/8 bytes for
//! a bitset.

use super::super::load_index::LoadIndex;
use super::tournament::Tournament;
use std::collections::BTreeMap;

/// The replicas caching one prefix, in the form its size calls for.
#[derive(Debug)]
enum HolderSet {
    /// Replica indices, increasing.
    Few(Vec<u32>),
    /// The slot of the holders' tournament in [`Holders::tournaments`].
    Ranked(u32),
    /// A bitset in the load index's layout, and how many it holds.
    Many { members: Box<[u64]>, count: usize },
}

/// Which form a holder set takes.
#[derive(Debug, Clone, Copy)]
enum Form {
    Few,
    Ranked,
    Many,
}

/// Per prefix, the replicas caching it (prefixes nobody caches are
/// absent), and per replica the tournaments it plays in.
#[derive(Debug)]
pub(super) struct Holders {
    /// Most holders a set keeps as a list.
    few: usize,
    /// Most holders a set keeps as a tournament.
    many: usize,
    by_prefix: BTreeMap<u32, HolderSet>,
    /// The ranked sets' tournaments, by slot.
    tournaments: Vec<Tournament>,
    /// Slots of `tournaments` no set uses.
    unused: Vec<u32>,
    /// Per replica, the tournaments it plays in: (slot, its leaf there).
    playing: Vec<Vec<(u32, u32)>>,
}

impl Holders {
    /// Holder sets over `n` replicas: lists up to `few` holders,
    /// tournaments up to `many`, bitsets beyond. `many` must be at least
    /// `2 * few`, so that every form's band is wide enough to pay for the
    /// conversion into it.
    pub(super) fn new(few: usize, many: usize, n: usize) -> Self {
        debug_assert!(many >= 2 * few, "a tournament band of {few}..{many} holders is too narrow");
        Holders {
            few,
            many,
            by_prefix: BTreeMap::new(),
            tournaments: Vec::new(),
            unused: Vec::new(),
            playing: vec![Vec::new(); n],
        }
    }

    /// The least-loaded replica caching prefix `id` whose load is at most
    /// `limit`, ties to the lowest index: `Some(None)` if every holder's
    /// load exceeds it, None if no replica caches the prefix.
    pub(super) fn least_within(&self, id: u32, loads: &LoadIndex, limit: u64) -> Option<Option<usize>> {
        Some(match self.by_prefix.get(&id)? {
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
            HolderSet::Ranked(slot) => {
                let least = self.tournaments[*slot as usize].least(|j| loads.load(j));
                least.filter(|&(load, _)| load <= limit).map(|(_, i)| i)
            }
            HolderSet::Many { members, .. } => loads.least_within(members, limit),
        })
    }

    /// Replica `i`'s load is now `load`: replays its matches in the
    /// tournaments it plays in.
    #[inline]
    pub(super) fn load_changed(&mut self, i: usize, load: u64) {
        let Some(seats) = self.playing.get(i).filter(|seats| !seats.is_empty()) else { return };
        for &(slot, leaf) in seats {
            self.tournaments[slot as usize].set(leaf, load);
        }
    }

    /// Replica `i` now caches prefix `id` (`holds`), or no longer does;
    /// telling it what it already knows changes nothing. `loads` is the
    /// pool's view, with `i`'s current load.
    pub(super) fn set(&mut self, i: usize, id: u32, holds: bool, loads: &LoadIndex) {
        let Some(set) = self.by_prefix.get_mut(&id) else {
            if holds {
                self.by_prefix.insert(id, HolderSet::Few(vec![i as u32]));
                self.settle(id, loads);
            }
            return;
        };
        let layout = loads.layout();
        match set {
            HolderSet::Few(list) => match (list.binary_search(&(i as u32)), holds) {
                (Err(at), true) => list.insert(at, i as u32),
                (Ok(at), false) => _ = list.remove(at),
                _ => return,
            },
            HolderSet::Ranked(slot) => {
                let slot = *slot;
                let seat = self.playing[i].iter().position(|&(s, _)| s == slot);
                match (seat, holds) {
                    (None, true) => {
                        let leaf = self.tournaments[slot as usize].enter(i, loads.load(i));
                        self.playing[i].push((slot, leaf));
                    }
                    (Some(seat), false) => {
                        let (_, leaf) = self.playing[i].swap_remove(seat);
                        self.tournaments[slot as usize].leave(leaf);
                    }
                    _ => return,
                }
            }
            HolderSet::Many { members, count } => match (layout.contains(members, i), holds) {
                (false, true) => {
                    layout.insert(members, i);
                    *count += 1;
                }
                (true, false) => {
                    layout.remove(members, i);
                    *count -= 1;
                }
                _ => return,
            },
        }
        self.settle(id, loads);
    }

    fn len(&self, set: &HolderSet) -> usize {
        match set {
            HolderSet::Few(list) => list.len(),
            HolderSet::Ranked(slot) => self.tournaments[*slot as usize].len(),
            HolderSet::Many { count, .. } => *count,
        }
    }

    /// After one holder more or fewer: converts prefix `id`'s set if its
    /// size left its form's band, and drops it if it is empty. The bands
    /// overlap (a list down to nothing and up to `few`, a tournament from
    /// `few / 2` to `many`, a bitset from `many / 2`), so a set converts
    /// only after as many changes as half its size.
    fn settle(&mut self, id: u32, loads: &LoadIndex) {
        let Some(set) = self.by_prefix.get(&id) else { return };
        let h = self.len(set);
        let fits = match set {
            HolderSet::Few(_) => h <= self.few,
            HolderSet::Ranked(_) => self.few / 2 < h && h <= self.many,
            HolderSet::Many { .. } => h > self.many / 2,
        };
        if h > 0 && fits {
            return;
        }
        let Some(set) = self.by_prefix.remove(&id) else { return };
        let members = self.release(set, loads);
        if h > 0 {
            let form = if h <= self.few / 2 {
                Form::Few
            } else if h <= self.many {
                Form::Ranked
            } else {
                Form::Many
            };
            let set = self.build(form, members, loads);
            self.by_prefix.insert(id, set);
        }
    }

    /// Takes `set` apart: its members, increasing; a tournament's slot
    /// becomes unused and its players leave it. O(h log h), and a bitset's
    /// O(h log₆₄ n) walk.
    fn release(&mut self, set: HolderSet, loads: &LoadIndex) -> Vec<u32> {
        match set {
            HolderSet::Few(list) => list,
            HolderSet::Ranked(slot) => {
                let mut members = Vec::new();
                self.tournaments[slot as usize].members(&mut members);
                members.sort_unstable();
                for &j in &members {
                    self.playing[j as usize].retain(|&(s, _)| s != slot);
                }
                self.tournaments[slot as usize] = Tournament::with_capacity(1);
                self.unused.push(slot);
                members
            }
            HolderSet::Many { members: bits, count } => {
                let mut members = Vec::with_capacity(count);
                loads.layout().members(&bits, &mut members);
                members
            }
        }
    }

    /// A set of `members` (increasing) in form `form`: a list as it is; a
    /// tournament O(h log h), its players told their leaves; a bitset
    /// O(n/64 + h log₆₄ n).
    fn build(&mut self, form: Form, members: Vec<u32>, loads: &LoadIndex) -> HolderSet {
        match form {
            Form::Few => HolderSet::Few(members),
            Form::Ranked => {
                let mut tournament = Tournament::with_capacity(members.len());
                let slot = self.unused.pop().unwrap_or_else(|| {
                    self.tournaments.push(Tournament::with_capacity(1));
                    (self.tournaments.len() - 1) as u32
                });
                for &j in &members {
                    let leaf = tournament.enter(j as usize, loads.load(j as usize));
                    self.playing[j as usize].push((slot, leaf));
                }
                self.tournaments[slot as usize] = tournament;
                HolderSet::Ranked(slot)
            }
            Form::Many => {
                let layout = loads.layout();
                let mut bits = vec![0; layout.words()].into_boxed_slice();
                members.iter().for_each(|&j| layout.insert(&mut bits, j as usize));
                HolderSet::Many { members: bits, count: members.len() }
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
        /// Whatever the bounds between list, tournament and bitset, and
        /// however sets cross them both ways while loads change, the least
        /// holder within a limit is a scan's (ties to the lowest index),
        /// over one and two bitset levels.
        #[test]
        fn least_holder_matches_a_scan(
            (n, few, many, ops) in (1usize..300, 0usize..6, 0usize..12).prop_flat_map(|(n, few, extra)| {
                let op = (0..n, 0u32..3, any::<bool>(), 0u64..12, 0u64..16);
                (Just(n), Just(few), Just(2 * few + extra), proptest::collection::vec(op, 1..400))
            })
        ) {
            let mut loads = LoadIndex::new(n);
            let mut holders = Holders::new(few, many, n);
            let mut held = vec![BTreeSet::new(); 3];
            for (i, id, holds, load, limit) in ops {
                loads.set(i, load);
                holders.load_changed(i, load);
                holders.set(i, id, holds, &loads);
                if holds { held[id as usize].insert(i); } else { held[id as usize].remove(&i); }
                for (id, set) in held.iter().enumerate() {
                    let scan = set.iter().copied().filter(|&j| loads.load(j) <= limit).min_by_key(|&j| loads.load(j));
                    let least = holders.least_within(id as u32, &loads, limit);
                    prop_assert_eq!(least, (!set.is_empty()).then_some(scan));
                    let h = holders.by_prefix.get(&(id as u32)).map_or(0, |s| holders.len(s));
                    prop_assert_eq!(h, set.len());
                }
            }
            let seats: usize = holders.playing.iter().map(Vec::len).sum();
            let ranked: usize = holders.by_prefix.values().filter(|s| matches!(s, HolderSet::Ranked(_))).map(|s| holders.len(s)).sum();
            prop_assert_eq!(seats, ranked);
        }
    }
}
