//! Fitting the engine step model's coefficients to measured benchmark rows
//! (`servesim calibrate --benchmarks`).
//!
//! Why it can be fitted through the simulator itself: in a closed loop
//! with zero think time every request is sent at the end of a step, so
//! which tokens run in which step (the schedule) does not depend on how
//! long the steps take, and a step's time is a sum of coefficients times
//! the step's physical quantities ([`crate::model::engine_step`]), except
//! the larger of streaming the weights and the GEMM FLOPs. A row's mean
//! TTFT and TPOT are therefore, while no step changes which of those two
//! binds, linear and homogeneous in the coefficients: `P(θ) = J θ`, with
//! `J` the derivative. The fit measures `J` by simulating every row once
//! per coefficient, that coefficient nudged (a forward difference, exact
//! while no step changes regime), solves the linearised problem, simulates
//! the solution, and keeps it only when the simulated error went down (it
//! halves the move otherwise). No side model stands in for the simulator:
//! the error the fit reports is the error `servesim fidelity` reports with
//! the written profile.
//!
//! The objective is the acceptance a planner reads, per engine:
//! `Σ |TPOT error| + ½ Σ |TTFT error|` (relative errors, so the fit aims at
//! TPOT twice as tight as TTFT). The linearised problem is solved by
//! iteratively reweighted least squares, each coefficient held at its
//! physical bound (an inverse efficiency `>= 1`, a CPU time `>= 0`) by
//! projected coordinate descent, in units of its starting value.
//!
//! One coefficient is not linear: the API server's time per streamed
//! token matters only once the stream binds, and then it moves when
//! clients send. It is fitted by trying a few values once the derivative's
//! fit has converged (`scan_token_stream`), then fitting the rest again.
//!
//! Costs: each round simulates the file `2 + coefficients` times (about
//! 14), a scan 9 times; the fit of aiconfigurator's 647 H100 runs from a
//! neutral start takes about a minute and a half.

use super::fidelity::{self, Accuracy, Pricing, Replay, RowOutcome};
use super::{BenchRow, Expressed};
use crate::model::coefficients::EngineCoefficients;
use crate::model::precision::Dtype;
use crate::model::profile::{self, CalibratedProfile, ModelProfile};
use crate::time::SimDuration;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Weight of a TTFT error against a TPOT error in the objective.
pub const TTFT_WEIGHT: f64 = 0.5;

/// One fitted coefficient of an engine's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Knob {
    StepCpu,
    SeqLayer,
    PromptLayerCpu,
    LayerLatency,
    TokenStreamCpu,
    RequestOverhead,
    AllreduceHop,
    WeightStream,
    Gemm(Dtype),
    Kv,
    Attention,
    Nvlink,
}

impl Knob {
    /// The key in a calibrated profile's `[engines.<kind>]` table.
    pub fn key(self) -> String {
        match self {
            Knob::StepCpu => "step_cpu".into(),
            Knob::SeqLayer => "seq_layer_latency".into(),
            Knob::PromptLayerCpu => "prompt_layer_cpu".into(),
            Knob::LayerLatency => "layer_latency".into(),
            Knob::TokenStreamCpu => "token_stream_cpu".into(),
            Knob::RequestOverhead => "request_overhead".into(),
            Knob::AllreduceHop => "allreduce_hop_latency".into(),
            Knob::WeightStream => "weight_stream_inefficiency".into(),
            Knob::Gemm(d) => format!("gemm_inefficiency.{}", d.name()),
            Knob::Kv => "kv_inefficiency".into(),
            Knob::Attention => "attention_inefficiency".into(),
            Knob::Nvlink => "nvlink_inefficiency".into(),
        }
    }

