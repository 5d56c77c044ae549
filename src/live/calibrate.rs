//! Calibration: measure real steps over a grid of shapes and fit the
//! step-time model's coefficients to them.
//!
//! Why the max form: `model::step` predicts `overhead + max(bytes / bw,
//! flops / fl)`. A step is memory-bound exactly when its arithmetic
//! intensity `flops / bytes` is below `fl / bw`, so the fit is a search
//! over that one threshold: for each split of the points sorted by
//! intensity, `(overhead, 1/bw, 1/fl)` is a linear least-squares problem
//! (each point's row is `[1, bytes, 0]` or `[1, 0, flops]`), weighted by
//! `1 / measured^2` so that it minimizes relative error; the split whose
//! fit has the lowest MAPE wins (among exact fits, the one with the fewest
//! fitted rates: a lone point in a regime is always fitted exactly).
//! O(points^2).
//!
//! The two-term form (`model::step`'s optional attention term) gives the
//! linear layers and attention a roofline each: `overhead +
//! max(linear_bytes / bw, linear_flops / fl) + max(kv_bytes / bw_att,
//! attention_flops / fl_att)`. Each term's regime is a threshold on its own
//! intensity (`linear_flops / linear_bytes`, `attention_flops / kv_bytes`),
//! so the search enumerates both thresholds, O(points^2) splits, each a
//! least-squares problem in `(overhead, 1/bw, 1/fl, 1/bw_att, 1/fl_att)`;
//! O(points^3) in all (about 50 points). Both forms are fitted, and the
//! two-term one is kept only when it lowers the MAPE by more than 10% of
//! the one-term MAPE ([`TWO_TERM_MIN_IMPROVEMENT`]): two more parameters
//! always fit the measured points at least as well, and fewer generalize
//! better to shapes not measured.
//!
//! In both forms a fit with a negative overhead is redone without one, and
//! a split that needs a non-positive rate is rejected. The overhead is not
//! fitted at all when the first term's bytes over the points span less
//! than a factor of [`OVERHEAD_BYTES_SPAN`]: in the two-term
//! form every step of one model streams the same weights, so the overhead
//! and `linear_bytes / bw` are one column and any split of the time between
//! them fits equally well (on an H100 sweep the fit put 12.7 ms of a
//! weight-streaming decode step into the "overhead", called every step
//! compute-bound and bounded the bandwidth at 71x the peak). Left to the bandwidth, the fixed per-step
//! cost then scales with the weights, as kernel launches scale with layers
//! when the profile is applied to another model. A point counts when
//! its time and its four parts (linear and attention bytes and FLOPs) are
//! positive, as every real step's are. Bytes and FLOPs
//! (and their KV and attention parts) come from `StepModel::cost` for the
//! executed model ([`super::ExecModel::profile`]): the fit calibrates
//! exactly the formula the simulator evaluates. A regime with no measured
//! point cannot be fitted; its rate is then set to the weakest value
//! consistent with the points (so the other regime of that term binds
//! everywhere) and reported as a bound.

use super::{median_time, Backend, ExecModel, Executor, LiveError};
use crate::core::llm::StepShape;
use crate::model::profile::{CalibratedProfile, GpuProfile, ModelProfile};
use crate::model::step::StepModel;
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};

/// One measured shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub shape: StepShape,
    /// All bytes and FLOPs of the step (per GPU).
    pub bytes: f64,
    pub flops: f64,
    /// The KV-cache part of `bytes` (read and written).
    pub kv_bytes: f64,
    /// The attention part of `flops`.
    pub attention_flops: f64,
    /// Median of the timed repeats, seconds.
    pub measured_s: f64,
}

impl Point {
    /// Bytes and FLOPs of the linear layers: all but the attention part.
    pub fn linear(&self) -> (f64, f64) {
        (self.bytes - self.kv_bytes, self.flops - self.attention_flops)
    }
    /// Bytes and FLOPs of attention: the KV cache and the attention FLOPs.
    pub fn attention(&self) -> (f64, f64) {
        (self.kv_bytes, self.attention_flops)
    }
    /// What the first roofline term covers: the whole step in the one-term
    /// form, the linear layers when attention has a term of its own.
    fn first_term(&self, two_term: bool) -> (f64, f64) {
        if two_term {
            self.linear()
        } else {
            (self.bytes, self.flops)
        }
    }
}

