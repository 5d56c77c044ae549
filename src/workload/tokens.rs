//! Request sizes in tokens: fixed; lognormal given by median and p99 —
//! how serving teams describe prompt and output lengths ("median 1K, p99
//! 8K"); or geometric given by its mean — the memoryless, discrete
//! exponential, which makes a queue of decoding sequences an M/M/c queue
//! in theory checks — each with an optional cap (a context limit).
//!
//! Empirical: the sizes of a real trace's requests, resampled uniformly
//! (a bootstrap of the marginal; a prompt's and its output's draws are
//! independent — replay the trace itself to keep them paired).
//!
//! Lognormal from (median m, p99 q): μ = ln m, σ = ln(q/m) / z₀.₉₉ where
//! z₀.₉₉ = 2.3263; results round to >= 1 token. Geometric on {1, 2, ...}
//! with mean m: success probability p = 1/m, drawn by inversion,
//! 1 + ⌊ln U / ln(1 − p)⌋. One draw per sample.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;

/// The standard normal's 99th percentile.
const Z99: f64 = 2.326_347_874_040_841;

#[derive(Debug, Clone, PartialEq)]
pub enum TokenSizes {
    Fixed(u32),
    Lognormal {
        mu: f64,
        sigma: f64,
        max: u32,
    },
    Geometric {
        p: f64,
        max: u32,
    },
    /// Observed sizes (>= 1 each, capped), drawn uniformly.
    Empirical(Arc<[u32]>),
}

impl TokenSizes {
    /// Lognormal with the given median and 99th percentile (p99 >= median > 0).
    pub fn lognormal(median: f64, p99: f64, max: Option<u32>) -> Result<TokenSizes, String> {
        if !(median.is_finite() && median >= 1.0) {
            return Err(format!("median must be a token count >= 1, got {median}"));
        }
        if !(p99.is_finite() && p99 >= median) {
            return Err(format!("p99 must be >= the median ({median}), got {p99}"));
        }
        Ok(TokenSizes::Lognormal { mu: median.ln(), sigma: (p99 / median).ln() / Z99, max: max.unwrap_or(u32::MAX) })
    }

    /// Geometric on {1, 2, ...} with the given mean (>= 1).
    pub fn geometric(mean: f64, max: Option<u32>) -> Result<TokenSizes, String> {
        if !(mean.is_finite() && mean >= 1.0) {
            return Err(format!("mean must be a token count >= 1, got {mean}"));
        }
        Ok(TokenSizes::Geometric { p: 1.0 / mean, max: max.unwrap_or(u32::MAX) })
    }

    /// Resamples `observed` (capped by `max`; a 0 counts as 1).
    pub fn empirical(observed: Vec<u32>, max: Option<u32>) -> Result<TokenSizes, String> {
        if observed.is_empty() {
            return Err("the trace has no rows to resample".into());
        }
        let cap = max.unwrap_or(u32::MAX).max(1);
        Ok(TokenSizes::Empirical(observed.into_iter().map(|x| x.clamp(1, cap)).collect()))
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        match *self {
            TokenSizes::Empirical(ref observed) => observed[rng.random_range(0..observed.len())],
            TokenSizes::Fixed(n) => n.max(1),
            TokenSizes::Lognormal { mu, sigma, max } => {
                let z: f64 = StandardNormal.sample(rng);
                let x = (mu + sigma * z).exp().round();
                (x.clamp(1.0, f64::from(max.max(1)))) as u32
            }
            TokenSizes::Geometric { p, max } => {
                let u: f64 = 1.0 - rng.random::<f64>();
                let x = if p >= 1.0 { 1.0 } else { 1.0 + (u.ln() / (1.0 - p).ln()).floor() };
                x.clamp(1.0, f64::from(max.max(1))) as u32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lognormal_hits_median_and_p99() {
        let d = TokenSizes::lognormal(1000.0, 8000.0, None).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut xs: Vec<u32> = (0..200_000).map(|_| d.sample(&mut rng)).collect();
        xs.sort_unstable();
        let median = f64::from(xs[100_000]);
        let p99 = f64::from(xs[198_000]);
        assert!((median - 1000.0).abs() / 1000.0 < 0.02, "{median}");
        assert!((p99 - 8000.0).abs() / 8000.0 < 0.05, "{p99}");
        assert!(TokenSizes::lognormal(100.0, 50.0, None).is_err());
        assert_eq!(TokenSizes::Fixed(0).sample(&mut rng), 1);
    }

    #[test]
    fn empirical_resamples_the_observed_sizes() {
        let d = TokenSizes::empirical(vec![0, 10, 10, 400], Some(100)).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..40_000 {
            *counts.entry(d.sample(&mut rng)).or_insert(0u32) += 1;
        }
        assert_eq!(counts.keys().copied().collect::<Vec<_>>(), vec![1, 10, 100], "0 -> 1, 400 capped at 100");
        assert!((f64::from(counts[&10]) / 40_000.0 - 0.5).abs() < 0.01, "{counts:?}");
        assert!(TokenSizes::empirical(Vec::new(), None).is_err());
    }

    #[test]
    fn geometric_has_its_mean_and_is_memoryless() {
        let d = TokenSizes::geometric(50.0, None).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let xs: Vec<u32> = (0..200_000).map(|_| d.sample(&mut rng)).collect();
        let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / xs.len() as f64;
        assert!((mean - 50.0).abs() < 0.5, "{mean}");
        // P(X > 40 + k | X > 40) = P(X > k): the remaining length after 40
        // tokens has the same mean as a fresh one.
        let tail: Vec<f64> = xs.iter().filter(|&&x| x > 40).map(|&x| f64::from(x - 40)).collect();
        let tail_mean = tail.iter().sum::<f64>() / tail.len() as f64;
        assert!((tail_mean - 50.0).abs() < 1.5, "{tail_mean}");
        assert_eq!(TokenSizes::geometric(1.0, None).unwrap().sample(&mut rng), 1);
        assert!(TokenSizes::geometric(0.5, None).is_err());
    }
}
