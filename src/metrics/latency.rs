//! A latency distribution: exact count, mean and max; percentiles from an
//! HDR histogram with 3 significant digits (relative error <= 0.1%, fixed
//! memory whatever the number of samples — DESIGN.md's "bounded by requests
//! in flight, not by requests served").

use hdrhistogram::Histogram;
use serde::Serialize;

/// Summary statistics in seconds, as written to `summary.json`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_s: f64,
    pub p50_s: f64,
    pub p90_s: f64,
    pub p99_s: f64,
    pub p999_s: f64,
    pub max_s: f64,
}

#[derive(Debug, Clone)]
pub struct LatencyStat {
    hist: Histogram<u64>,
    sum_ns: u128,
    max_ns: u64,
}

impl Default for LatencyStat {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyStat {
    pub fn new() -> Self {
        LatencyStat {
            hist: Histogram::new(3).expect("3 significant digits is a valid HDR precision"),
            sum_ns: 0,
            max_ns: 0,
        }
    }

    /// Records one sample in nanoseconds. O(1).
    pub fn record(&mut self, ns: u64) {
        // The histogram auto-resizes; saturate only if even that fails.
        if self.hist.record(ns).is_err() {
            self.hist.saturating_record(ns);
        }
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds every sample of `other` (a group's distribution from its parts').
    pub fn add(&mut self, other: &LatencyStat) {
        if self.hist.add(&other.hist).is_err() {
            for v in other.hist.iter_recorded() {
                self.hist.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.sum_ns += other.sum_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Records `n` samples of `ns` at once (O(1)).
    pub fn record_n(&mut self, ns: u64, n: u64) {
        if self.hist.record_n(ns, n).is_err() {
            self.hist.saturating_record(ns);
        }
        self.sum_ns += u128::from(ns) * u128::from(n);
        self.max_ns = self.max_ns.max(ns);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Exact mean in seconds (0 when empty).
    pub fn mean_s(&self) -> f64 {
        match self.count() {
            0 => 0.0,
            n => self.sum_ns as f64 / n as f64 / 1e9,
        }
    }

    /// Exact sum in seconds.
    pub fn sum_s(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }

    /// Quantile `q` in seconds (HDR precision, never above the exact max).
    pub fn quantile_s(&self, q: f64) -> f64 {
        if self.count() == 0 {
            return 0.0;
        }
        self.hist.value_at_quantile(q).min(self.max_ns) as f64 / 1e9
    }

    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.count(),
            mean_s: self.mean_s(),
            p50_s: self.quantile_s(0.5),
            p90_s: self.quantile_s(0.9),
            p99_s: self.quantile_s(0.99),
            p999_s: self.quantile_s(0.999),
            max_s: self.max_ns as f64 / 1e9,
        }
    }

    /// Empirical CDF as `(seconds, fraction)` points, one per HDR bucket
    /// holding samples (at most a few thousand points).
    pub fn cdf_points(&self) -> Vec<(f64, f64)> {
        let n = self.count() as f64;
        self.hist
            .iter_recorded()
            .map(|v| {
                (
                    self.hist.highest_equivalent(v.value_iterated_to()).min(self.max_ns) as f64 / 1e9,
                    v.count_since_last_iteration() as f64,
                )
            })
            .scan(0.0, |acc, (x, c)| {
                *acc += c;
                Some((x, *acc / n))
            })
            .collect()
    }

    /// Empties the distribution, keeping the histogram's grown buckets (so a
    /// per-window stat does not re-grow, re-zero and re-copy every window).
    pub fn reset(&mut self) {
        self.hist.reset();
        self.sum_ns = 0;
        self.max_ns = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_mean_and_bounded_percentile_error() {
        let mut s = LatencyStat::new();
        for i in 1..=10_000u64 {
            s.record(i * 1_000);
        }
        let sum = s.summary();
        assert_eq!(sum.count, 10_000);
        assert!((sum.mean_s - 5_000.5e-6).abs() < 1e-12);
        assert!((sum.p99_s - 9.9e-3).abs() / 9.9e-3 < 1e-3, "{}", sum.p99_s);
        assert_eq!(sum.max_s, 10e-3);
        let cdf = s.cdf_points();
        assert!((cdf.last().unwrap().1 - 1.0).abs() < 1e-12);
    }
}
