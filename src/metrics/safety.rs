//! What the safety pipeline did, and the invariant it must keep: no token
//! reaches a caller unless the output check passed it.
//!
//! Why the checker reads the audit trail rather than trusting the stage:
//! the ledger keeps, per request, the tokens the output check passed
//! (`Pass` decisions) and the tokens the caller was given (`Release`
//! actions); any token given beyond what passed is counted as unchecked.
//! With fail-closed checks the count must be 0; `fail_open` makes it the
//! price of the what-if, reported in red.
//!
//! Definitions (whole run, every request):
//! - input latency: arrival to the input verdict (sent to the LLM, or
//!   refused before it) — the safety SLI, with its own p99 SLO;
//! - output added latency: LLM completion to the caller holding the whole
//!   response; TTFT added: the LLM's first token to the caller's first
//!   released chunk (streaming);
//! - by class: offered, rule/input/output blocks, escalations, outcomes;
//!   `block_rate` = refused / offered, `pass_rate` = completed / offered;
//! - false positives: benign requests refused by a check; false negatives:
//!   harmful requests completed;
//! - GPU time saved (estimates from the run's GPU-seconds per generated
//!   token): by input blocking, the output tokens of requests refused before
//!   inference; by early stops, the tokens a stopped stream did not generate.
//!
//! Memory: O(requests in flight + windows + decisions when auditing).