/// One roofline term: `max(bytes / bandwidth, flops / flops_per_s)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roofline {
    pub bandwidth_bytes_per_s: f64,
    pub flops_per_s: f64,
    /// Whether each regime had measured points (else its rate is a bound).
    pub memory_fitted: bool,
    pub compute_fitted: bool,
}

impl Roofline {
    /// How many of the two rates were fitted (not bounds).
    fn fitted_rates(&self) -> usize {
        usize::from(self.memory_fitted) + usize::from(self.compute_fitted)
    }
    /// `(memory time, compute time)` of `(bytes, flops)`.
    fn times(&self, (bytes, flops): (f64, f64)) -> (f64, f64) {
        (bytes / self.bandwidth_bytes_per_s, flops / self.flops_per_s)
    }
}

/// Fitted coefficients: `overhead + max(bytes / bw, flops / fl)` (one
/// term), or with `attention`, `overhead + max(linear_bytes / bw,
/// linear_flops / fl) + max(kv_bytes / bw_att, attention_flops / fl_att)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub overhead_s: f64,
    /// The whole step in the one-term form; the linear layers with `attention`.
    pub linear: Roofline,
    /// The attention term, when the two-term form was kept.
    pub attention: Option<Roofline>,
}

impl Fit {
    /// How many rates were fitted (not bounds), over both terms.
    fn fitted_rates(&self) -> usize {
        self.linear.fitted_rates() + self.attention.map_or(0, |a| a.fitted_rates())
    }
    /// `(memory time, compute time)` of each term (zeros for no attention term).
    fn times(&self, p: &Point) -> [(f64, f64); 2] {
        let linear = self.linear.times(p.first_term(self.attention.is_some()));
        [linear, self.attention.map_or((0.0, 0.0), |a| a.times(p.attention()))]
    }
    /// Memory time >= compute time, summed over the terms (as `StepCost::memory_bound`).
    pub fn memory_bound(&self, p: &Point) -> bool {
        let [(lm, lc), (am, ac)] = self.times(p);
        lm + am >= lc + ac
    }
    pub fn predict(&self, p: &Point) -> f64 {
        let [(lm, lc), (am, ac)] = self.times(p);
        self.overhead_s + lm.max(lc) + am.max(ac)
    }
}

/// The two-term form replaces the one-term form only when its MAPE is lower
/// by more than this fraction of the one-term MAPE.
pub const TWO_TERM_MIN_IMPROVEMENT: f64 = 0.10;

/// A MAPE below this is an exact fit up to rounding: no form improves on it.
const EXACT_MAPE: f64 = 1e-6;

/// The sweep: decode batches x contexts, prefills, and mixed steps. CUDA:
/// batch 1-256, context 128-32K (total context at most 2^20 tokens per
/// step), prompts 128-4K. CPU: a reduced grid that runs in seconds on the
/// small CPU shapes.
pub fn grid(backend: Backend) -> Vec<StepShape> {
    let (batches, contexts, prompts, cap): (&[u64], &[u64], &[u64], u64) = match backend {
        Backend::Cuda => (
            &[1, 2, 4, 8, 16, 32, 64, 128, 256],
            &[128, 512, 2048, 8192, 32768],
            &[128, 256, 512, 1024, 2048, 4096],
            1 << 20,
        ),
        _ => (&[1, 4, 16, 48], &[64, 256], &[16, 64, 160], 1 << 14),
    };
    let mut shapes = Vec::new();
    for &b in batches {
        for &c in contexts {
            if b * c <= cap {
                shapes.push(StepShape::decode(b, b * c));
            }
        }
    }
    for &p in prompts {
        shapes.push(StepShape::prefill(p, 0));
    }
    let (b, c, p) = (batches[batches.len() / 2], contexts[contexts.len() / 2], prompts[prompts.len() / 2]);
    shapes.push(StepShape::decode(b, b * c).with_prefill(p, 0));
    shapes.push(StepShape::prefill(p, c));
    shapes
}

