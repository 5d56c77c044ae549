//! Which replica a new request goes to.
//!
//! - round-robin: cycle; blind to load.
//! - least-outstanding: the replica with the fewest requests waiting or
//!   running (ties to the lowest index) — O(replicas) per request.
//! - power-of-two-choices: two replicas drawn at random, the less loaded
//!   wins (Mitzenmacher): nearly least-outstanding's balance at O(1).

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

    pub fn pick(&mut self, replicas: &[Replica]) -> usize {
        let n = replicas.len();
        match self.policy {
            RouterPolicy::RoundRobin => {
                let r = self.next % n;
                self.next = (r + 1) % n;
                r
            }
            RouterPolicy::LeastOutstanding => (0..n).min_by_key(|&i| replicas[i].outstanding()).unwrap_or(0),
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
