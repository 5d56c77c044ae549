//! Continuous distributions given the way capacity planners state them: by
//! mean and squared coefficient of variation (SCV = variance / mean²).
//!
//! Why mean + SCV: queueing formulas (Pollaczek-Khinchine, Kingman) depend on
//! exactly these two moments, so a user can dial burstiness without learning
//! each family's native parameters. Families:
//! - deterministic (SCV 0), exponential (SCV 1);
//! - lognormal: σ² = ln(1 + SCV), μ = ln(mean) − σ²/2;
//! - gamma: shape 1/SCV, scale mean·SCV (any SCV > 0);
//! - two-phase hyperexponential with balanced means (SCV ≥ 1):
//!   p = (1 + √((SCV−1)/(SCV+1)))/2, rates 2p/mean and 2(1−p)/mean.
//!
//! Sampling is O(1) and draws a fixed number of variates per sample for each
//! family, so one stream's consumption is predictable.

use rand::Rng;
use rand_distr::{Distribution as _, Exp1, Gamma, LogNormal, StandardNormal};

/// A positive random variable (units chosen by the caller, usually seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    Deterministic { value: f64 },
    Exponential { mean: f64 },
    Lognormal { mean: f64, scv: f64 },
    Gamma { mean: f64, scv: f64 },
    HyperExponential { mean: f64, scv: f64 },
}

/// Why a distribution's parameters are unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DistError {
    #[error("mean must be a finite number >= 0 (got {0})")]
    BadMean(f64),
    #[error("scv must be a finite number > 0 (got {0}); use `deterministic` for no variability")]
    BadScv(f64),
    #[error("a hyperexponential needs scv >= 1 (got {0}); use `lognormal` or `gamma` for scv < 1")]
    HyperScvBelowOne(f64),
}

impl Dist {
    /// Checks parameters; every constructor path of the scenario calls this.
    pub fn validate(&self) -> Result<(), DistError> {
        let mean = self.mean();
        if !mean.is_finite() || mean < 0.0 {
            return Err(DistError::BadMean(mean));
        }
        match *self {
            Dist::Lognormal { scv, .. } | Dist::Gamma { scv, .. } if !(scv.is_finite() && scv > 0.0) => {
                Err(DistError::BadScv(scv))
            }
            Dist::HyperExponential { scv, .. } if !(scv.is_finite() && scv >= 1.0) => {
                Err(DistError::HyperScvBelowOne(scv))
            }
            _ => Ok(()),
        }
    }

    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Deterministic { value } => value,
            Dist::Exponential { mean }
            | Dist::Lognormal { mean, .. }
            | Dist::Gamma { mean, .. }
            | Dist::HyperExponential { mean, .. } => mean,
        }
    }

    /// Squared coefficient of variation.
    pub fn scv(&self) -> f64 {
        match *self {
            Dist::Deterministic { .. } => 0.0,
            Dist::Exponential { .. } => 1.0,
            Dist::Lognormal { scv, .. } | Dist::Gamma { scv, .. } | Dist::HyperExponential { scv, .. } => scv,
        }
    }

    /// E[X²] = mean² (1 + SCV).
    pub fn second_moment(&self) -> f64 {
        self.mean() * self.mean() * (1.0 + self.scv())
    }

    /// The same family scaled to mean 1 (used for unit-rate arrival gaps).
    pub fn with_mean(&self, mean: f64) -> Dist {
        match *self {
            Dist::Deterministic { .. } => Dist::Deterministic { value: mean },
            Dist::Exponential { .. } => Dist::Exponential { mean },
            Dist::Lognormal { scv, .. } => Dist::Lognormal { mean, scv },
            Dist::Gamma { scv, .. } => Dist::Gamma { mean, scv },
            Dist::HyperExponential { scv, .. } => Dist::HyperExponential { mean, scv },
        }
    }

    /// Draws one value. Parameters must have passed `validate`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match *self {
            Dist::Deterministic { value } => value,
            Dist::Exponential { mean } => {
                let e: f64 = Exp1.sample(rng);
                mean * e
            }
            Dist::Lognormal { mean, scv } => {
                let sigma2 = (1.0 + scv).ln();
                let mu = mean.ln() - sigma2 / 2.0;
                if mean == 0.0 {
                    return 0.0;
                }
                match LogNormal::new(mu, sigma2.sqrt()) {
                    Ok(d) => d.sample(rng),
                    Err(_) => {
                        let z: f64 = StandardNormal.sample(rng);
                        (mu + sigma2.sqrt() * z).exp()
                    }
                }
            }
            Dist::Gamma { mean, scv } => match Gamma::new(1.0 / scv, mean * scv) {
                Ok(d) => d.sample(rng),
                Err(_) => mean,
            },
            Dist::HyperExponential { mean, scv } => {
                let p = 0.5 * (1.0 + ((scv - 1.0) / (scv + 1.0)).sqrt());
                let u: f64 = rng.random();
                let e: f64 = Exp1.sample(rng);
                // Branch means: mean/(2p) with probability p, mean/(2(1-p)) otherwise.
                if u < p {
                    e * mean / (2.0 * p)
                } else {
                    e * mean / (2.0 * (1.0 - p))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn moments(d: Dist, n: usize) -> (f64, f64) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let xs: Vec<f64> = (0..n).map(|_| d.sample(&mut rng)).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        (m, v / (m * m))
    }

    #[test]
    fn sample_moments_match_mean_and_scv() {
        for d in [
            Dist::Exponential { mean: 2.0 },
            Dist::Lognormal { mean: 2.0, scv: 0.5 },
            Dist::Gamma { mean: 2.0, scv: 0.25 },
            Dist::Gamma { mean: 2.0, scv: 3.0 },
            Dist::HyperExponential { mean: 2.0, scv: 4.0 },
        ] {
            d.validate().unwrap();
            let (m, scv) = moments(d, 400_000);
            assert!((m - d.mean()).abs() / d.mean() < 0.01, "{d:?}: mean {m}");
            assert!((scv - d.scv()).abs() / d.scv() < 0.06, "{d:?}: scv {scv}");
        }
        assert_eq!(moments(Dist::Deterministic { value: 1.5 }, 10).0, 1.5);
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(Dist::Exponential { mean: -1.0 }.validate().is_err());
        assert!(Dist::Lognormal { mean: 1.0, scv: 0.0 }.validate().is_err());
        assert!(Dist::HyperExponential { mean: 1.0, scv: 0.5 }.validate().is_err());
        assert!(Dist::Gamma { mean: f64::NAN, scv: 1.0 }.validate().is_err());
    }
}
