//! The per-window timeline behind `timeseries.csv` and the queue-depth plot.
//!
//! Levels (requests in system, waiting, busy GPUs, KV cache in use, running
//! batch size) are integrated exactly
//! between events and split at window boundaries, so a window's mean is a
//! true time average, not a sample. Counts are attributed to the window of
//! the instant they happen. Rows are appended as time passes: memory is
//! O(windows), independent of the number of requests.
//!
//! At most [`MAX_ROWS`] rows: a run that outlasts them (a drain far past
//! the span the window was chosen for, a glacial service time) merges its
//! rows pairwise and doubles the window, so memory and the work of
//! crossing empty windows stay bounded however far simulated time jumps.
//! A merged row sums the counts, averages the means (equal widths) and
//! keeps the larger p99 (an upper bound on the pair's p99).

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

/// What a driver holds between two events: the levels the timeline and
/// the summary average over time (and, summed over time, their integrals).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Levels {
    /// Requests in the system: waiting, in service, or held by a stage in
    /// front of the pool.
    pub in_system: f64,
    /// Requests waiting, not yet in a batch.
    pub waiting: f64,
    /// Busy servers (GPUs or replicas); fractional under processor sharing.
    pub busy: f64,
    /// Fraction of KV-cache blocks in use (LLM serving; 0 otherwise).
    pub kv_used: f64,
    /// Requests in running batches (the batch size over time).
    pub running: f64,
}

impl Levels {
    /// Adds `held`, held for `dt` seconds, to these integrals.
    pub fn add_held(&mut self, held: &Levels, dt: f64) {
        self.in_system += held.in_system * dt;
        self.waiting += held.waiting * dt;
        self.busy += held.busy * dt;
        self.kv_used += held.kv_used * dt;
        self.running += held.running * dt;
    }
}

/// The most rows a timeline holds (even, so merged windows stay aligned).
pub const MAX_ROWS: usize = 100_000;

impl WindowRow {
    /// This row and the next one of equal width as one row.
    fn merged(&self, next: &WindowRow) -> WindowRow {
        let mean = |a: f64, b: f64| (a + b) / 2.0;
        WindowRow {
            t_start_s: self.t_start_s,
            arrivals: self.arrivals + next.arrivals,
            completed: self.completed + next.completed,
            rejected: self.rejected + next.rejected,
            batches: self.batches + next.batches,
            queue_depth_mean: mean(self.queue_depth_mean, next.queue_depth_mean),
            in_system_mean: mean(self.in_system_mean, next.in_system_mean),
            utilization: mean(self.utilization, next.utilization),
            kv_utilization: mean(self.kv_utilization, next.kv_utilization),
            running_mean: mean(self.running_mean, next.running_mean),
            e2e_p99_s: self.e2e_p99_s.max(next.e2e_p99_s),
        }
    }
}

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
            integrals: Levels::default(),
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
        row.in_system_mean = self.integrals.in_system / w;
        row.queue_depth_mean = self.integrals.waiting / w;
        row.utilization = self.integrals.busy / w / self.servers;
        row.kv_utilization = self.integrals.kv_used / w;
        row.running_mean = self.integrals.running / w;
        row.e2e_p99_s = self.window_e2e.quantile_s(0.99);
        self.rows.push(row);
        self.integrals = Levels::default();
        self.window_e2e.reset();
        self.start += self.width;
        if self.rows.len() >= MAX_ROWS {
            self.rows = self.rows.chunks(2).map(|pair| pair[0].merged(&pair[1])).collect();
            self.width = SimDuration(self.width.0.saturating_mul(2));
        }
    }

    /// Integrates `levels` (held since `from`) up to `to`, closing windows
    /// crossed on the way. `to` must not precede `from`.
    pub fn integrate(&mut self, from: SimTime, to: SimTime, levels: &Levels) {
        let mut t = from;
        while t < to {
            let window_end = self.start + self.width;
            let seg_end = to.min(window_end);
            let dt = seg_end.since(t).as_secs_f64();
            self.integrals.add_held(levels, dt);
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
        let held = Levels { in_system: 2.0, waiting: 1.0, busy: 1.0, kv_used: 0.5, running: 1.0 };
        t.integrate(SimTime::ZERO, SimTime(1_500_000_000), &held);
        t.row().arrivals += 1;
        t.integrate(SimTime(1_500_000_000), SimTime(2_000_000_000), &Levels::default());
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
    fn a_long_run_merges_rows_instead_of_growing_past_the_limit() {
        let mut t = Timeline::new(SimDuration(1), 1);
        let busy = Levels { in_system: 1.0, busy: 1.0, ..Levels::default() };
        // 1e15 windows of 1 ns: bounded rows, and done at once.
        let end = SimTime(1_000_000_000_000_000);
        t.integrate(SimTime::ZERO, end, &busy);
        let rows = t.finish(end);
        assert!(rows.len() <= MAX_ROWS && rows.len() >= MAX_ROWS / 2, "{}", rows.len());
        assert!(rows.iter().all(|r| r.in_system_mean == 1.0 && r.utilization == 1.0));
        assert!(rows.windows(2).all(|w| w[0].t_start_s < w[1].t_start_s));
    }

    #[test]
    fn auto_width_is_humane() {
        assert_eq!(auto_width(SimDuration::from_secs(600)), SimDuration::from_secs(10));
        assert_eq!(auto_width(SimDuration::from_secs(3420)), SimDuration::from_secs(50));
        assert_eq!(auto_width(SimDuration(0)), SimDuration(1));
    }
}