/// A sweep as measured, before any fit: what `servesim calibrate` saves as
/// `sweep.json` so that the same measurements can be fitted again later
/// (another model form, another GPU profile's peaks) with no device at
/// hand (`servesim calibrate --refit sweep.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// `cpu` or `cuda`.
    pub backend: String,
    /// The executor's device, as it describes itself.
    pub device: String,
    /// Model profile name (in `profiles/models/`) and the layers run.
    pub model: String,
    pub layers: u32,
    /// Day of the measurement, `YYYY-MM-DD`.
    pub date: String,
    pub warmup: u32,
    pub repeats: u32,
    /// Device copy bandwidth, read + write bytes per second.
    pub copy_bandwidth_bytes_per_s: f64,
    /// Mean live-path hand-off per step, seconds (added to the overhead).
    pub handoff_s: f64,
    pub steps: Vec<MeasuredStep>,
}

/// One measured shape: the step's sums and the median time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredStep {
    pub prefill_tokens: u64,
    pub prefill_cached_tokens: u64,
    pub decode_seqs: u64,
    pub decode_context_tokens: u64,
    pub measured_s: f64,
}

impl MeasuredStep {
    /// The step as the core describes it (one prefill chunk, as `grid` makes).
    pub fn shape(&self) -> StepShape {
        let decode = StepShape::decode(self.decode_seqs, self.decode_context_tokens);
        if self.prefill_tokens > 0 {
            decode.with_prefill(self.prefill_tokens, self.prefill_cached_tokens)
        } else {
            decode
        }
    }
}

impl Sweep {
    /// The measured points with bytes and FLOPs of `model` (the executed
    /// shape: the model's profile with this sweep's layers) on `gpu`.
    pub fn points(&self, gpu: &GpuProfile, model: &ModelProfile) -> Result<Vec<Point>, LiveError> {
        let executed = ExecModel::from_profile(model, Some(self.layers))?.profile();
        let step = StepModel::new(gpu, &executed, 1, None).map_err(|e| LiveError::Shape(e.to_string()))?;
        Ok(self
            .steps
            .iter()
            .map(|m| {
                let shape = m.shape();
                let cost = step.cost(&shape);
                Point {
                    shape,
                    bytes: cost.bytes_per_gpu,
                    flops: cost.flops_per_gpu,
                    kv_bytes: cost.kv_bytes_per_gpu,
                    attention_flops: cost.attention_flops_per_gpu,
                    measured_s: m.measured_s,
                }
            })
            .collect())
    }
}

/// Measures every shape: `warmup` untimed runs, then the median of
/// `repeats` timed ones. `progress` sees each step as it is measured.
pub fn measure(
    exec: &mut dyn Executor,
    shapes: &[StepShape],
    (warmup, repeats): (u32, u32),
    mut progress: impl FnMut(&MeasuredStep),
) -> Result<Vec<MeasuredStep>, LiveError> {
    shapes
        .iter()
        .map(|shape| {
            let step = MeasuredStep {
                prefill_tokens: shape.prefill_tokens,
                prefill_cached_tokens: shape.prefill_cached_tokens,
                decode_seqs: shape.decode_seqs,
                decode_context_tokens: shape.decode_context_tokens,
                measured_s: median_time(exec, shape, warmup, repeats)?.as_secs_f64(),
            };
            progress(&step);
            Ok(step)
        })
        .collect()
}

/// Least-squares unknowns: `[overhead, 1/bw, 1/fl, 1/bw_att, 1/fl_att]`.
const UNKNOWNS: usize = 5;

