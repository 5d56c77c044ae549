//! The per-window timeline behind `timeseries.csv` and the queue-depth plot.
//!
//! Levels (requests in system, waiting, busy GPUs, KV cache in use, running
//! batch size) are integrated exactly
//! between events and split at window boundaries, so a window's mean is a
//! true time average, not a sample. Counts are attributed to the window of
//! the instant they happen. Rows are appended as time passes: memory is
//! O(windows), independent of the number of requests.

use super::LatencyStat;
use crate::time::{SimDuration, SimTime};
use serde::Serialize;

/// One window of the timeline, as written to `timeseries.csv`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WindowRow {
    pub t_start_s: f64,
    pub arrivals: u64,
    pub completed: u64,
    pub rejected: u64,
    pub batches: u64,
    pub queue_depth_mean: f64,
    pub in_system_mean: f64,
    pub utilization: f64,
    /// Mean fraction of KV-cache blocks in use (LLM serving; 0 otherwise).
    pub kv_utilization: f64,
    /// Mean requests in running batches (the batch size over time).
    pub running_mean: f64,
    /// p99 end-to-end latency of requests completed in the window (0 if none).
    pub e2e_p99_s: f64,
}

/// Integrated levels: `[in system, waiting, busy servers, KV fraction in use, running]`.
pub type Levels = [f64; 5];

pub struct Timeline {
    width: SimDuration,
    servers: f64,
    rows: Vec<WindowRow>,
    current: WindowRow,
    integrals: Levels,
    window_e2e: LatencyStat,
    start: SimTime,
}

impl Timeline {
    pub fn new(width: SimDuration, servers: u32) -> Self {
        Timeline {
            width: SimDuration(width.0.max(1)),
            servers: f64::from(servers.max(1)),
            rows: Vec::new(),
            current: WindowRow::default(),
            integrals: [0.0; 5],
            window_e2e: LatencyStat::new(),
            start: SimTime::ZERO,
        }
    }

    /// Closes the current window, which covered `covered` of simulated time
    /// (its full width, except for the last, partial window).
    fn close_window(&mut self, covered: SimDuration) {
        let w = covered.as_secs_f64().max(f64::MIN_POSITIVE);
        let mut row = std::mem::take(&mut self.current);
        row.t_start_s = self.start.as_secs_f64();
        row.in_system_mean = self.integrals[0] / w;
        row.queue_depth_mean = self.integrals[1] / w;
        row.utilization = self.integrals[2] / w / self.servers;
        row.kv_utilization = self.integrals[3] / w;
        row.running_mean = self.integrals[4] / w;
        row.e2e_p99_s = self.window_e2e.quantile_s(0.99);
        self.rows.push(row);
        self.integrals = [0.0; 5];
        self.window_e2e.reset();
        self.start += self.width;
    }

    /// Integrates `levels` (held since `from`) up to `to`, closing windows
    /// crossed on the way. `to` must not precede `from`.
    pub fn integrate(&mut self, from: SimTime, to: SimTime, levels: &Levels) {
        let mut t = from;
        while t < to {
            let window_end = self.start + self.width;
            let seg_end = to.min(window_end);
            let dt = seg_end.since(t).as_secs_f64();
            for (acc, level) in self.integrals.iter_mut().zip(levels) {
                *acc += level * dt;
            }
            t = seg_end;
            if t == window_end {
                self.close_window(self.width);
            }
        }
    }

    /// The row events at the current instant are counted in.
    pub fn row(&mut self) -> &mut WindowRow {
        &mut self.current
    }

    pub fn record_e2e(&mut self, ns: u64) {
        self.window_e2e.record(ns);
    }

    /// Closes the last, possibly partial, window at `end` and returns all
    /// rows; the partial window's means are over the part it covered.
    pub fn finish(mut self, end: SimTime) -> Vec<WindowRow> {
        if end > self.start || self.current != WindowRow::default() {
            self.close_window(end.since(self.start));
        }
        self.rows
    }
}

/// A humane window width giving about 100 rows over `span`: 1, 2 or 5 times
/// a power of ten nanoseconds.
pub fn auto_width(span: SimDuration) -> SimDuration {
    let target = (span.0 / 100).max(1);
    let mut unit: u64 = 1;
    loop {
        for m in [1u64, 2, 5] {
            let w = unit.saturating_mul(m);
            if w >= target {
                return SimDuration(w);
            }
        }
        unit = unit.saturating_mul(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_split_across_windows() {
        let mut t = Timeline::new(SimDuration::from_secs(1), 1);
        t.integrate(SimTime::ZERO, SimTime(1_500_000_000), &[2.0, 1.0, 1.0, 0.5, 1.0]);
        t.row().arrivals += 1;
        t.integrate(SimTime(1_500_000_000), SimTime(2_000_000_000), &[0.0; 5]);
        let rows = t.finish(SimTime(2_000_000_000));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].in_system_mean, 2.0);
        assert_eq!(rows[1].in_system_mean, 1.0);
        assert_eq!(rows[1].utilization, 0.5);
        assert_eq!(rows[1].kv_utilization, 0.25);
        assert_eq!(rows[1].arrivals, 1);
        assert_eq!(rows[1].t_start_s, 1.0);
    }

    #[test]
    fn auto_width_is_humane() {
        assert_eq!(auto_width(SimDuration::from_secs(600)), SimDuration::from_secs(10));
        assert_eq!(auto_width(SimDuration::from_secs(3420)), SimDuration::from_secs(50));
        assert_eq!(auto_width(SimDuration(0)), SimDuration(1));
    }
}
