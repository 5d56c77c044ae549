//! Closed-form results for the stations a scenario can describe, used by
//! `servesim validate` to check the simulator against theory.
//!
//! The model is recognised from the scenario itself, so `--set` changes flow
//! through to the formula:
//! - Poisson arrivals, FCFS, exponential service, c GPUs: **M/M/c** (Erlang C);
//! - one GPU, general service: **M/G/1** (Pollaczek-Khinchine), M/D/1 included;
//! - processor sharing, c GPUs, any service: **M/G/c-PS**, insensitive, so its
//!   mean sojourn equals M/M/c's with the same mean;
//! - batches of up to b, exponential batch time, no flush timeout: **bulk
//!   service M/M^[b]/1** — the queue length is geometric with ratio r₀, the
//!   root in (0,1) of μr^(b+1) − (λ+μ)r + λ = 0 (Gross & Harris, §3.3);
//! - zero service time with a flush timeout: the **static batcher** alone —
//!   a batch opens with an arrival and closes after T or at N requests.
//!
//! Anything else (time-varying rates, traces, bounded queues, per-GPU
//! queues with c > 1, non-exponential c > 1) has no exact formula here and is
//! reported as such rather than approximated.

use crate::core::station::QueueLayout;
use crate::model::ServiceModel;
use crate::scenario::{Scenario, Serving};
use crate::workload::dist::Dist;
use crate::workload::ArrivalSpec;
use statrs::distribution::{DiscreteCDF, Poisson};

/// A metric the simulation measures, with its theoretical value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expected {
    pub metric: Metric,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// Probability an arrival waits at all.
    ProbWait,
    /// Mean time from arrival to batch start, seconds.
    MeanWait,
    /// Mean time from arrival to response, seconds.
    MeanSojourn,
    /// Mean requests per batch.
    MeanBatchSize,
    /// Mean fraction of GPU time busy.
    Utilization,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::ProbWait => "P(wait)",
            Metric::MeanWait => "mean wait (s)",
            Metric::MeanSojourn => "mean sojourn (s)",
            Metric::MeanBatchSize => "mean batch size",
            Metric::Utilization => "utilization",
        }
    }
}

/// The recognised model and what it predicts.
#[derive(Debug, Clone, PartialEq)]
pub struct Theory {
    pub model: String,
    pub expected: Vec<Expected>,
}

/// Erlang C: probability that an arrival to M/M/c with offered load
/// a = λ/μ waits. Computed with the stable Erlang B recursion.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let rho = a / f64::from(c);
    b / (1.0 - rho + rho * b)
}

/// M/M/c mean wait in queue: C(c, a) / (cμ − λ).
pub fn mmc_mean_wait(c: u32, lambda: f64, mean_service: f64) -> f64 {
    let mu = 1.0 / mean_service;
    erlang_c(c, lambda * mean_service) / (f64::from(c) * mu - lambda)
}

/// M/G/1 mean wait (Pollaczek-Khinchine): λE[S²] / (2(1 − ρ)).
pub fn pk_mean_wait(lambda: f64, service: &Dist) -> f64 {
    lambda * service.second_moment() / (2.0 * (1.0 - lambda * service.mean()))
}

/// M/M^[b]/1 (exponential batch time 1/μ, batches of up to b, taken as soon
/// as the GPU is free): `(mean wait, mean batch size)`.
pub fn bulk_service(lambda: f64, mu: f64, b: u32) -> (f64, f64) {
    // f(r) = μr^(b+1) − (λ+μ)r + λ has f(0) = λ > 0 and, when stable,
    // f(1) = 0 with f'(1) > 0: the root in (0,1) is where f changes sign.
    let f = |r: f64| mu * r.powi(b as i32 + 1) - (lambda + mu) * r + lambda;
    let (mut lo, mut hi) = (0.0, 1.0 - 1e-12);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let r = 0.5 * (lo + hi);
    // Busy states with q waiting have probability C r^q; idle has μC/λ.
    let c = 1.0 / (mu / lambda + 1.0 / (1.0 - r));
    let p_idle = mu * c / lambda;
    let lq = c * r / ((1.0 - r) * (1.0 - r));
    (lq / lambda, lambda / (mu * (1.0 - p_idle)))
}

/// Static batcher with zero service time, Poisson(λ) arrivals, size cap N,
/// timeout T: `(mean wait, mean batch size)`. With X ~ Poisson(λT):
/// E[batch] = 1 + Σ_{j=1}^{N−1} P(X ≥ j) and the total wait of a batch has
/// mean Σ_{j=0}^{N−2} (j+1) P(X ≥ j+1) / λ (time spent with j+1 waiting);
/// the mean wait is their ratio (renewal-reward).
pub fn batcher_timeout(lambda: f64, n: u32, t: f64) -> (f64, f64) {
    let tail = |j: u32| -> f64 {
        match Poisson::new(lambda * t) {
            Ok(x) if j > 0 => 1.0 - x.cdf(u64::from(j) - 1),
            _ => 1.0,
        }
    };
    let batch = 1.0 + (1..n).map(tail).sum::<f64>();
    let wait_sum = (0..n.saturating_sub(1)).map(|j| f64::from(j + 1) * tail(j + 1)).sum::<f64>() / lambda;
    (wait_sum / batch, batch)
}

