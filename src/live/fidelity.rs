//! Fidelity: one workload run live and simulated with the calibrated
//! profile, metric by metric.
//!
//! Why: a calibrated step-time fit can be good step by step and still
//! mislead at the request level (queueing amplifies small errors near
//! saturation; overheads outside a step are not modeled). Running the same
//! scenario and seed both ways — same arrivals, sizes and scheduling
//! settings; only the step times differ — measures the error a capacity
//! planner would actually see. The error of a metric is `(sim − live) /
//! live`.

use super::driver::{executed_config, llm_config, StepTiming};
use super::{Executor, LiveError};
use crate::core::llm::StepShape;
use crate::metrics::latency::LatencySummary;
use crate::metrics::recorder::Recorded;
use crate::metrics::summary::Throughput;
use crate::metrics::Summary;
use crate::model::profile::CalibratedProfile;
use crate::model::step::StepModel;
use crate::scenario::Scenario;

/// One compared metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub metric: String,
    /// The live or measured value.
    pub reference: f64,
    pub sim: f64,
    /// `(sim − reference) / reference` (NaN when `reference` is 0).
    pub error: f64,
}

/// Both runs and their comparison.
pub struct Fidelity {
    pub live: Recorded,
    pub sim: Recorded,
    pub rows: Vec<Row>,
    pub steps: StepErrors,
    /// Every live step with the calibrated model's prediction for it,
    /// seconds: kept so that a live run's steps can be studied (and
    /// re-scored against another profile) after the device is gone.
    pub live_steps: Vec<(StepTiming, f64)>,
    pub device: String,
}

/// The calibrated step model on the live run's own steps: separates a
/// step-time error from what queueing makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepErrors {
    pub count: usize,
    /// MAPE of the prediction against the executor's timing of each step.
    pub mape_executor: f64,
    /// MAPE against the wall time the core saw (hand-off included).
    pub mape_wall: f64,
    /// Mean wall − executor time per step, seconds: host work outside the
    /// timed region (hand-off to the worker thread, batch upload).
    pub handoff_mean_s: f64,
}

/// Errors of `model` on the live steps.
pub fn step_errors(model: &StepModel, steps: &[StepTiming]) -> StepErrors {
    if steps.is_empty() {
        return StepErrors::default();
    }
    let n = steps.len() as f64;
    let rel = |pred: f64, actual: f64| ((pred - actual) / actual).abs();
    let (mut exe, mut wall, mut gap) = (0.0, 0.0, 0.0);
    for s in steps {
        let pred = model.time(&s.shape).as_secs_f64();
        let (e, w) = (s.executor.as_secs_f64().max(1e-9), s.wall.as_secs_f64().max(1e-9));
        exe += rel(pred, e);
        wall += rel(pred, w);
        gap += w - e;
    }
    StepErrors { count: steps.len(), mape_executor: exe / n, mape_wall: wall / n, handoff_mean_s: gap / n }
}

impl Row {
    /// `metric` as `reference` (live or measured) and `sim` report it.
    pub fn new(metric: String, reference: f64, sim: f64) -> Row {
        Row { metric, reference, sim, error: if reference != 0.0 { (sim - reference) / reference } else { f64::NAN } }
    }
}

