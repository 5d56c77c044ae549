//! Independent replications and Student-t confidence intervals: how
//! `servesim validate` turns one seed into an honest error bar.
//!
//! Replication i runs with the seed `RngStreams::new(seed).replication(i)`.
//! It measures the requests arriving in a window of `requests` expected
//! arrivals after a warm-up of `warmup_requests` (times converted at the mean
//! arrival rate), and keeps arrivals going for another `warmup_requests`
//! after the window, so neither the empty start nor the run's tail (a last
//! partial batch, the drain) biases the estimate. Each replication yields
//! one value per metric; the t-interval over them is the error bar.
//! Replications run in parallel and are collected in index order, so the
//! result does not depend on the thread count.

use super::theory::{Metric, Theory};
use crate::engine::RngStreams;
use crate::metrics::Summary;
use crate::scenario::{RunConfig, Scenario};
use crate::sim;
use crate::time::SimDuration;
use crate::workload::ArrivalStream;
use rayon::prelude::*;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean and confidence interval of one metric over replications.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    /// Half-width of the 95% interval.
    pub half_width_95: f64,
    /// Half-width of the 99% interval (the pass criterion).
    pub half_width_99: f64,
}

/// Student-t interval of `values` (at least two).
pub fn estimate(values: &[f64]) -> Estimate {
    let (mean, half_width_95) = interval(values, 0.95);
    Estimate { mean, half_width_95, half_width_99: interval(values, 0.99).1 }
}

/// Mean of `values` (at least two) and the half-width of its two-sided
/// Student-t interval at `confidence` (in (0, 1)).
pub fn interval(values: &[f64], confidence: f64) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let se = (var / n).sqrt();
    let t =
        StudentsT::new(0.0, 1.0, (n - 1.0).max(1.0)).map_or(f64::INFINITY, |d| d.inverse_cdf(0.5 + confidence / 2.0));
    (mean, t * se)
}

/// The value of `metric` in one replication's summary.
pub fn measured(metric: Metric, s: &Summary) -> f64 {
    match metric {
        Metric::ProbWait => s.latency.waited_fraction,
        Metric::MeanWait => s.latency.queue_wait.mean_s,
        Metric::MeanSojourn => s.latency.end_to_end.mean_s,
        Metric::MeanBatchSize => s.batching.mean_size,
        Metric::Utilization => s.servers.utilization_mean,
    }
}

/// One row of the validation table.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub metric: Metric,
    pub theory: f64,
    pub simulated: Estimate,
    /// Theory lies within the 99% interval.
    pub pass: bool,
}

/// Everything one validation scenario produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub checks: Vec<Check>,
    /// Little's law held in every replication.
    pub littles_law_holds: bool,
    pub replications: u32,
}

/// The summaries of the independent replications of `scenario`, in order.
pub fn replications(scenario: &Scenario) -> Vec<Summary> {
    let v = scenario.validation;
    let rate = ArrivalStream::mean_rate(&scenario.arrivals, 1.0).max(f64::MIN_POSITIVE);
    let at = |requests: u64| SimDuration::from_secs_f64(requests as f64 / rate);
    let run = RunConfig {
        duration: None,
        max_requests: Some(2 * v.warmup_requests + v.requests),
        warmup: at(v.warmup_requests),
        measure_until: Some(at(v.warmup_requests + v.requests)),
        drain: true,
        window: None,
        max_events: None,
    };
    let seeds = RngStreams::new(scenario.seed);
    (0..v.replications)
        .into_par_iter()
        .map(|i| sim::run_with(scenario, seeds.replication(u64::from(i)).master_seed(), &run).summary)
        .collect()
}

/// Runs the replications of `scenario` and compares them with `theory`.
pub fn validate(scenario: &Scenario, theory: &Theory) -> Validation {
    let summaries = replications(scenario);
    let checks = theory
        .expected
        .iter()
        .map(|e| {
            let values: Vec<f64> = summaries.iter().map(|s| measured(e.metric, s)).collect();
            let simulated = estimate(&values);
            let pass = (simulated.mean - e.value).abs() <= simulated.half_width_99.max(1e-12 * e.value.abs());
            Check { metric: e.metric, theory: e.value, simulated, pass }
        })
        .collect();
    Validation {
        checks,
        littles_law_holds: summaries.iter().all(|s| s.littles_law.holds && s.invariants.all_hold),
        replications: summaries.len() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_interval_of_known_sample() {
        let e = estimate(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        // s = sqrt(2.5), se = sqrt(0.5), t(0.975, 4) = 2.776.
        assert!((e.half_width_95 - 2.776 * 0.5f64.sqrt()).abs() < 1e-3);
        assert!(e.half_width_99 > e.half_width_95);
    }
}