    /// Seconds for CPU times, the factor for inefficiencies.
    pub fn get(self, c: &EngineCoefficients) -> f64 {
        match self {
            Knob::StepCpu => c.step_cpu.as_secs_f64(),
            Knob::SeqLayer => c.seq_layer_latency.as_secs_f64(),
            Knob::PromptLayerCpu => c.prompt_layer_cpu.as_secs_f64(),
            Knob::LayerLatency => c.layer_latency.as_secs_f64(),
            Knob::TokenStreamCpu => c.token_stream_cpu.as_secs_f64(),
            Knob::RequestOverhead => c.request_overhead.as_secs_f64(),
            Knob::AllreduceHop => c.allreduce_hop_latency.as_secs_f64(),
            Knob::WeightStream => c.weight_stream_inefficiency,
            Knob::Gemm(d) => c.gemm(d),
            Knob::Kv => c.kv_inefficiency,
            Knob::Attention => c.attention_inefficiency,
            Knob::Nvlink => c.nvlink_inefficiency,
        }
    }

    /// Sets the value, clamped to the bound (CPU times to whole nanoseconds).
    pub fn set(self, c: &mut EngineCoefficients, v: f64) {
        let v = v.max(self.lower());
        let time = || SimDuration::from_secs_f64(v);
        match self {
            Knob::StepCpu => c.step_cpu = time(),
            Knob::SeqLayer => c.seq_layer_latency = time(),
            Knob::PromptLayerCpu => c.prompt_layer_cpu = time(),
            Knob::LayerLatency => c.layer_latency = time(),
            Knob::TokenStreamCpu => c.token_stream_cpu = time(),
            Knob::RequestOverhead => c.request_overhead = time(),
            Knob::AllreduceHop => c.allreduce_hop_latency = time(),
            Knob::WeightStream => c.weight_stream_inefficiency = v,
            Knob::Gemm(d) => {
                c.gemm_inefficiency.insert(d, v);
            }
            Knob::Kv => c.kv_inefficiency = v,
            Knob::Attention => c.attention_inefficiency = v,
            Knob::Nvlink => c.nvlink_inefficiency = v,
        }
    }

    /// The physical bound: no CPU time below zero, no kernel above peak.
    pub fn lower(self) -> f64 {
        if self.is_time() {
            0.0
        } else {
            1.0
        }
    }

    fn is_time(self) -> bool {
        matches!(
            self,
            Knob::StepCpu
                | Knob::SeqLayer
                | Knob::PromptLayerCpu
                | Knob::LayerLatency
                | Knob::TokenStreamCpu
                | Knob::RequestOverhead
                | Knob::AllreduceHop
        )
    }

    /// The unit the solver moves this knob in, and its difference step: a
    /// twentieth of its value, or a floor of the size such a cost has.
    fn scale(self, v: f64) -> f64 {
        let floor = match self {
            Knob::StepCpu => 100e-6,
            Knob::SeqLayer => 78e-9,
            Knob::PromptLayerCpu => 50e-6,
            Knob::LayerLatency => 10e-6,
            Knob::TokenStreamCpu => 5e-6,
            Knob::RequestOverhead => 5e-3,
            Knob::AllreduceHop => 1e-6,
            _ => 1.0,
        };
        v.max(floor)
    }
}

/// What an engine's rows cover: the weight formats served and the models'
/// depths (layers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    pub formats: BTreeSet<Dtype>,
    pub depths: BTreeSet<u32>,
}

/// The knobs fitted through the derivative for an engine whose rows cover
/// `rows`: a GEMM rate per weight format, and the time per layer only when
/// models of different depths tell it apart from the time per step.
pub fn knobs(rows: &Coverage) -> Vec<Knob> {
    let mut all = vec![
        Knob::StepCpu,
        Knob::SeqLayer,
        Knob::PromptLayerCpu,
        Knob::RequestOverhead,
        Knob::AllreduceHop,
        Knob::WeightStream,
    ];
    if rows.depths.len() > 1 {
        all.push(Knob::LayerLatency);
    }
    all.extend(rows.formats.iter().map(|&d| Knob::Gemm(d)));
    all.extend([Knob::Kv, Knob::Attention, Knob::Nvlink]);
    all
}

/// A round that lowers no engine's objective by this much has converged.
const CONVERGED: f64 = 1e-5;

/// How much a scanned value must lower an engine's objective to replace
/// the current one (so that a flat objective does not move it).
const SCAN_GAIN: f64 = 1e-4;