/// The theory for `s`, or why there is none.
pub fn theory(s: &Scenario) -> Result<Theory, String> {
    let Serving::Station { station: st, service: service_model } = &s.serving else {
        return Err("LLM serving has no closed-form theory here".into());
    };
    let lambda = match &s.arrivals {
        ArrivalSpec::Renewal { gap: Dist::Exponential { .. }, rate } => match rate.constant_rate() {
            Some(r) => r,
            None => return Err("needs a constant arrival rate".into()),
        },
        _ => return Err("needs Poisson arrivals at a constant rate".into()),
    };
    if st.queue_capacity.is_some() {
        return Err("needs an unbounded queue".into());
    }
    if st.layout == QueueLayout::PerServer && st.servers > 1 {
        return Err("needs one shared queue".into());
    }
    let c = st.servers;
    let service = match service_model {
        ServiceModel::Random(d) => *d,
        fixed => Dist::Deterministic { value: fixed.mean_batch_secs(1) },
    };
    let es = service.mean();
    let rho = lambda * es / f64::from(c);
    let e = |metric, value| Expected { metric, value };
    if st.processor_sharing {
        if rho >= 1.0 {
            return Err(format!("unstable: utilization {rho:.3} >= 1"));
        }
        let w = mmc_mean_wait(c, lambda, es) + es;
        return Ok(Theory {
            model: format!("M/G/{c}-PS (insensitive)"),
            expected: vec![e(Metric::MeanSojourn, w), e(Metric::Utilization, rho)],
        });
    }
    let b = st.max_batch;
    if es == 0.0
        && c == 1
        && st.max_wait.0 > 0
        && b > 1
        && matches!(service_model, ServiceModel::Affine { .. } | ServiceModel::Random(_))
    {
        let (w, size) = batcher_timeout(lambda, b, st.max_wait.as_secs_f64());
        return Ok(Theory {
            model: format!("static batcher N={b}, T={} (zero service time)", st.max_wait),
            expected: vec![e(Metric::MeanWait, w), e(Metric::MeanBatchSize, size)],
        });
    }
    if st.max_wait.0 > 0 && b > 1 {
        return Err("a flush timeout with nonzero service time has no closed form here".into());
    }
    if b > 1 {
        let is_exp = matches!(service, Dist::Exponential { .. }) && matches!(service_model, ServiceModel::Random(_));
        if c != 1 || !is_exp {
            return Err("bulk service needs one GPU and an exponential, size-independent batch time".into());
        }
        let mu = 1.0 / es;
        if lambda >= mu * f64::from(b) {
            return Err(format!("unstable: λ = {lambda} >= bμ = {}", mu * f64::from(b)));
        }
        let (wq, size) = bulk_service(lambda, mu, b);
        return Ok(Theory {
            model: format!("M/M^[{b}]/1 bulk service"),
            expected: vec![e(Metric::MeanWait, wq), e(Metric::MeanSojourn, wq + es), e(Metric::MeanBatchSize, size)],
        });
    }
    if rho >= 1.0 {
        return Err(format!("unstable: utilization {rho:.3} >= 1"));
    }
    if matches!(service, Dist::Exponential { .. }) {
        let wq = mmc_mean_wait(c, lambda, es);
        return Ok(Theory {
            model: format!("M/M/{c} (Erlang C)"),
            expected: vec![
                e(Metric::ProbWait, erlang_c(c, lambda * es)),
                e(Metric::MeanWait, wq),
                e(Metric::MeanSojourn, wq + es),
                e(Metric::Utilization, rho),
            ],
        });
    }
    if c != 1 {
        return Err("non-exponential service with c > 1 has no exact formula".into());
    }
    let wq = pk_mean_wait(lambda, &service);
    let label = if service.scv() == 0.0 { "M/D/1".to_string() } else { format!("M/G/1 (SCV {})", service.scv()) };
    Ok(Theory {
        model: format!("{label} (Pollaczek-Khinchine)"),
        expected: vec![
            e(Metric::ProbWait, rho),
            e(Metric::MeanWait, wq),
            e(Metric::MeanSojourn, wq + es),
            e(Metric::Utilization, rho),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_known_values() {
        // M/M/1: P(wait) = ρ.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // c = 2, a = 1: C = 1/3 (textbook).
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn bulk_with_batch_one_is_mm1() {
        let (wq, size) = bulk_service(0.5, 1.0, 1);
        assert!((wq - 0.5 / (1.0 * 0.5)).abs() < 1e-9, "{wq}");
        assert!((size - 1.0).abs() < 1e-9);
    }

    #[test]
    fn batcher_limits() {
        // Cap 1: nobody waits.
        assert_eq!(batcher_timeout(10.0, 1, 0.1), (0.0, 1.0));
        // Huge cap: every batch lasts T; E[B] = 1 + λT, total wait T + λT²/2.
        let (w, b) = batcher_timeout(10.0, 10_000, 0.1);
        assert!((b - 2.0).abs() < 1e-9);
        assert!((w - (0.1 + 10.0 * 0.01 / 2.0) / 2.0).abs() < 1e-9);
    }
}
