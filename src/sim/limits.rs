//! The run's limits as every sim driver applies them: arrivals cut off at
//! the run's duration or request count, the timeline's window over the span
//! arrivals are expected to cover, and the recorder's view of how the run
//! ended.
//!
//! Why one module: the station and LLM drivers must offer the same requests
//! and draw the same timeline for the same `[run]` table.

use crate::core::llm::StepShape;
use crate::engine::{Ending, RngStreams};
use crate::metrics::recorder::RunEnd;
use crate::metrics::timeline::auto_width;
use crate::scenario::{RunConfig, Scenario, Serving};
use crate::time::{SimDuration, SimTime};
use crate::workload::closed_loop::ClosedLoopSpec;
use crate::workload::{Arrival, ArrivalSpec, ArrivalStream};
use rand_chacha::ChaCha8Rng;

/// The arrival stream, cut off at the run's duration or request limit.
pub(super) struct Arrivals {
    stream: ArrivalStream,
    stop: Option<SimTime>,
    max_requests: Option<u64>,
    offered: u64,
}

impl Arrivals {
    pub(super) fn new(scenario: &Scenario, streams: &RngStreams, run: &RunConfig) -> Self {
        Arrivals::of(scenario.arrivals.clone(), streams.stream("arrivals"), run)
    }

    /// The arrivals of `spec` drawn from `rng` (a fleet's population).
    pub(super) fn of(spec: ArrivalSpec, rng: ChaCha8Rng, run: &RunConfig) -> Self {
        Arrivals { stream: ArrivalStream::new(spec, rng), stop: stop(run), max_requests: run.max_requests, offered: 0 }
    }

    /// The next arrival within the limits, counting it as offered.
    pub(super) fn next(&mut self) -> Option<Arrival> {
        let a = self.stream.next()?;
        let within = self.stop.is_none_or(|stop| a.at < stop) && self.max_requests.is_none_or(|max| self.offered < max);
        within.then(|| {
            self.offered += 1;
            a
        })
    }
}

/// When the run's arrivals stop, if it has a duration.
pub(super) fn stop(run: &RunConfig) -> Option<SimTime> {
    run.duration.map(|d| SimTime::ZERO + d)
}

/// The span arrivals are expected to cover (for the timeline's width).
fn horizon(scenario: &Scenario, run: &RunConfig) -> SimDuration {
    if let Some(d) = run.duration {
        return d;
    }
    match &scenario.arrivals {
        ArrivalSpec::Trace { records, time_scale } => {
            SimDuration::from_secs_f64(records.last().map_or(0.0, |r| r.offset_ns as f64 / 1e9) / time_scale)
        }
        ArrivalSpec::ClosedLoop(c) => closed_loop_horizon(scenario, c),
        spec @ ArrivalSpec::Renewal { .. } => {
            let rate = ArrivalStream::mean_rate(spec, 1.0).max(f64::MIN_POSITIVE);
            SimDuration::from_secs_f64(run.max_requests.unwrap_or(1) as f64 / rate)
        }
    }
}

/// A closed loop's span, estimated (only the timeline's width depends on
/// it): rounds of each client's requests, each a think time plus a nominal
/// request (1,024 prompt tokens prefilled with every client's, then 256
/// decode steps of every client at 1,024 tokens of context) on the pool's
/// step model.
fn closed_loop_horizon(scenario: &Scenario, c: &ClosedLoopSpec) -> SimDuration {
    let Serving::Llm(llm) = &scenario.serving else { return SimDuration::from_secs(1) };
    let n = u64::from(c.concurrency);
    let request = llm.step.time(&StepShape::prefill(1024 * n, 0)).as_secs_f64()
        + 256.0 * llm.step.time(&StepShape::decode(n, 1024 * n)).as_secs_f64();
    let rounds = f64::from(c.requests_per_client) + f64::from(c.warmup_requests) / n as f64;
    SimDuration::from_secs_f64(rounds * (c.think_time.as_secs_f64() + request))
}

/// The window width for the timeline: set, or ~100 rows over the horizon.
pub(super) fn window(scenario: &Scenario, run: &RunConfig) -> SimDuration {
    run.window.unwrap_or_else(|| auto_width(horizon(scenario, run)))
}

/// The recorder's view of how a run ended: drained when it was not cut off
/// and `idle` (nothing left in the system).
pub(super) fn run_end(ending: Ending, idle: bool) -> RunEnd {
    let Ending { end, arrivals_end, events, events_in_past, cut_off } = ending;
    RunEnd { end, arrivals_end, events, events_in_past, drained: !cut_off && idle }
}
