//! Request sizes in tokens: fixed, or lognormal given by median and p99 —
//! how serving teams describe prompt and output lengths ("median 1K, p99
//! 8K") — with an optional cap (a context limit).
//!
//! Lognormal from (median m, p99 q): μ = ln m, σ = ln(q/m) / z₀.₉₉ where
//! z₀.₉₉ = 2.3263. One draw per sample; results round to >= 1 token.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// The standard normal's 99th percentile.
const Z99: f64 = 2.326_347_874_040_841;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TokenSizes {
    Fixed(u32),
    Lognormal { mu: f64, sigma: f64, max: u32 },
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

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        match *self {
            TokenSizes::Fixed(n) => n.max(1),
            TokenSizes::Lognormal { mu, sigma, max } => {
                let z: f64 = StandardNormal.sample(rng);
                let x = (mu + sigma * z).exp().round();
                (x.clamp(1.0, f64::from(max.max(1)))) as u32
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
}