/// Weighted least squares `min Σ ((row · β − t) / t)²` over the columns in
/// `use_cols`; `None` if singular.
fn solve(rows: &[([f64; UNKNOWNS], f64)], use_cols: [bool; UNKNOWNS]) -> Option<[f64; UNKNOWNS]> {
    let cols: Vec<usize> = (0..UNKNOWNS).filter(|&c| use_cols[c]).collect();
    let n = cols.len();
    let mut a = vec![vec![0.0; n + 1]; n];
    for (row, t) in rows {
        let w = 1.0 / (t * t);
        for (i, &ci) in cols.iter().enumerate() {
            for (j, &cj) in cols.iter().enumerate() {
                a[i][j] += w * row[ci] * row[cj];
            }
            a[i][n] += w * row[ci] * t;
        }
    }
    for i in 0..n {
        let pivot = (i..n).max_by(|&x, &y| a[x][i].abs().total_cmp(&a[y][i].abs()))?;
        a.swap(i, pivot);
        if a[i][i].abs() < 1e-300 {
            return None;
        }
        let pivot_row = a[i].clone();
        for (_, row) in a.iter_mut().enumerate().filter(|(r, _)| *r != i) {
            let f = row[i] / pivot_row[i];
            row.iter_mut().zip(&pivot_row).skip(i).for_each(|(x, p)| *x -= f * p);
        }
    }
    let mut beta = [0.0; UNKNOWNS];
    for (i, &c) in cols.iter().enumerate() {
        beta[c] = a[i][n] / a[i][i];
    }
    Some(beta)
}

/// Mean absolute percentage error of `fit` over `points` (0 if none).
pub fn mape(fit: &Fit, points: &[&Point]) -> f64 {
    if points.is_empty() {
        return 0.0;
    }
    points.iter().map(|p| ((fit.predict(p) - p.measured_s) / p.measured_s).abs()).sum::<f64>() / points.len() as f64
}

/// Each point's rank by the arithmetic intensity (FLOPs / bytes) of `part`.
fn intensity_ranks(points: &[&Point], part: impl Fn(&Point) -> (f64, f64)) -> Vec<usize> {
    let intensity = |i: usize| {
        let (bytes, flops) = part(points[i]);
        flops / bytes
    };
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| intensity(a).total_cmp(&intensity(b)));
    let mut ranks = vec![0; points.len()];
    for (rank, &i) in order.iter().enumerate() {
        ranks[i] = rank;
    }
    ranks
}

/// The regimes of one term at a threshold: the `split` least intense points
/// are memory-bound.
fn memory_bound_below(ranks: &[usize], split: usize) -> Vec<bool> {
    ranks.iter().map(|&r| r < split).collect()
}

/// A term's rates from its fitted inverse rates. A regime with no point
/// gets the weakest rate that never binds (just under the tie, so every
/// point stays in the fitted regime).
fn roofline(
    (inv_bw, inv_fl): (f64, f64),
    memory_bound: &[bool],
    points: &[&Point],
    part: impl Fn(&Point) -> (f64, f64),
) -> Roofline {
    let (memory_fitted, compute_fitted) = (memory_bound.contains(&true), memory_bound.contains(&false));
    let least = |ratio: fn(f64, f64) -> f64| {
        points.iter().map(|p| part(p)).map(|(bytes, flops)| ratio(bytes, flops)).fold(f64::INFINITY, f64::min)
    };
    let inv_bw = if memory_fitted { inv_bw } else { inv_fl * least(|bytes, flops| flops / bytes) * (1.0 - 1e-9) };
    let inv_fl = if compute_fitted { inv_fl } else { inv_bw * least(|bytes, flops| bytes / flops) * (1.0 - 1e-9) };
    Roofline { bandwidth_bytes_per_s: 1.0 / inv_bw, flops_per_s: 1.0 / inv_fl, memory_fitted, compute_fitted }
}

/// The spread (max / min) of the first term's bytes over the points below
/// which the overhead is not fitted.
pub const OVERHEAD_BYTES_SPAN: f64 = 2.0;

