//! Which replica a new request goes to.
//!
//! - round-robin: cycle; blind to load.
//! - least-outstanding: the replica with the fewest requests waiting or
//!   running (ties to the lowest index).
//! - power-of-two-choices: two replicas drawn at random, the less loaded
//!   wins (Mitzenmacher): nearly least-outstanding's balance without a
//!   global view.
//! - prefix-affinity: a request with a shared prefix goes to the
//!   least-outstanding replica that has the prefix cached, else to the
//!   prefix's home replica (a fixed hash of the prefix id mod replicas), so
//!   one prefix's traffic concentrates where its KV is; but if that
//!   replica's outstanding requests exceed the least-loaded one's by more
//!   than [`AFFINITY_SLACK`] *and* by more than half, the request goes to
//!   the least-loaded replica instead (which then caches the prefix too:
//!   a hot prefix spreads over more replicas as load demands). This is the
//!   cache-aware routing of SGLang's router, with its two balance
//!   thresholds. Requests without a prefix go least-outstanding.
//! - session-affinity: sticky sessions, as gateways do them: every turn of
//!   a conversation goes to its session's home replica (the same hash of
//!   the session id), whatever the load, so its earlier turns' KV is there;
//!   requests outside a conversation go least-outstanding.
//!
//! The router keeps its own view of the pool, which the scheduler updates
//! whenever a replica's outstanding count or prefix cache changes, so no
//! pick scans the replicas. Prefix-affinity keeps, per prefix, the set of
//! replicas caching it (see `holders.rs`), in the form its size h calls
//! for: up to [`FEW_HOLDERS`], a list read at the pick; up to one replica
//! in [`SPARSE_HOLDERS`] (at least 2 × [`FEW_HOLDERS`]), a tournament over
//! the holders' loads (`tournament.rs`), whose root is the pick and which
//! each holder's load change replays; beyond, a bitset that the load
//! buckets are intersected with. Costs (n replicas; h holders of the
//! prefix; r the tournaments a replica plays in, that is the prefixes it
//! caches whose sets are tournaments; c ≤ 2 × (most holders the set has
//! had) a tournament's leaves; log₆₄ n the depth of [`LoadIndex`]'s
//! bitsets, 3 words at 10,000 replicas, so those rows are constant in
//! practice; `limit` the most outstanding requests a replica may carry
//! and still win on its cache, `least` those of the least-loaded replica):
//!
//! | operation | cost |
//! |---|---|
//! | pick: round-robin, power-of-two, session turn | O(1) |
//! | pick: least-outstanding (and no-prefix / no-session requests) | O(log₆₄ n) |
//! | pick: prefix-affinity with a prefix, h ≤ [`FEW_HOLDERS`] | O(log prefixes) lookup + h load reads |
//! | pick: prefix-affinity with a prefix, [`FEW_HOLDERS`] < h ≤ n / [`SPARSE_HOLDERS`] | O(log prefixes) lookup + O(1) |
//! | pick: prefix-affinity with a prefix held by more | O(log prefixes) lookup + one check per load from `least` to `limit` + per non-empty bucket on the way O(log₆₄ n) words and one per 64-replica word holding both holders and that bucket's replicas but none in both (few when holders are dense, as they are here, up to n/64 when the less-loaded replicas are all non-holders) |
//! | [`Router::set_load`] | O(log₆₄ n) (plus the empty buckets stepped over when it empties the least-loaded one), whatever the router; under prefix-affinity O(r log c) more |
//! | [`Router::set_holds`] | O(log prefixes) + an O([`FEW_HOLDERS`]) list shift, O(r + log c) tournament seat or O(log₆₄ n) bitset words under prefix-affinity (conversions between forms amortized over the changes of that prefix's set, see `holders.rs`), else O(1) |

mod holders;
mod tournament;

use super::load_index::LoadIndex;
use holders::Holders;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RouterPolicy {
    #[default]
    RoundRobin,
    LeastOutstanding,
    PowerOfTwoChoices,
    PrefixAffinity,
    SessionAffinity,
}

/// Extra outstanding requests a prefix's replica may carry over the
/// least-loaded one before prefix-affinity gives up the cache hit.
pub const AFFINITY_SLACK: u64 = 8;

/// Most replicas a prefix's holder set keeps as a list, read at the pick;
/// a larger set is a tournament over the holders' loads.
const FEW_HOLDERS: usize = 16;

/// The share of the pool (one in this many replicas) up to which a holder
/// set is a tournament; a larger set is a bitset intersected with the
/// load buckets.
const SPARSE_HOLDERS: usize = 8;

/// The prefix's home replica: SplitMix64 of its id, mod `n`.
fn home(id: u32, n: usize) -> usize {
    let mut z = u64::from(id).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % n.max(1) as u64) as usize
}

/// Places arrivals on a pool of replicas from its own view of their loads
/// and prefix caches (see the module doc for the cost of each operation).
pub struct Router {
    policy: RouterPolicy,
    next: usize,
    rng: ChaCha8Rng,
    loads: LoadIndex,
    holders: Option<Holders>,
}

impl Router {
    /// A router over `n` replicas, all idle with empty prefix caches.
    pub fn new(policy: RouterPolicy, rng: ChaCha8Rng, n: usize) -> Self {
        let many = (n / SPARSE_HOLDERS).max(2 * FEW_HOLDERS);
        let holders = (policy == RouterPolicy::PrefixAffinity).then(|| Holders::new(FEW_HOLDERS, many, n));
        Router { policy, next: 0, rng, loads: LoadIndex::new(n), holders }
    }