/// The server's time per streamed token acts only once the stream is the
/// bottleneck: below that its derivative is zero, above it the schedule
/// (when clients send) moves with it. It is fitted by trying each of these
/// values, seconds, holding the rest.
const TOKEN_STREAM_SCAN: [f64; 9] = [0.0, 20e-6, 40e-6, 50e-6, 60e-6, 70e-6, 80e-6, 100e-6, 120e-6];

/// Where a fit starts for an engine that the starting profile has no
/// table for: CPU times of the size the measured engines show and kernels
/// at 80% of peak (the fit moves every one of them).
pub fn neutral_start() -> EngineCoefficients {
    EngineCoefficients {
        step_cpu: SimDuration::from_millis(1),
        seq_layer_latency: SimDuration::from_secs_f64(312e-9),
        prompt_layer_cpu: SimDuration::from_secs_f64(200e-6),
        layer_latency: SimDuration::ZERO,
        token_stream_cpu: SimDuration::ZERO,
        request_overhead: SimDuration::from_millis(20),
        allreduce_hop_latency: SimDuration::from_secs_f64(5e-6),
        weight_stream_inefficiency: 1.25,
        gemm_inefficiency: BTreeMap::from([(Dtype::Bf16, 1.25)]),
        kv_inefficiency: 1.25,
        attention_inefficiency: 1.25,
        nvlink_inefficiency: 1.25,
    }
}

/// A knob and, per row, the derivatives of the row's mean TTFT and TPOT
/// (ms) by it; None for another engine's row or one not simulated.
type Column = (Knob, Vec<Option<(f64, f64)>>);

/// One round of the fit, as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// The objective per engine after the round (mean per row).
    pub objective: BTreeMap<String, f64>,
}

/// A finished fit.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// The starting profile with every fitted engine's table replaced.
    pub profile: CalibratedProfile,
    /// Every row as the fitted profile predicts it (file order).
    pub outcomes: Vec<RowOutcome>,
    pub rounds: Vec<Round>,
}

/// Why a file cannot be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("no row of the file can be simulated on gpu `{gpu}`{why}")]
    NoRows { gpu: String, why: String },
    #[error("model profile `{model}`: {message}")]
    Model { model: String, message: String },
}

