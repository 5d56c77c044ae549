//! SLO attainment over time in a fleet run: per window, the share of
//! answers within SLO; the share of windows meeting the target; and, per
//! scheduled failure, the attainment while it lasted and how long after it
//! ended the first window met the target again (time to recover).
//!
//! Which answers: those of measured requests (see `fleet_breakdown.rs` for
//! "within SLO"), each counted in the window in which it reached its user —
//! what a dashboard of the users' experience shows, and what a backlog
//! left by an incident keeps degraded until it clears. A window meets the
//! SLO when it holds at least one answer and `slo_target` of them are
//! within SLO; a window without answers is reported but judged neither way.
//!
//! Time to recover: from an incident's end to the start of the first window
//! starting at or after that end that meets the SLO (`None` if none does
//! before the run ends); its resolution is one window.
//!
//! Memory: O(windows), at most [`MAX_WINDOWS`]: a run that would outgrow
//! them merges windows pairwise and doubles their width (counts add
//! exactly). Per answer: O(1), plus one count per incident under way.

use super::fleet::{IncidentSummary, SloWindowsSummary};
use super::fleet_breakdown::Verdict;
use crate::time::{SimDuration, SimTime};
use serde::Serialize;

/// The most windows kept (even, so merged windows stay aligned).
pub const MAX_WINDOWS: usize = 100_000;

/// One window, as written to `slo_windows.csv`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloWindowRow {
    pub t_start_s: f64,
    /// Answers of measured requests that reached their users in the window.
    pub answered: u64,
    pub within_slo: u64,
    pub failed: u64,
    /// within_slo / answered (empty without answers).
    pub attainment: Option<f64>,
    /// attainment >= target (empty without answers).
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Count {
    answered: u64,
    within_slo: u64,
    failed: u64,
}

impl Count {
    fn add(&mut self, v: Verdict) {
        self.answered += 1;
        self.within_slo += u64::from(v.within_slo);
        self.failed += u64::from(v.failed);
    }

    fn merged(self, other: Count) -> Count {
        Count {
            answered: self.answered + other.answered,
            within_slo: self.within_slo + other.within_slo,
            failed: self.failed + other.failed,
        }
    }

    fn attainment(self) -> Option<f64> {
        (self.answered > 0).then(|| self.within_slo as f64 / self.answered as f64)
    }
}

pub struct SloWindows {
    width: SimDuration,
    target: f64,
    windows: Vec<Count>,
    /// Per scheduled failure: the answers while it was under way.
    incidents: Vec<Count>,
    /// The scheduled failures under way now.
    active: Vec<usize>,
}

impl SloWindows {
    /// Windows of `width` judged against `target`, for `incidents` scheduled failures.
    pub fn new(width: SimDuration, target: f64, incidents: usize) -> Self {
        SloWindows {
            width: SimDuration(width.0.max(1)),
            target,
            windows: Vec::new(),
            incidents: vec![Count::default(); incidents],
            active: Vec::new(),
        }
    }

    /// Scheduled failure `k` starts (`under_way`) or ends now.
    pub fn incident(&mut self, k: usize, under_way: bool) {
        match under_way {
            true => self.active.push(k),
            false => self.active.retain(|&a| a != k),
        }
    }

    /// A measured request's answer reached its user at `now`.
    pub fn answered(&mut self, now: SimTime, v: Verdict) {
        let i = self.index(now);
        if self.windows.len() <= i {
            self.windows.resize(i + 1, Count::default());
        }
        self.windows[i].add(v);
        for &k in &self.active {
            self.incidents[k].add(v);
        }
    }

    /// The window holding `t`, merging windows while it lies past the last.
    fn index(&mut self, t: SimTime) -> usize {
        loop {
            let i = (t.0 / self.width.0) as usize;
            if i < MAX_WINDOWS {
                return i;
            }
            self.windows =
                self.windows.chunks(2).map(|p| p.iter().fold(Count::default(), |a, c| a.merged(*c))).collect();
            self.width = SimDuration(self.width.0.saturating_mul(2));
        }
    }

