//! Swarm testing (the VOPR habit): one seed draws a whole valid scenario
//! ([`generate`]), runs it, and checks the invariants every run must keep;
//! a range of seeds explores feature combinations no hand-written test
//! covers. A failure names its seed, so `servesim swarm --seed N` repeats
//! it exactly.
//!
//! What is checked ([`check`]):
//! 1. the generated scenario is valid (the generator knows the format);
//! 2. the run does not panic;
//! 3. the recorder's own invariants hold (`summary.invariants.all_hold`):
//!    every request exactly one terminal outcome, no event scheduled in the
//!    past, Little's law over the whole run, no token delivered unchecked
//!    (unless fail-open), the front door's accounting;
//! 4. a drained run leaves nothing in flight and loses nothing;
//! 5. KV is never over-committed: peak and every window's use within
//!    [0, 1] of the pool;
//! 6. GPU-busy time is conserved: no server or GPU busy more than the
//!    whole span (utilization within [0, 1]);
//! 7. the measured interval is consistent: measured requests no more than
//!    offered, their outcomes no more than measured, latency quantiles
//!    ordered (p50 <= p99 <= max), timeline windows in time order;
//! 8. determinism: a second run renders byte-identical report files;
//! 9. the run ends: it handles fewer than [`MAX_EVENTS`] events (a
//!    livelock repeats events at a fixed time forever; the cap turns that
//!    hang into a failure with its reproduce line);
//! 10. closed-loop clients send every request: the run offers exactly the
//!     warm-up plus concurrency × requests_per_client, measures exactly the
//!     latter (each with an outcome) and ends with nothing in flight (a
//!     client whose answer never comes stops sending, and the run ends
//!     short);
//! 11. no KV leak: every replica of a drained run ends holding no block
//!     for a sequence (only unreferenced cached prefixes);
//! 12. GPU-busy time is conserved exactly: each server's busy nanoseconds
//!     in the report equal the measured nanoseconds its steps' modeled
//!     durations cover (integer ledgers, [`crate::metrics::audit`]);
//! 13. Little's law on the measured interval: the time-average number in
//!     system (from the levels) equals λW from the requests' own arrival
//!     and answer times, computed as the area under N(t) over the interval,
//!     to f64 rounding ([`little_rounding`]).

pub mod generate;

use crate::metrics::recorder::Recorded;
use crate::workload::arrivals::ArrivalSpec;
use crate::workload::closed_loop::ClosedLoopSpec;
use crate::{report, scenario, sim};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Events one seed's run may handle: generated scenarios are small, so a
/// run that reaches the cap is reported, not waited for.
pub const MAX_EVENTS: u64 = 20_000_000;

/// Relative rounding allowed between the time-average number in system
/// (an f64 sum of non-negative terms, one per event) and λW from the
/// requests' integer timestamps: recursive summation of k non-negative
/// terms is within (k − 1)·ε of the exact sum (Higham, *Accuracy and
/// Stability of Numerical Algorithms*, §4.2), so k·ε with k the run's
/// events bounds it.
pub fn little_rounding(events: u64) -> f64 {
    events.max(1) as f64 * f64::EPSILON
}

/// One seed's result: what it exercised and what went wrong (empty: passed).
pub struct Outcome {
    pub seed: u64,
    pub features: Vec<&'static str>,
    pub text: String,
    pub problems: Vec<String>,
}