/// Fits every engine with simulated rows on `start.gpu`, `rounds` rounds
/// at most; `progress` hears each round.
pub fn fit(
    rows: &[BenchRow],
    profiles: &Path,
    start: &CalibratedProfile,
    run: Replay,
    rounds: u32,
    mut progress: impl FnMut(usize, &Round),
) -> Result<Fitted, FitError> {
    let gpu = start.gpu.clone();
    let ours: Vec<BenchRow> = rows
        .iter()
        .filter(|r| matches!(r.expressed(profiles), Expressed::Yes { gpu: g, .. } if g == gpu))
        .cloned()
        .collect();
    if ours.is_empty() {
        let first = rows.iter().find_map(|r| match r.expressed(profiles) {
            Expressed::Not(why) => Some(format!(" (line {}: {why})", r.line)),
            Expressed::Yes { .. } => None,
        });
        return Err(FitError::NoRows { gpu, why: first.unwrap_or_default() });
    }
    let mut coverage: BTreeMap<String, Coverage> = BTreeMap::new();
    for r in &ours {
        let model = r.model_profile();
        let m: ModelProfile = profile::find(profiles, &model)
            .map_err(|e| FitError::Model { model: model.clone(), message: e.to_string() })?;
        let engine = coverage
            .entry(r.backend.clone())
            .or_insert_with(|| Coverage { formats: BTreeSet::from([Dtype::Bf16]), depths: BTreeSet::new() });
        engine.formats.insert(m.precision_or_uniform().weights);
        engine.depths.insert(m.layers);
    }
    let mut profile = start.clone();
    for engine in coverage.keys() {
        profile.engines.entry(engine.clone()).or_insert_with(neutral_start);
    }
    let predict = |p: &CalibratedProfile| fidelity::run_all(&ours, profiles, Pricing::InMemory(p), run);
    let mut now = predict(&profile);
    let mut done = Vec::new();
    for round in 0..rounds {
        let mut jacobian: BTreeMap<String, Vec<Column>> = coverage
            .iter()
            .map(|(engine, f)| (engine.clone(), knobs(f).into_iter().map(|k| (k, Vec::new())).collect()))
            .collect();
        let widest = jacobian.values().map(Vec::len).max().unwrap_or(0);
        for j in 0..widest {
            let mut nudged = profile.clone();
            let mut steps = BTreeMap::new();
            for (engine, cols) in &jacobian {
                if let Some((k, _)) = cols.get(j) {
                    let c = nudged.engines.get_mut(engine).expect("every fitted engine has a table");
                    let v = k.get(c);
                    let h = k.scale(v) / 20.0;
                    k.set(c, v + h);
                    steps.insert(engine.clone(), k.get(c) - v);
                }
            }
            let moved = predict(&nudged);
            for (engine, cols) in jacobian.iter_mut() {
                let (Some((_, col)), Some(&h)) = (cols.get_mut(j), steps.get(engine)) else { continue };
                *col = ours
                    .iter()
                    .zip(now.iter().zip(&moved))
                    .map(|(r, (a, b))| {
                        let (Ok(a), Ok(b)) = (&a.predicted, &b.predicted) else { return None };
                        (&r.backend == engine && h > 0.0)
                            .then(|| ((b.ttft_ms - a.ttft_ms) / h, (b.tpot_ms - a.tpot_ms) / h))
                    })
                    .collect();
            }
        }
        let mut proposal = profile.clone();
        for (engine, cols) in &jacobian {
            let c = proposal.engines.get_mut(engine).expect("every fitted engine has a table");
            let solved = solve(&ours, &now, engine, cols, c);
            for ((k, _), v) in cols.iter().zip(solved) {
                k.set(c, v);
            }
        }
        // Keep each engine's move only where it lowered that engine's
        // simulated objective; halve it otherwise (twice, then stay).
        let mut next = predict(&proposal);
        for _ in 0..2 {
            let worse: Vec<&String> =
                coverage.keys().filter(|e| objective(&next, e) > objective(&now, e) + 1e-12).collect();
            if worse.is_empty() {
                break;
            }
            for engine in worse {
                let (from, to) = (&profile.engines[engine], proposal.engines[engine].clone());
                let halfway = blend(from, &to, &knobs(&coverage[engine]));
                proposal.engines.insert(engine.clone(), halfway);
            }
            next = predict(&proposal);
        }
        let mut reverted = false;
        for engine in coverage.keys() {
            if objective(&next, engine) > objective(&now, engine) + 1e-12 {
                proposal.engines.insert(engine.clone(), profile.engines[engine].clone());
                reverted = true;
            }
        }
        let moved = coverage.keys().any(|e| proposal.engines[e] != profile.engines[e]);
        let before: Vec<f64> = coverage.keys().map(|e| objective(&now, e)).collect();
        if moved {
            // `next` priced exactly `proposal` unless an engine went back.
            now = if reverted { predict(&proposal) } else { next };
            profile = proposal;
        }
        let mut gained = coverage.keys().zip(&before).any(|(e, b)| objective(&now, e) < b - CONVERGED);
        if !gained {
            // The derivative's fit has converged: try the token stream's
            // values, and fit again from the better one.
            gained = scan_token_stream(&mut profile, &mut now, &coverage, &predict);
        }
        let report = Round { objective: coverage.keys().map(|e| (e.clone(), objective(&now, e))).collect() };
        progress(round as usize + 1, &report);
        done.push(report);
        if !gained {
            break;
        }
    }
    Ok(Fitted { outcomes: fidelity::run_all(rows, profiles, Pricing::InMemory(&profile), run), profile, rounds: done })
}

