//! Which replica a new request goes to.
//!
//! - round-robin: cycle; blind to load.
//! - least-outstanding: the replica with the fewest requests waiting or
//!   running (ties to the lowest index) — O(replicas) per request.
//! - power-of-two-choices: two replicas drawn at random, the less loaded
//!   wins (Mitzenmacher): nearly least-outstanding's balance at O(1).
//! - prefix-affinity: a request with a shared prefix goes to the
//!   least-outstanding replica that has the prefix cached, else to the
//!   prefix's home replica (a fixed hash of the prefix id mod replicas), so
//!   one prefix's traffic concentrates where its KV is; but if that
//!   replica's outstanding requests exceed the least-loaded one's by more
//!   than [`AFFINITY_SLACK`] *and* by more than half, the request goes to
//!   the least-loaded replica instead (which then caches the prefix too:
//!   a hot prefix spreads over more replicas as load demands). This is the
//!   cache-aware routing of SGLang's router, with its two balance
//!   thresholds. Requests without a prefix go least-outstanding. O(replicas).
//! - session-affinity: sticky sessions, as gateways do them: every turn of
//!   a conversation goes to its session's home replica (the same hash of
//!   the session id), whatever the load, so its earlier turns' KV is there;
//!   requests outside a conversation go least-outstanding. O(1) for turns.

use super::replica::Replica;
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

/// The prefix's home replica: SplitMix64 of its id, mod `n`.
fn home(id: u32, n: usize) -> usize {
    let mut z = u64::from(id).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % n.max(1) as u64) as usize
}

pub struct Router {
    policy: RouterPolicy,
    next: usize,
    rng: ChaCha8Rng,
}

impl Router {
    pub fn new(policy: RouterPolicy, rng: ChaCha8Rng) -> Self {
        Router { policy, next: 0, rng }
    }

    /// The replica for a request with cached prefix `prefix` and
    /// conversation `session` (if any).
    pub fn pick(&mut self, replicas: &[Replica], prefix: Option<u32>, session: Option<u32>) -> usize {
        let n = replicas.len();
        let least = || (0..n).min_by_key(|&i| replicas[i].outstanding()).unwrap_or(0);
        match self.policy {
            RouterPolicy::RoundRobin => {
                let r = self.next % n;
                self.next = (r + 1) % n;
                r
            }
            RouterPolicy::LeastOutstanding => least(),
            RouterPolicy::SessionAffinity => session.map_or_else(least, |id| home(id, n)),
            RouterPolicy::PrefixAffinity => {
                let least = least();
                let Some(id) = prefix else { return least };
                let cached = (0..n).filter(|&i| replicas[i].has_prefix(id)).min_by_key(|&i| replicas[i].outstanding());
                let chosen = cached.unwrap_or_else(|| home(id, n));
                let (load, min) = (replicas[chosen].outstanding(), replicas[least].outstanding());
                if load > min + AFFINITY_SLACK && 2 * load > 3 * min {
                    least
                } else {
                    chosen
                }
            }
            RouterPolicy::PowerOfTwoChoices => {
                let a = self.rng.random_range(0..n);
                let b = self.rng.random_range(0..n);
                if replicas[b].outstanding() < replicas[a].outstanding() {
                    b
                } else {
                    a
                }
            }
        }
    }
}