    /// The windows up to `end`, their summary, and each incident's
    /// attainment and time to recover filled in.
    pub fn finish(mut self, end: SimTime, incidents: &mut [IncidentSummary]) -> (SloWindowsSummary, Vec<SloWindowRow>) {
        let last = self.index(end);
        if self.windows.len() <= last {
            self.windows.resize(last + 1, Count::default());
        }
        let width_s = self.width.as_secs_f64();
        let met = |c: Count| c.attainment().map(|a| a >= self.target);
        let rows: Vec<SloWindowRow> = self
            .windows
            .iter()
            .enumerate()
            .map(|(i, &c)| SloWindowRow {
                t_start_s: i as f64 * width_s,
                answered: c.answered,
                within_slo: c.within_slo,
                failed: c.failed,
                attainment: c.attainment(),
                met: met(c),
            })
            .collect();
        for (summary, count) in incidents.iter_mut().zip(&self.incidents) {
            summary.answered = count.answered;
            summary.slo_attainment = count.attainment();
            let first = (summary.to_s / width_s).ceil() as usize;
            summary.recovered_at_s =
                rows.iter().skip(first).find(|r| r.met == Some(true)).map(|r| r.t_start_s.max(summary.to_s));
            summary.time_to_recover_s = summary.recovered_at_s.map(|at| at - summary.to_s);
        }
        let judged: Vec<f64> = rows.iter().filter_map(|r| r.attainment).collect();
        let windows = judged.len() as u64;
        let met = rows.iter().filter(|r| r.met == Some(true)).count() as u64;
        let summary = SloWindowsSummary {
            window_s: width_s,
            target: self.target,
            windows,
            met,
            met_fraction: if windows > 0 { met as f64 / windows as f64 } else { 0.0 },
            min_attainment: judged.iter().copied().fold(1.0, f64::min),
        };
        (summary, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(within_slo: bool) -> Verdict {
        Verdict { within_slo, failed: !within_slo }
    }

    fn incident(from_s: f64, to_s: f64) -> IncidentSummary {
        IncidentSummary {
            kind: "region_outage".into(),
            region: "r".into(),
            users: None,
            pool: None,
            from_s,
            to_s,
            replicas: 1,
            time_to_detect_s: None,
            last_routed_in_s: None,
            failed: 0,
            answered: 0,
            slo_attainment: None,
            recovered_at_s: None,
            time_to_recover_s: None,
        }
    }

    #[test]
    fn windows_judge_their_answers_and_recovery_is_the_first_met_window_after_the_end() {
        let mut w = SloWindows::new(SimDuration::from_secs(10), 0.9, 1);
        let at = |s: u64| SimTime::ZERO + SimDuration::from_secs(s);
        w.answered(at(1), verdict(true));
        w.incident(0, true);
        // 12 s .. 25 s: everything fails; the incident ends at 25 s.
        for s in 12..25 {
            w.answered(at(s), verdict(false));
        }
        w.incident(0, false);
        w.answered(at(27), verdict(true));
        // The window starting at 30 s misses, the one at 40 s meets.
        w.answered(at(31), verdict(false));
        w.answered(at(45), verdict(true));
        let mut incidents = [incident(12.0, 25.0)];
        let (summary, rows) = w.finish(at(50), &mut incidents);
        assert_eq!(rows.len(), 6);
        assert_eq!((rows[1].answered, rows[1].failed, rows[1].met), (8, 8, Some(false)));
        assert_eq!((rows[2].answered, rows[2].within_slo), (6, 1));
        assert_eq!((rows[5].answered, rows[5].attainment), (0, None));
        assert_eq!((summary.windows, summary.met, summary.met_fraction), (5, 2, 0.4));
        assert_eq!(summary.min_attainment, 0.0);
        let i = &incidents[0];
        assert_eq!((i.answered, i.slo_attainment), (13, Some(0.0)));
        assert_eq!((i.recovered_at_s, i.time_to_recover_s), (Some(40.0), Some(15.0)));
    }

    #[test]
    fn far_answers_merge_windows_instead_of_growing_past_the_limit() {
        let mut w = SloWindows::new(SimDuration(1), 0.5, 0);
        w.answered(SimTime(3), verdict(true));
        w.answered(SimTime(10 * MAX_WINDOWS as u64), verdict(false));
        let (summary, rows) = w.finish(SimTime(10 * MAX_WINDOWS as u64), &mut []);
        assert!(rows.len() <= MAX_WINDOWS);
        assert_eq!(summary.window_s, 16e-9);
        assert_eq!(rows.iter().map(|r| r.answered).sum::<u64>(), 2);
        assert_eq!(summary.windows, 2);
    }
}