/// Sets each engine's token stream time to the scanned value with the
/// lowest simulated objective, if it gains `SCAN_GAIN`, all engines priced
/// in the same simulations; true if any engine's value changed.
fn scan_token_stream(
    profile: &mut CalibratedProfile,
    now: &mut Vec<RowOutcome>,
    coverage: &BTreeMap<String, Coverage>,
    predict: &dyn Fn(&CalibratedProfile) -> Vec<RowOutcome>,
) -> bool {
    let knob = Knob::TokenStreamCpu;
    let mut best: BTreeMap<&String, (f64, f64)> =
        coverage.keys().map(|e| (e, (objective(now, e), knob.get(&profile.engines[e])))).collect();
    for v in TOKEN_STREAM_SCAN {
        let mut trial = profile.clone();
        for e in coverage.keys() {
            knob.set(trial.engines.get_mut(e).expect("every fitted engine has a table"), v);
        }
        let outcomes = predict(&trial);
        for (e, b) in best.iter_mut() {
            let o = objective(&outcomes, e);
            if o < b.0 - SCAN_GAIN {
                *b = (o, v);
            }
        }
    }
    let mut changed = false;
    for (e, (_, v)) in best {
        let c = profile.engines.get_mut(e).expect("every fitted engine has a table");
        let was = knob.get(c);
        knob.set(c, v);
        changed |= knob.get(c) != was;
    }
    if changed {
        *now = predict(profile);
    }
    changed
}

/// Mean `|TPOT error| + ½ |TTFT error|` over `engine`'s simulated rows.
pub fn objective(outcomes: &[RowOutcome], engine: &str) -> f64 {
    let a = Accuracy::of(outcomes.iter().filter(|o| o.row.backend == engine));
    a.tpot_mape + TTFT_WEIGHT * a.ttft_mape
}

/// Each knob halfway from `from` to `to`.
fn blend(from: &EngineCoefficients, to: &EngineCoefficients, knobs: &[Knob]) -> EngineCoefficients {
    let mut c = from.clone();
    for k in knobs {
        k.set(&mut c, 0.5 * (k.get(from) + k.get(to)));
    }
    c
}

/// The linearised fit for one engine: values of `cols`' knobs minimising
/// the weighted relative errors of `P = J θ` (module doc), from `c`.
fn solve(rows: &[BenchRow], now: &[RowOutcome], engine: &str, cols: &[Column], c: &EngineCoefficients) -> Vec<f64> {
    let n = cols.len();
    let units: Vec<f64> = cols.iter().map(|(k, _)| k.scale(k.get(c))).collect();
    // One residual line per (row, metric): a . x = 1 in the knobs' units.
    let mut lines: Vec<(Vec<f64>, f64)> = Vec::new();
    for (i, (r, o)) in rows.iter().zip(now).enumerate() {
        if r.backend != engine || o.predicted.is_err() {
            continue;
        }
        let derivative = |metric: fn(&(f64, f64)) -> f64, measured: f64| -> Option<Vec<f64>> {
            cols.iter().zip(&units).map(|((_, col), u)| col[i].as_ref().map(|d| metric(d) * u / measured)).collect()
        };
        if let Some(a) = derivative(|d| d.0, r.ttft_ms) {
            lines.push((a, TTFT_WEIGHT));
        }
        if let Some(a) = derivative(|d| d.1, r.tpot_ms) {
            lines.push((a, 1.0));
        }
    }
    let lower: Vec<f64> = cols.iter().zip(&units).map(|((k, _), u)| k.lower() / u).collect();
    let mut x: Vec<f64> = cols.iter().zip(&units).map(|((k, _), u)| k.get(c) / u).collect();
    let start = x.clone();
    for _ in 0..60 {
        // Weighted normal equations of |a.x - 1| at the current residuals,
        // with a faint pull to the start for knobs no row moves.
        let mut h = vec![vec![0.0; n]; n];
        let mut g = vec![0.0; n];
        for (a, weight) in &lines {
            let r: f64 = a.iter().zip(&x).map(|(a, x)| a * x).sum::<f64>() - 1.0;
            let w = weight / r.abs().max(1e-4);
            for p in 0..n {
                g[p] += w * a[p];
                for q in 0..n {
                    h[p][q] += w * a[p] * a[q];
                }
            }
        }
        let ridge = 1e-9 * (0..n).map(|p| h[p][p]).fold(0.0, f64::max).max(1e-12);
        for p in 0..n {
            h[p][p] += ridge;
            g[p] += ridge * start[p];
        }
        for _ in 0..400 {
            for p in 0..n {
                let grad: f64 = (0..n).map(|q| h[p][q] * x[q]).sum::<f64>() - g[p];
                x[p] = (x[p] - grad / h[p][p]).max(lower[p]);
            }
        }
    }
    x.iter().zip(&units).map(|(x, u)| x * u).collect()
}