    /// The same router over a pool of `n` replicas, all idle with empty
    /// prefix caches. O(n).
    pub fn with_pool(self, n: usize) -> Self {
        Router { next: 0, ..Router::new(self.policy, self.rng, n) }
    }

    /// Replicas in the pool.
    pub fn len(&self) -> usize {
        self.loads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.loads.is_empty()
    }

    /// The replica with the fewest outstanding requests (ties to the lowest index).
    pub fn least(&self) -> Option<usize> {
        self.loads.least()
    }

    /// Replica `i` now has `outstanding` requests.
    pub fn set_load(&mut self, i: usize, outstanding: u64) {
        self.loads.set(i, outstanding);
        if let Some(h) = self.holders.as_mut() {
            h.load_changed(i, outstanding);
        }
    }

    /// Replica `i` now caches prefix `id` (`holds`), or no longer does.
    pub fn set_holds(&mut self, i: usize, id: u32, holds: bool) {
        if let Some(h) = self.holders.as_mut() {
            h.set(i, id, holds, &self.loads);
        }
    }

    /// The replica for a request with cached prefix `prefix` and
    /// conversation `session` (if any).
    pub fn pick(&mut self, prefix: Option<u32>, session: Option<u32>) -> usize {
        let n = self.loads.len();
        let least = self.loads.least().unwrap_or(0);
        match self.policy {
            RouterPolicy::RoundRobin => {
                let r = self.next % n;
                self.next = (r + 1) % n;
                r
            }
            RouterPolicy::LeastOutstanding => least,
            RouterPolicy::SessionAffinity => session.map_or(least, |id| home(id, n)),
            RouterPolicy::PrefixAffinity => {
                let Some(id) = prefix else { return least };
                // The most outstanding requests a replica may carry and
                // still win on its cache: not more than the slack *and* half
                // over the least-loaded one.
                let min = self.loads.load(least);
                let limit = (min + AFFINITY_SLACK).max(3 * min / 2);
                let chosen = match self.holders.as_ref().and_then(|h| h.least_within(id, &self.loads, limit)) {
                    Some(holder) => holder,
                    None => Some(home(id, n)).filter(|&r| self.loads.load(r) <= limit),
                };
                chosen.unwrap_or(least)
            }
            RouterPolicy::PowerOfTwoChoices => {
                let a = self.rng.random_range(0..n);
                let b = self.rng.random_range(0..n);
                if self.loads.load(b) < self.loads.load(a) {
                    b
                } else {
                    a
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use std::collections::BTreeSet;

    /// The linear scan the router replaced, over the same view.
    fn scan(policy: RouterPolicy, loads: &[u64], holds: &[BTreeSet<u32>], prefix: Option<u32>) -> usize {
        let n = loads.len();
        let least = (0..n).min_by_key(|&i| loads[i]).unwrap_or(0);
        match (policy, prefix) {
            (RouterPolicy::PrefixAffinity, Some(id)) => {
                let cached = (0..n).filter(|&i| holds[i].contains(&id)).min_by_key(|&i| loads[i]);
                let chosen = cached.unwrap_or_else(|| home(id, n));
                if loads[chosen] > loads[least] + AFFINITY_SLACK && 2 * loads[chosen] > 3 * loads[least] {
                    least
                } else {
                    chosen
                }
            }
            _ => least,
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Load(usize, u64),
        Holds(usize, u32, bool),
        Pick(Option<u32>),
    }

    /// In pools past [`FEW_HOLDERS`] replicas, cache changes of two
    /// prefixes come most often and add more than they drop, so their
    /// holder sets grow into tournaments and bitsets and shrink back.
    fn op(n: usize) -> impl Strategy<Value = Op> {
        let (prefixes, weight, cached): (u32, u32, f64) = if n > FEW_HOLDERS { (2, 4, 0.7) } else { (6, 1, 0.5) };
        prop_oneof![
            1 => (0..n, 0u64..40).prop_map(|(i, l)| Op::Load(i, l)),
            weight => (0..n, 0..prefixes, proptest::bool::weighted(cached)).prop_map(|(i, id, h)| Op::Holds(i, id, h)),
            1 => proptest::option::of(0u32..8).prop_map(Op::Pick),
        ]
    }

    proptest! {
        /// Least-outstanding and prefix-affinity pick exactly what a scan of
        /// every replica picks, whatever the sequence of load and cache
        /// changes (ties to the lowest index included).
        #[test]
        fn indexed_picks_match_the_linear_scan(
            (n, ops) in prop_oneof![1usize..13, 17usize..80]
                .prop_flat_map(|n| (Just(n), proptest::collection::vec(op(n), 1..400)))
        ) {
            for policy in [RouterPolicy::LeastOutstanding, RouterPolicy::PrefixAffinity] {
                let mut router = Router::new(policy, ChaCha8Rng::seed_from_u64(0), n);
                let (mut loads, mut holds) = (vec![0; n], vec![BTreeSet::new(); n]);
                for op in &ops {
                    match *op {
                        Op::Load(i, l) => {
                            loads[i] = l;
                            router.set_load(i, l);
                        }
                        Op::Holds(i, id, h) => {
                            if h { holds[i].insert(id); } else { holds[i].remove(&id); }
                            router.set_holds(i, id, h);
                        }
                        Op::Pick(prefix) => {
                            prop_assert_eq!(router.pick(prefix, None), scan(policy, &loads, &holds, prefix));
                        }
                    }
                }
            }
        }
    }
}