/// The least-squares fit of one assignment of the points to regimes:
/// `linear[i]` says whether point i's first term is memory-bound,
/// `attention` the same for the attention term (`None`: the one-term form).
/// `None` if singular or a fitted rate is not positive.
fn fit_regimes(points: &[&Point], linear: &[bool], attention: Option<&[bool]>) -> Option<Fit> {
    let two_term = attention.is_some();
    let rows: Vec<([f64; UNKNOWNS], f64)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut row = [1.0, 0.0, 0.0, 0.0, 0.0];
            let (bytes, flops) = p.first_term(two_term);
            if linear[i] {
                row[1] = bytes;
            } else {
                row[2] = flops;
            }
            if let Some(attention) = attention {
                if attention[i] {
                    row[3] = p.kv_bytes;
                } else {
                    row[4] = p.attention_flops;
                }
            }
            (row, p.measured_s)
        })
        .collect();
    let populated = |regimes: Option<&[bool]>, memory: bool| regimes.is_some_and(|r| r.contains(&memory));
    let cols = [
        true,
        populated(Some(linear), true),
        populated(Some(linear), false),
        populated(attention, true),
        populated(attention, false),
    ];
    // The overhead and a first term whose bytes hardly vary are one column
    // twice (see the module doc): then only the rates are fitted.
    let bytes = points.iter().map(|p| p.first_term(two_term).0);
    let (least, most) = bytes.fold((f64::INFINITY, 0.0f64), |(lo, hi), b| (lo.min(b), hi.max(b)));
    let overhead_identifiable = most >= OVERHEAD_BYTES_SPAN * least;
    let with_overhead = overhead_identifiable.then(|| solve(&rows, cols)).flatten().filter(|b| b[0] >= 0.0);
    let beta = with_overhead.or_else(|| solve(&rows, [false, cols[1], cols[2], cols[3], cols[4]]))?;
    if cols.iter().zip(beta).skip(1).any(|(&used, b)| used && b <= 0.0) {
        return None;
    }
    Some(Fit {
        overhead_s: beta[0],
        linear: roofline((beta[1], beta[2]), linear, points, |p| p.first_term(two_term)),
        attention: attention.map(|a| roofline((beta[3], beta[4]), a, points, Point::attention)),
    })
}

/// The candidate with the lowest finite MAPE over `points`, with its MAPE;
/// among exact fits, the one with the fewest fitted rates.
fn lowest_mape(points: &[&Point], candidates: impl Iterator<Item = Fit>) -> Option<(f64, Fit)> {
    let exact_or = |e: f64| if e < EXACT_MAPE { 0.0 } else { e };
    candidates
        .map(|f| (mape(&f, points), f))
        .filter(|(e, _)| e.is_finite())
        .min_by(|(a, f), (b, g)| exact_or(*a).total_cmp(&exact_or(*b)).then(f.fitted_rates().cmp(&g.fitted_rates())))
}

/// Fits both forms to `points` and keeps one (see the module doc).
pub fn fit(points: &[Point]) -> Result<Fit, LiveError> {
    let ok = |p: &&Point| {
        let ((linear_bytes, linear_flops), (kv_bytes, attention_flops)) = (p.linear(), p.attention());
        p.measured_s > 0.0 && [linear_bytes, linear_flops, kv_bytes, attention_flops].iter().all(|&v| v > 0.0)
    };
    let points: Vec<&Point> = points.iter().filter(ok).collect();
    if points.len() < 3 {
        return Err(LiveError::Shape("calibration needs at least 3 measured points".into()));
    }
    let splits = 0..=points.len();
    let whole = intensity_ranks(&points, |p| (p.bytes, p.flops));
    let one_term =
        lowest_mape(&points, splits.clone().filter_map(|s| fit_regimes(&points, &memory_bound_below(&whole, s), None)));
    let (linear, attention) = (intensity_ranks(&points, Point::linear), intensity_ranks(&points, Point::attention));
    let two_term = lowest_mape(
        &points,
        splits.clone().flat_map(|s| splits.clone().map(move |t| (s, t))).filter_map(|(s, t)| {
            fit_regimes(&points, &memory_bound_below(&linear, s), Some(&memory_bound_below(&attention, t)))
        }),
    );
    let keep_two_term = two_term.as_ref().is_some_and(|(two, _)| {
        one_term.as_ref().is_none_or(|(one, _)| *two < one - TWO_TERM_MIN_IMPROVEMENT * one.max(EXACT_MAPE))
    });
    let kept = if keep_two_term { two_term } else { one_term };
    kept.map(|(_, f)| f).ok_or_else(|| LiveError::Shape("no positive fit of the step-time model to the points".into()))
}

/// MAPE of each regime, with its point count: `(memory, compute)`.
pub fn regime_mape(fit: &Fit, points: &[Point]) -> ((f64, usize), (f64, usize)) {
    let (mem, comp): (Vec<&Point>, Vec<&Point>) = points.iter().partition(|p| fit.memory_bound(p));
    ((mape(fit, &mem), mem.len()), (mape(fit, &comp), comp.len()))
}