/// Generates, runs and checks the scenario of `seed`.
pub fn check(seed: u64, profiles: &str) -> Outcome {
    let drawn = generate::scenario(seed, profiles);
    let mut outcome = Outcome { seed, features: drawn.features, text: drawn.text, problems: Vec::new() };
    let path = Path::new("swarm.toml");
    let scenario = match scenario::from_text(&outcome.text, path, &[]) {
        Ok(mut s) => {
            s.run.max_events = Some(MAX_EVENTS);
            s
        }
        Err(e) => {
            outcome.problems.push(format!("the generated scenario is invalid: {e}"));
            return outcome;
        }
    };
    let first = match catch_unwind(AssertUnwindSafe(|| sim::run(&scenario))) {
        Ok(recorded) => recorded,
        Err(panic) => {
            outcome.problems.push(format!("the run panicked: {}", panic_text(&*panic)));
            return outcome;
        }
    };
    outcome.problems.extend(invariants(&first));
    if let ArrivalSpec::ClosedLoop(clients) = &scenario.arrivals {
        outcome.problems.extend(closed_loop(clients, &first));
    }
    let second = catch_unwind(AssertUnwindSafe(|| sim::run(&scenario)));
    match (second, report::render(&first, "")) {
        (Ok(second), Ok(files)) => match report::render(&second, "") {
            Ok(again) if again == files => {}
            Ok(again) => {
                let differ: Vec<&str> =
                    files.iter().zip(&again).filter(|(a, b)| a != b).map(|((name, _), _)| *name).collect();
                outcome.problems.push(format!("a second run differs in {}", differ.join(", ")));
            }
            Err(e) => outcome.problems.push(format!("the second report does not render: {e}")),
        },
        (Err(panic), _) => outcome.problems.push(format!("the second run panicked: {}", panic_text(&*panic))),
        (_, Err(e)) => outcome.problems.push(format!("the report does not render: {e}")),
    }
    outcome
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Checks 3-7 of the module docs on one run; each violation as a sentence.
fn invariants(recorded: &Recorded) -> Vec<String> {
    let s = &recorded.summary;
    let mut problems = Vec::new();
    let mut require = |holds: bool, what: String| {
        if !holds {
            problems.push(what);
        }
    };
    require(
        s.run.events < MAX_EVENTS,
        format!(
            "the run reached the cap of {MAX_EVENTS} events at simulated time {} s: a livelock, or far more work \
             than a generated scenario should need",
            s.run.end_s
        ),
    );
    let inv = &s.invariants;
    require(
        inv.every_request_one_outcome,
        format!(
            "not every request has exactly one outcome: offered {}, outcomes {:?}, in flight {}, duplicates {}",
            s.requests.offered, s.requests.by_outcome, s.requests.in_flight_at_end, inv.duplicate_outcomes
        ),
    );
    require(inv.events_in_past == 0, format!("{} events were scheduled in the past", inv.events_in_past));
    require(
        s.littles_law.holds,
        format!("Little's law over the run is off by {:.3e} (relative)", s.littles_law.relative_error),
    );
    require(inv.all_hold, "the run's own invariant checks failed (summary.invariants.all_hold is false)".into());
    if let Some(safety) = &s.safety {
        require(
            safety.fail_open || (safety.unchecked_tokens_delivered == 0 && safety.unchecked_inputs == 0),
            format!(
                "unchecked content delivered: {} tokens, {} inputs",
                safety.unchecked_tokens_delivered, safety.unchecked_inputs
            ),
        );
    }
    if s.run.drained {
        require(
            s.requests.in_flight_at_end == 0 && inv.lost == 0,
            format!("a drained run left {} in flight and lost {}", s.requests.in_flight_at_end, inv.lost),
        );
    }
    let fraction = |x: f64| (0.0..=1.0 + 1e-9).contains(&x);
    if let Some(llm) = &s.llm {
        require(
            fraction(llm.memory.kv_peak_utilization),
            format!("KV over-committed: peak {}", llm.memory.kv_peak_utilization),
        );
        require(fraction(llm.kv_utilization_mean), format!("KV mean use {} out of [0, 1]", llm.kv_utilization_mean));
        require(fraction(llm.gpu_busy_fraction), format!("GPU busy fraction {} out of [0, 1]", llm.gpu_busy_fraction));
    }
    for (i, u) in s.servers.utilization.iter().enumerate() {
        require(fraction(*u), format!("server {i} busy {u} of the span"));
    }
    require(fraction(s.servers.utilization_mean), format!("mean utilization {}", s.servers.utilization_mean));
    let measured_outcomes: u64 = s.requests.measured_by_outcome.values().sum();
    require(
        s.requests.measured <= s.requests.offered && measured_outcomes <= s.requests.measured,
        format!(
            "measured {} of {} offered, with {} measured outcomes",
            s.requests.measured, s.requests.offered, measured_outcomes
        ),
    );
    for (name, l) in
        [("end-to-end", &s.latency.end_to_end), ("queue wait", &s.latency.queue_wait), ("service", &s.latency.service)]
    {
        require(
            // Quantiles come from a histogram with 3 significant digits.
            l.p50_s <= l.p99_s * (1.0 + 1e-3) + 1e-12 && l.p99_s <= l.max_s * (1.0 + 1e-3) + 1e-12 && l.mean_s >= 0.0,
            format!("{name} latency quantiles out of order: p50 {} p99 {} max {}", l.p50_s, l.p99_s, l.max_s),
        );
    }
    let windows = &recorded.timeline;
    require(windows.windows(2).all(|w| w[0].t_start_s <= w[1].t_start_s), "timeline windows out of time order".into());
    require(
        windows.iter().all(|r| {
            fraction(r.kv_utilization)
                && fraction(r.utilization)
                && r.queue_depth_mean >= 0.0
                && r.in_system_mean >= 0.0
        }),
        "a timeline window has KV use out of [0, 1] or a negative level".into(),
    );
    problems.extend(ledgers(recorded));
    problems
}

/// Checks 11-13 of the module docs: the audit's ledgers against the report.
fn ledgers(recorded: &Recorded) -> Vec<String> {
    let (s, audit) = (&recorded.summary, &recorded.audit);
    let mut problems = Vec::new();
    if s.run.drained {
        for (i, kv) in audit.kv_end.iter().enumerate() {
            if kv.sequence_blocks() != 0 || kv.prefix_refs != 0 {
                problems.push(format!(
                    "replica {i} ends a drained run holding {} KV blocks for sequences ({} used, {} by cached \
                     prefixes with {} references)",
                    kv.sequence_blocks(),
                    kv.used_blocks,
                    kv.prefix_blocks,
                    kv.prefix_refs
                ));
            }
        }
    }
    for (i, (busy, steps)) in audit.busy_ns.iter().zip(&audit.step_ns).enumerate() {
        if busy != steps {
            problems.push(format!(
                "server {i} is reported busy {busy} ns of the measured interval, but its steps cover {steps} ns"
            ));
        }
    }
    let window = &audit.window;
    let l = s.queue.in_system_mean;
    let lambda_w = if window.span_ns > 0 { window.area_ns as f64 / window.span_ns as f64 } else { 0.0 };
    // Both sides are exact sums of integer nanoseconds; L is accumulated in
    // f64 over every event, so only its rounding separates them.
    if (l - lambda_w).abs() > little_rounding(s.run.events) * l.max(lambda_w) {
        problems.push(format!(
            "Little's law on the measured interval: mean in system {l} from the levels, but λW = {} × {} s = \
             {lambda_w} from the requests' timestamps",
            window.lambda_per_s(),
            window.w_s()
        ));
    }
    problems
}

/// Check 10 of the module docs: every client sent all its requests and
/// every one was answered.
fn closed_loop(clients: &ClosedLoopSpec, recorded: &Recorded) -> Vec<String> {
    let r = &recorded.summary.requests;
    let measured = clients.measured_requests();
    let offered = measured + u64::from(clients.warmup_requests);
    let outcomes: u64 = r.measured_by_outcome.values().sum();
    match r.offered == offered && r.measured == measured && outcomes == measured && r.in_flight_at_end == 0 {
        true => Vec::new(),
        false => vec![format!(
            "closed-loop clients sent {} of {offered} requests ({} of {measured} measured, {outcomes} measured \
             outcomes), {} left in flight",
            r.offered, r.measured, r.in_flight_at_end
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::audit::KvAtEnd;

    /// A drained LLM run with a prefix cache, and the same run stopped
    /// while its steps run, both of which keep every ledger.
    fn run(drain: bool) -> Recorded {
        let text = format!(
            r#"[run]
duration = "20s"
warmup = "2s"
drain = {drain}
[workload]
rate_per_s = 20.0
prompt_tokens = {{ median = 400, p99 = 1600 }}
output_tokens = {{ median = 60, p99 = 300 }}
shared_prefix = {{ tokens = 256, share = 0.5, prefixes = 2 }}
[replica]
gpu = "h100-sxm"
model = "llama-3-8b"
count = 2
profiles = "{}/profiles"
[batching]
policy = "continuous"
max_batch = 64
max_batched_tokens = 4096
[kv]
prefix_cache = "lru"
"#,
            env!("CARGO_MANIFEST_DIR")
        );
        let scenario = scenario::from_text(&text, Path::new("ledgers.toml"), &[]).expect("a valid scenario");
        sim::run(&scenario)
    }

    #[test]
    fn the_ledgers_agree_on_a_drained_and_a_stopped_run() {
        for drain in [true, false] {
            let recorded = run(drain);
            assert_eq!(ledgers(&recorded), Vec::<String>::new(), "drain = {drain}");
            let audit = &recorded.audit;
            assert!(audit.busy_ns.iter().all(|&ns| ns > 0) && audit.window.requests > 0, "{audit:?}");
            assert_eq!(audit.kv_end.len(), 2);
        }
    }

    #[test]
    fn each_ledger_check_catches_its_violation() {
        let mut leak = run(true);
        leak.audit.kv_end[1] = KvAtEnd { used_blocks: 7, prefix_blocks: 4, prefix_refs: 0 };
        let mut busy = run(true);
        busy.audit.step_ns[0] += 1;
        let mut little = run(true);
        little.audit.window.area_ns += u128::from(little.audit.window.span_ns / 1000);
        for (recorded, expected) in [
            (leak, "replica 1 ends a drained run holding 3 KV blocks"),
            (busy, "server 0 is reported busy"),
            (little, "Little's law on the measured interval"),
        ] {
            let problems = ledgers(&recorded);
            assert!(problems.len() == 1 && problems[0].contains(expected), "{problems:?}");
        }
    }
}
