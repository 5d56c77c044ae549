//! Batch service time on one GPU.
//!
//! Three shapes, as a planner knows them:
//! - `Affine`: `base + per_item * n` — the classic inference-batching cost
//!   (a fixed weight-read/launch cost amortized over the batch);
//! - `Table`: measured times by batch size (`by_batch_size[n-1]`);
//! - `Random`: a distribution independent of batch size (the classic
//!   station models: M/M/c, M/G/1, bulk service).

use crate::time::SimDuration;
use crate::workload::dist::Dist;
use rand::Rng;

#[derive(Debug, Clone, PartialEq)]
pub enum ServiceModel {
    Affine {
        base: SimDuration,
        per_item: SimDuration,
    },
    Table {
        by_batch_size: Vec<SimDuration>,
    },
    /// Seconds.
    Random(Dist),
}

impl ServiceModel {
    /// Time to run a batch of `n` requests. O(1); draws from `rng` only for `Random`.
    pub fn batch_time<R: Rng + ?Sized>(&self, n: u32, rng: &mut R) -> SimDuration {
        match self {
            ServiceModel::Random(dist) => SimDuration::from_secs_f64(dist.sample(rng)),
            fixed => fixed.fixed_time(n),
        }
    }

    /// The size-determined time of `Affine` and `Table` (zero for `Random`).
    fn fixed_time(&self, n: u32) -> SimDuration {
        match self {
            ServiceModel::Affine { base, per_item } => {
                SimDuration(base.0.saturating_add(per_item.0.saturating_mul(u64::from(n))))
            }
            ServiceModel::Table { by_batch_size } => {
                let i = (n.max(1) as usize - 1).min(by_batch_size.len().saturating_sub(1));
                by_batch_size.get(i).copied().unwrap_or_default()
            }
            ServiceModel::Random(_) => SimDuration::ZERO,
        }
    }

    /// Mean time of a batch of `n`, in seconds (for stability checks and theory).
    pub fn mean_batch_secs(&self, n: u32) -> f64 {
        match self {
            ServiceModel::Random(dist) => dist.mean(),
            fixed => fixed.fixed_time(n).as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_and_table_costs() {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        let affine = ServiceModel::Affine { base: SimDuration::from_millis(20), per_item: SimDuration::from_millis(2) };
        assert_eq!(affine.batch_time(8, &mut rng), SimDuration::from_millis(36));
        let table = ServiceModel::Table { by_batch_size: vec![SimDuration(10), SimDuration(15)] };
        assert_eq!(table.batch_time(1, &mut rng), SimDuration(10));
        assert_eq!(table.batch_time(2, &mut rng), SimDuration(15));
        assert_eq!(table.mean_batch_secs(2), 15e-9);
    }
}