/// The calibrated profile for `gpu`: what the simulator loads.
pub fn profile(fit: &Fit, gpu: &str, source: String) -> CalibratedProfile {
    CalibratedProfile {
        name: String::new(),
        gpu: gpu.into(),
        source,
        step_overhead: Some(SimDuration::from_secs_f64(fit.overhead_s)),
        effective_memory_bandwidth_bytes_per_s: Some(fit.linear.bandwidth_bytes_per_s),
        effective_flops_per_s: Some(fit.linear.flops_per_s),
        effective_nvlink_bandwidth_bytes_per_s: None,
        effective_attention_bandwidth_bytes_per_s: fit.attention.map(|a| a.bandwidth_bytes_per_s),
        effective_attention_flops_per_s: fit.attention.map(|a| a.flops_per_s),
        engines: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::profile::ModelProfile;
    use std::path::Path;

    fn rates(bandwidth_bytes_per_s: f64, flops_per_s: f64) -> Roofline {
        Roofline { bandwidth_bytes_per_s, flops_per_s, memory_fitted: true, compute_fitted: true }
    }

    /// A step whose linear layers and attention move `linear` and
    /// `attention` (bytes, FLOPs), timed by `truth`.
    fn point(linear: (f64, f64), attention: (f64, f64), truth: &Fit) -> Point {
        let mut p = Point {
            shape: StepShape::default(),
            bytes: linear.0 + attention.0,
            flops: linear.1 + attention.1,
            kv_bytes: attention.0,
            attention_flops: attention.1,
            measured_s: 0.0,
        };
        p.measured_s = truth.predict(&p);
        p
    }

    fn close(fitted: f64, truth: f64) -> bool {
        (fitted / truth - 1.0).abs() < 1e-6
    }

    #[test]
    fn recovers_known_coefficients_from_both_regimes() {
        let truth = Fit { overhead_s: 2e-4, linear: rates(3e12, 7e14), attention: None };
        let points: Vec<Point> = (0..12)
            .map(|i| {
                let attention = (1e8 * f64::from(1 + i % 3), 1e8 * 2f64.powi(i % 5));
                point((1.6e10 * (1.0 + 0.1 * f64::from(i)), 1.6e10 * 2f64.powi(i)), attention, &truth)
            })
            .collect();
        let f = fit(&points).unwrap();
        assert!(f.attention.is_none(), "one-term data keeps the one-term form: {f:?}");
        assert!(f.linear.memory_fitted && f.linear.compute_fitted);
        assert!((f.overhead_s - 2e-4).abs() < 1e-9, "{f:?}");
        assert!(close(f.linear.bandwidth_bytes_per_s, 3e12) && close(f.linear.flops_per_s, 7e14), "{f:?}");
        let ((m, nm), (c, nc)) = regime_mape(&f, &points);
        assert!(m < 1e-9 && c < 1e-9 && nm > 0 && nc > 0);
    }

    #[test]
    fn one_regime_gives_a_bound_for_the_other() {
        let truth = Fit { overhead_s: 0.0, linear: rates(1e9, 1e15), attention: None };
        let points: Vec<Point> =
            (1..6).map(|i| point((1e6 * f64::from(i), 1e6), (1e4, 1e4 * f64::from(i)), &truth)).collect();
        let f = fit(&points).unwrap();
        assert!(f.linear.memory_fitted && !f.linear.compute_fitted && f.attention.is_none(), "{f:?}");
        assert!(points.iter().all(|p| f.memory_bound(p)));
        let compute_only: Vec<Point> = (1..6).map(|i| point((1e3, 1e9 * f64::from(i)), (1.0, 1e7), &truth)).collect();
        let g = fit(&compute_only).unwrap();
        assert!(!g.linear.memory_fitted && compute_only.iter().all(|p| !g.memory_bound(p)), "{g:?}");
        assert!(fit(&points[..2]).is_err());
    }

    #[test]
    fn recovers_a_two_term_truth_from_all_four_regimes() {
        let truth = Fit { overhead_s: 2e-4, linear: rates(3e12, 7e14), attention: Some(rates(1e12, 2e14)) };
        // Linear intensity 0.4..2048 around fl / bw = 233 (bytes spanning
        // 2.5x, so that the overhead is identifiable); attention intensity
        // 0.7..4096 around fl_att / bw_att = 200, varied apart.
        let points: Vec<Point> = (0..36)
            .map(|i| {
                let linear = (1.6e10 * (1.0 + 0.25 * f64::from(i % 7)), 1.6e10 * 2f64.powi(i % 12));
                let attention = (1e9 * (1.0 + 0.1 * f64::from(i % 5)), 1e9 * 2f64.powi((7 * i) % 13));
                point(linear, attention, &truth)
            })
            .collect();
        let f = fit(&points).unwrap();
        let a = f.attention.expect("the two-term form is kept");
        assert!(f.linear.memory_fitted && f.linear.compute_fitted && a.memory_fitted && a.compute_fitted, "{f:?}");
        assert!((f.overhead_s - 2e-4).abs() < 1e-9, "{f:?}");
        assert!(close(f.linear.bandwidth_bytes_per_s, 3e12) && close(f.linear.flops_per_s, 7e14), "{f:?}");
        assert!(close(a.bandwidth_bytes_per_s, 1e12) && close(a.flops_per_s, 2e14), "{f:?}");
        assert!(mape(&f, &points.iter().collect::<Vec<_>>()) < 1e-9);
    }

    #[test]
    fn flat_weight_bytes_leave_the_fixed_cost_to_the_bandwidth_not_the_overhead() {
        // One model: every step streams the same weights (bytes within 4%),
        // so overhead + bytes / bw is one column. The fit does not split
        // the truth's 2 ms of fixed cost off: the bandwidth carries it.
        let truth = Fit { overhead_s: 2e-3, linear: rates(1.1e12, 1.3e14), attention: Some(rates(4e11, 2e12)) };
        let points: Vec<Point> = (0..30)
            .map(|i| {
                let linear = (1.5e10 * (1.0 + 0.005 * f64::from(i % 8)), 1.5e10 * 2f64.powi(i % 15));
                let attention = (1e8 * 2f64.powi(i % 9), 1e9 * 2f64.powi((5 * i) % 14));
                point(linear, attention, &truth)
            })
            .collect();
        let f = fit(&points).unwrap();
        assert_eq!(f.overhead_s, 0.0, "{f:?}");
        // 15 GB in 13.6 ms + 2 ms: the effective bandwidth is ~0.87 of the truth's.
        let effective = 1.5e10 / (1.5e10 / 1.1e12 + 2e-3);
        assert!(f.linear.memory_fitted && (f.linear.bandwidth_bytes_per_s / effective - 1.0).abs() < 0.02, "{f:?}");
    }

    #[test]
    fn the_profile_of_a_two_term_fit_makes_the_step_model_predict_the_fit() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let (gpu, model) =
            (GpuProfile::find(&root, "h100-sxm").unwrap(), ModelProfile::find(&root, "llama-3-8b").unwrap());
        let f = Fit { overhead_s: 3e-4, linear: rates(2.9e12, 6e14), attention: Some(rates(4e11, 1e14)) };
        let calibrated = StepModel::new(&gpu, &model, 1, Some(&profile(&f, "h100-sxm", String::new()))).unwrap();
        let costs = StepModel::new(&gpu, &model, 1, None).unwrap();
        for shape in [StepShape::decode(32, 1 << 20), StepShape::prefill(1024, 2048), StepShape::decode(1, 128)] {
            let cost = costs.cost(&shape);
            let p = Point {
                shape,
                bytes: cost.bytes_per_gpu,
                flops: cost.flops_per_gpu,
                kv_bytes: cost.kv_bytes_per_gpu,
                attention_flops: cost.attention_flops_per_gpu,
                measured_s: 1.0,
            };
            let step_s = calibrated.time(&shape).as_secs_f64();
            assert!((step_s - f.predict(&p)).abs() < 1e-9, "{shape:?}: {step_s} vs {}", f.predict(&p));
            assert_eq!(calibrated.cost(&shape).memory_bound(), f.memory_bound(&p), "{shape:?}");
        }
    }
}