use super::latency::{LatencyStat, LatencySummary};
use crate::core::llm::Served;
use crate::core::safety::{Check, Class, Decision, Verdict};
use crate::core::{IdMap, Outcome, RequestId};
use crate::time::{SimDuration, SimTime};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SafetySummary {
    /// Failed checks let content pass (what-if); false means fail closed.
    pub fail_open: bool,
    /// "whole" or "streaming".
    pub output_mode: String,
    /// Streaming only.
    pub chunk_tokens: Option<u32>,
    pub input_pass_threshold: f64,
    pub input_block_threshold: f64,
    pub output_block_threshold: f64,
    /// Tokens delivered to callers without passing the output check (0
    /// unless fail_open).
    pub unchecked_tokens_delivered: u64,
    /// Requests let in with a failed input check (fail_open only).
    pub unchecked_inputs: u64,
    /// unchecked_tokens_delivered == 0 and unchecked_inputs == 0.
    pub invariant_nothing_unchecked: bool,
    pub input_latency: LatencySummary,
    pub latency_slo: Option<SafetySlo>,
    pub output_added_latency: LatencySummary,
    pub ttft_added: LatencySummary,
    pub by_class: BTreeMap<String, ClassStats>,
    pub false_positives: u64,
    pub false_negatives: u64,
    /// false_positives / benign offered.
    pub false_positive_rate: f64,
    /// false_negatives / harmful offered.
    pub false_negative_rate: f64,
    pub classifiers: Vec<ClassifierStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewStats>,
    /// Streams stopped by a flagged or failed output check.
    pub early_stops: u64,
    pub tokens_not_generated_by_early_stops: u64,
    pub gpu_s_per_generated_token: f64,
    pub gpu_s_saved_by_input_blocking: f64,
    pub gpu_s_saved_by_early_stops: f64,
    pub outages: Vec<OutageInfo>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SafetySlo {
    pub target_p99_s: f64,
    pub actual_p99_s: f64,
    pub met: bool,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ClassStats {
    pub offered: u64,
    pub rule_blocked: u64,
    pub input_blocked: u64,
    pub escalated: u64,
    pub escalation_blocked: u64,
    pub review_blocked: u64,
    pub output_flagged: u64,
    pub completed: u64,
    pub refused: u64,
    pub safety_unavailable: u64,
    /// Other outcomes (overloaded, failed) from the LLM pool.
    pub other: u64,
    pub pass_rate: f64,
    pub block_rate: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassifierStats {
    pub name: String,
    pub servers: u32,
    pub max_batch: u32,
    pub batches: u64,
    pub checks: u64,
    pub mean_batch: f64,
    /// Busy time / (servers × run end).
    pub utilization: f64,
    /// Checks whose batch failed (outage).
    pub failed_checks: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReviewStats {
    pub reviewers: u32,
    pub reviews: u64,
    /// Enqueued to a reviewer starting.
    pub wait: LatencySummary,
    pub backlog_max: u64,
    /// Time-average backlog over the run.
    pub backlog_mean: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutageInfo {
    pub classifier: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// One window of the safety timeline (for the outage plot).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SafetyWindow {
    pub completed: u64,
    pub refused: u64,
    pub unavailable: u64,
}

/// What a safety run adds to the report beyond `summary.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct SafetyRecorded {
    /// `audit.jsonl`, when asked for.
    pub audit: Option<String>,
    /// Per window of `width` from time 0: what callers got.
    pub windows: Vec<SafetyWindow>,
    pub width: SimDuration,
}

struct Track {
    class: Class,
    arrived: SimTime,
    output_tokens: u32,
    forwarded: bool,
    passed_upto: u32,
    released_upto: u32,
    llm_done: Option<SimTime>,
    stopped: bool,
}

/// Per-pool counters the driver keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolCounters {
    pub batches: u64,
    pub checks: u64,
    pub busy_ns: u64,
    pub failed_checks: u64,
}

/// Facts the driver hands over at the end.
pub struct SafetyEnd<'a> {
    pub end: SimTime,
    pub pools: Vec<(String, u32, u32, PoolCounters)>,
    pub reviewers: Option<u32>,
    pub gpu_busy_s: f64,
    pub outages: &'a [(String, SimDuration, SimDuration)],
}

/// The recorder and checker of the safety pipeline.
pub struct SafetyRecorder {
    pub summary: SafetySummary,
    tracks: IdMap<Track>,
    stats: [ClassStats; 3],
    input_latency: LatencyStat,
    output_added: LatencyStat,
    ttft_added: LatencyStat,
    review_wait: LatencyStat,
    backlog: (SimTime, u64, f64, u64),
    generated_tokens: u64,
    blocked_tokens: u64,
    windows: Vec<SafetyWindow>,
    width: SimDuration,
    audit: Option<String>,
}

fn class_index(c: Class) -> usize {
    Class::ALL.iter().position(|&x| x == c).unwrap_or(0)
}

fn rate(n: u64, d: u64) -> f64 {
    if d > 0 {
        n as f64 / d as f64
    } else {
        0.0
    }
}

impl SafetyRecorder {
    /// `summary` carries the settings; counts are filled by `finish`.
    pub fn new(summary: SafetySummary, window: SimDuration, audit: bool) -> Self {
        SafetyRecorder {
            summary,
            tracks: IdMap::default(),
            stats: Default::default(),
            input_latency: LatencyStat::new(),
            output_added: LatencyStat::new(),
            ttft_added: LatencyStat::new(),
            review_wait: LatencyStat::new(),
            backlog: (SimTime::ZERO, 0, 0.0, 0),
            generated_tokens: 0,
            blocked_tokens: 0,
            windows: Vec::new(),
            width: SimDuration(window.0.max(1)),
            audit: audit.then(String::new),
        }
    }

    pub fn arrival(&mut self, now: SimTime, request: RequestId, class: Class, output_tokens: u32) {
        self.stats[class_index(class)].offered += 1;
        let track = Track {
            class,
            arrived: now,
            output_tokens,
            forwarded: false,
            passed_upto: 0,
            released_upto: 0,
            llm_done: None,
            stopped: false,
        };
        self.tracks.insert(request.0, track);
    }

    pub fn decision(&mut self, now: SimTime, d: &Decision) {
        let s = &mut self.stats[class_index(d.class)];
        match (d.check, d.verdict) {
            (Check::Rules, Verdict::Block) => s.rule_blocked += 1,
            (Check::Input, Verdict::Block) => s.input_blocked += 1,
            (Check::Input, Verdict::Escalate) => s.escalated += 1,
            (Check::Escalation, Verdict::Block) => s.escalation_blocked += 1,
            (Check::Review, Verdict::Block) => s.review_blocked += 1,
            (Check::Output, Verdict::Block) => s.output_flagged += 1,
            (Check::Input | Check::Escalation, Verdict::FailedOpen) => self.summary.unchecked_inputs += 1,
            _ => {}
        }
        if let Some(t) = self.tracks.get_mut(&d.request.0) {
            if d.check == Check::Output && d.verdict == Verdict::Pass {
                t.passed_upto = t.passed_upto.max(d.upto);
            }
            if d.check == Check::Output && matches!(d.verdict, Verdict::Block | Verdict::Unavailable) {
                t.stopped = true;
            }
        }
        if let Some(audit) = self.audit.as_mut() {
            let score = d.score.map_or("null".to_string(), |s| format!("{s}"));
            let _ = writeln!(
                audit,
                "{{\"t_s\":{},\"request\":{},\"class\":\"{}\",\"check\":\"{}\",\"verdict\":\"{}\",\"score\":{},\"upto\":{}}}",
                now.as_secs_f64(),
                d.request.0,
                d.class.name(),
                d.check.name(),
                d.verdict.name(),
                score,
                d.upto
            );
        }
    }

    pub fn forwarded(&mut self, now: SimTime, request: RequestId) {
        if let Some(t) = self.tracks.get_mut(&request.0) {
            t.forwarded = true;
            self.input_latency.record(now.since(t.arrived).0);
        }
    }

    /// The caller got tokens `..upto`: anything beyond what passed is unchecked.
    pub fn released(&mut self, request: RequestId, upto: u32) {
        if let Some(t) = self.tracks.get_mut(&request.0) {
            let unchecked_before = t.released_upto.saturating_sub(t.passed_upto);
            t.released_upto = t.released_upto.max(upto);
            let unchecked = t.released_upto.saturating_sub(t.passed_upto);
            self.summary.unchecked_tokens_delivered += u64::from(unchecked.saturating_sub(unchecked_before));
        }
    }

    pub fn llm_done(&mut self, now: SimTime, request: RequestId, served: &Served) {
        self.generated_tokens += u64::from(served.output_tokens);
        if let Some(t) = self.tracks.get_mut(&request.0) {
            t.llm_done = Some(now);
            if t.stopped {
                self.summary.early_stops += 1;
                self.summary.tokens_not_generated_by_early_stops +=
                    u64::from(t.output_tokens.saturating_sub(served.output_tokens));
            }
        }
    }

    pub fn review_started(&mut self, now: SimTime, enqueued: SimTime) {
        self.review_wait.record(now.since(enqueued).0);
    }

    /// The review backlog is `backlog` from `now` on.
    pub fn backlog(&mut self, now: SimTime, backlog: u64) {
        let (since, level, integral, max) = self.backlog;
        self.backlog = (now, backlog, integral + level as f64 * now.since(since).as_secs_f64(), max.max(backlog));
    }

    /// The caller's final answer; returns when the request arrived.
    pub fn respond(
        &mut self,
        now: SimTime,
        request: RequestId,
        outcome: Outcome,
        served: Option<&Served>,
        first_release: Option<SimTime>,
    ) -> Option<SimTime> {
        let t = self.tracks.remove(&request.0)?;
        if !t.forwarded {
            self.input_latency.record(now.since(t.arrived).0);
            if outcome == Outcome::Refused {
                self.blocked_tokens += u64::from(t.output_tokens);
            }
        }
        let s = &mut self.stats[class_index(t.class)];
        let i = (now.0 / self.width.0) as usize;
        if self.windows.len() <= i {
            self.windows.resize(i + 1, SafetyWindow::default());
        }
        let w = &mut self.windows[i];
        match outcome {
            Outcome::Completed => {
                s.completed += 1;
                w.completed += 1;
                if let Some(done) = t.llm_done {
                    self.output_added.record(now.since(done).0);
                }
                if let (Some(first), Some(generated)) = (first_release, served.and_then(|s| s.first_token)) {
                    self.ttft_added.record(first.since(generated).0);
                }
            }
            Outcome::Refused => {
                s.refused += 1;
                w.refused += 1;
            }
            Outcome::SafetyUnavailable => {
                s.safety_unavailable += 1;
                w.unavailable += 1;
            }
            _ => s.other += 1,
        }
        Some(t.arrived)
    }

    /// The audit log and the windows, for the report's extra files.
    pub fn take_recorded(&mut self) -> SafetyRecorded {
        let windows = std::mem::take(&mut self.windows);
        SafetyRecorded { audit: self.audit.take(), windows, width: self.width }
    }

    pub fn finish(&mut self, end: SafetyEnd, slo_p99: Option<SimDuration>) {
        self.backlog(end.end, self.backlog.1);
        let s = &mut self.summary;
        for (i, c) in Class::ALL.iter().enumerate() {
            let mut st = self.stats[i].clone();
            st.pass_rate = rate(st.completed, st.offered);
            st.block_rate = rate(st.refused, st.offered);
            s.by_class.insert(c.name().to_string(), st);
        }
        let [benign, _, harmful] = &self.stats;
        s.false_positives = benign.refused;
        s.false_negatives = harmful.completed;
        s.false_positive_rate = rate(benign.refused, benign.offered);
        s.false_negative_rate = rate(harmful.completed, harmful.offered);
        s.input_latency = self.input_latency.summary();
        s.output_added_latency = self.output_added.summary();
        s.ttft_added = self.ttft_added.summary();
        s.latency_slo = slo_p99.map(|target| {
            let actual = self.input_latency.quantile_s(0.99);
            SafetySlo { target_p99_s: target.as_secs_f64(), actual_p99_s: actual, met: actual <= target.as_secs_f64() }
        });
        s.invariant_nothing_unchecked = s.unchecked_tokens_delivered == 0 && s.unchecked_inputs == 0;
        let span = end.end.as_secs_f64();
        s.classifiers = end
            .pools
            .into_iter()
            .map(|(name, servers, max_batch, c)| ClassifierStats {
                name,
                servers,
                max_batch,
                batches: c.batches,
                checks: c.checks,
                mean_batch: rate(c.checks, c.batches),
                utilization: if span > 0.0 { c.busy_ns as f64 / 1e9 / (span * f64::from(servers)) } else { 0.0 },
                failed_checks: c.failed_checks,
            })
            .collect();
        s.review = end.reviewers.map(|reviewers| ReviewStats {
            reviewers,
            reviews: self.review_wait.count(),
            wait: self.review_wait.summary(),
            backlog_max: self.backlog.3,
            backlog_mean: if span > 0.0 { self.backlog.2 / span } else { 0.0 },
        });
        let per_token = if self.generated_tokens > 0 { end.gpu_busy_s / self.generated_tokens as f64 } else { 0.0 };
        s.gpu_s_per_generated_token = per_token;
        s.gpu_s_saved_by_input_blocking = self.blocked_tokens as f64 * per_token;
        s.gpu_s_saved_by_early_stops = s.tokens_not_generated_by_early_stops as f64 * per_token;
        s.outages = end
            .outages
            .iter()
            .map(|(c, a, b)| OutageInfo { classifier: c.clone(), start_s: a.as_secs_f64(), end_s: b.as_secs_f64() })
            .collect();
    }
}