/// TTFT, TPOT and end-to-end latency as a summary reports them, named as
/// the comparison's metrics are.
pub fn latencies(s: &Summary) -> [(&'static str, LatencySummary); 3] {
    let (ttft, tpot) = s.llm.as_ref().map(|l| (l.ttft, l.tpot)).unwrap_or_default();
    [("ttft", ttft), ("tpot", tpot), ("e2e", s.latency.end_to_end)]
}

/// Each latency at mean, p50, p90 and p99, `reference` against `sim`.
pub fn compare_latencies(
    reference: [(&'static str, LatencySummary); 3],
    sim: [(&'static str, LatencySummary); 3],
) -> Vec<Row> {
    let mut rows = Vec::new();
    for ((name, l), (_, s)) in reference.into_iter().zip(sim) {
        for (stat, a, b) in [
            ("mean", l.mean_s, s.mean_s),
            ("p50", l.p50_s, s.p50_s),
            ("p90", l.p90_s, s.p90_s),
            ("p99", l.p99_s, s.p99_s),
        ] {
            rows.push(Row::new(format!("{name}_{stat}_s"), a, b));
        }
    }
    rows
}

/// TTFT, TPOT and end-to-end at mean/p50/p90/p99, then throughput.
pub fn compare(live: &Summary, sim: &Summary) -> Vec<Row> {
    let mut rows = compare_latencies(latencies(live), latencies(sim));
    rows.push(Row::new("completed_per_s".into(), live.throughput.completed_per_s, sim.throughput.completed_per_s));
    let tokens = |s: &Summary| s.llm.as_ref().map_or(0.0, |l| l.tokens.output_per_s);
    rows.push(Row::new("output_tokens_per_s".into(), tokens(live), tokens(sim)));
    rows
}

/// Runs `scenario` live on `exec`, then simulated with `calibrated` over
/// the executed model, and compares them.
pub fn run(
    scenario: &Scenario,
    exec: Box<dyn Executor>,
    calibrated: &CalibratedProfile,
) -> Result<Fidelity, LiveError> {
    let sim_config = executed_config(llm_config(scenario)?, exec.model(), Some(calibrated))?;
    let device = exec.device();
    let live = super::driver::run(scenario, exec)?;
    let sim = crate::sim::llm::run(scenario, &sim_config, scenario.seed, &scenario.run);
    let rows = compare(&live.recorded.summary, &sim.summary);
    let steps = step_errors(&sim_config.step, &live.steps);
    let live_steps = live.steps.into_iter().map(|s| (s, sim_config.step.time(&s.shape).as_secs_f64())).collect();
    Ok(Fidelity { live: live.recorded, sim, rows, steps, live_steps, device })
}

/// Completed over offered below which a live run counts as saturated.
pub const SATURATED_BELOW: f64 = 0.9;

/// A warning when the live run completed well under what was offered: its
/// queue grew for the whole run, so its latencies measure how long the run
/// lasted, and any step-time error in the sim becomes an unbounded latency
/// error. A fidelity run must sit below the knee to judge step times.
pub fn saturation_warning(live: &Throughput) -> Option<String> {
    let (offered, completed) = (live.offered_per_s, live.completed_per_s);
    (offered > 0.0 && completed < SATURATED_BELOW * offered).then(|| {
        format!(
            "warning: the live run was saturated ({offered:.2} requests/s offered, {completed:.2} completed): \
             its latencies measure a growing queue, not step times; lower the rate below the knee \
             (`servesim sweep <scenario> --set replica.calibrated=<profile> --vary workload.rate_per_s=...`)"
        )
    })
}

/// The live steps as CSV: shape, executor and wall times, prediction.
pub fn steps_csv(steps: &[(StepTiming, f64)]) -> String {
    let mut out = format!("{},executor_s,wall_s,predicted_s\n", StepShape::CSV_HEADER);
    for (s, predicted) in steps {
        out.push_str(&format!(
            "{},{},{},{predicted}\n",
            s.shape.csv_fields(),
            s.executor.as_secs_f64(),
            s.wall.as_secs_f64()
        ));
    }
    out
}

/// The comparison as CSV, the reference column named `reference`.
pub fn csv(rows: &[Row], reference: &str) -> String {
    let mut out = format!("metric,{reference},sim,error\n");
    for r in rows {
        out.push_str(&format!("{},{},{},{}\n", r.metric, r.reference, r.sim, r.error));
    }
    out
}

/// The comparison as a Markdown table (seconds shown as ms), the reference
/// column named `reference` (live, measured).
pub fn table(rows: &[Row], reference: &str) -> String {
    let mut out = format!("| metric | {reference} | sim | error |\n|---|---:|---:|---:|\n");
    for r in rows {
        let seconds = r.metric.ends_with("_s") && !r.metric.ends_with("_per_s");
        let (scale, unit, name) = match r.metric.strip_suffix("_s") {
            Some(name) if seconds => (1e3, " ms", name),
            _ => (1.0, "", r.metric.as_str()),
        };
        out.push_str(&format!(
            "| {name} | {:.3}{unit} | {:.3}{unit} | {:+.1}% |\n",
            r.reference * scale,
            r.sim * scale,
            r.error * 100.0
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_run_that_falls_behind_its_arrivals_is_called_saturated() {
        let behind = Throughput { offered_per_s: 6.66, completed_per_s: 5.10 };
        assert!(saturation_warning(&behind).is_some_and(|w| w.contains("6.66 requests/s offered, 5.10 completed")));
        assert_eq!(saturation_warning(&Throughput { offered_per_s: 6.66, completed_per_s: 6.4 }), None);
        assert_eq!(saturation_warning(&Throughput { offered_per_s: 0.0, completed_per_s: 0.0 }), None);
    }
}
