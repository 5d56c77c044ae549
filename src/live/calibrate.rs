//! Calibration: measure real steps over a grid of shapes and fit the
//! step-time model's coefficients to them.
//!
//! Why the max form: `model::step` predicts `overhead + max(bytes / bw,
//! flops / fl)`. A step is memory-bound exactly when its arithmetic
//! intensity `flops / bytes` is below `fl / bw`, so the fit is a search
//! over that one threshold: for each split of the points sorted by
//! intensity, `(overhead, 1/bw, 1/fl)` is a linear least-squares problem
//! (each point's row is `[1, bytes, 0]` or `[1, 0, flops]`), weighted by
//! `1 / measured` so that it minimizes relative error; the split whose fit
//! is consistent with it and has the lowest MAPE wins. O(points^2).
//!
//! Bytes and FLOPs come from `StepModel::cost` for the executed model
//! ([`super::ExecModel::profile`]): the fit calibrates exactly the formula
//! the simulator evaluates. A regime with no measured point cannot be
//! fitted; its rate is then set to the weakest value consistent with the
//! points (so the other regime binds everywhere) and reported as a bound.

use super::{median_time, Backend, Executor, LiveError};
use crate::model::profile::{CalibratedProfile, GpuProfile};
use crate::model::step::{StepModel, StepShape};
use crate::time::SimDuration;

/// One measured shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub shape: StepShape,
    pub bytes: f64,
    pub flops: f64,
    /// Median of the timed repeats, seconds.
    pub measured_s: f64,
}

/// Fitted coefficients of `overhead + max(bytes / bandwidth, flops / flops_per_s)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub overhead_s: f64,
    pub bandwidth_bytes_per_s: f64,
    pub flops_per_s: f64,
    /// Whether each regime had measured points (else its rate is a bound).
    pub memory_fitted: bool,
    pub compute_fitted: bool,
}

impl Fit {
    pub fn memory_bound(&self, p: &Point) -> bool {
        p.bytes / self.bandwidth_bytes_per_s >= p.flops / self.flops_per_s
    }
    pub fn predict(&self, p: &Point) -> f64 {
        self.overhead_s + (p.bytes / self.bandwidth_bytes_per_s).max(p.flops / self.flops_per_s)
    }
}

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

/// Measures every shape: `warmup` untimed runs, then the median of
/// `repeats` timed ones. `progress` sees each point as it is measured.
pub fn measure(
    exec: &mut dyn Executor,
    gpu: &GpuProfile,
    shapes: &[StepShape],
    (warmup, repeats): (u32, u32),
    mut progress: impl FnMut(&Point),
) -> Result<Vec<Point>, LiveError> {
    let model = StepModel::new(gpu, &exec.model().profile(), 1, None).map_err(|e| LiveError::Shape(e.to_string()))?;
    let mut points = Vec::with_capacity(shapes.len());
    for shape in shapes {
        let cost = model.cost(shape);
        let measured_s = median_time(exec, shape, warmup, repeats)?.as_secs_f64();
        let p = Point { shape: *shape, bytes: cost.bytes_per_gpu, flops: cost.flops_per_gpu, measured_s };
        progress(&p);
        points.push(p);
    }
    Ok(points)
}

/// Weighted least squares `min Σ ((row · β − t) / t)²` over the columns in
/// `use_cols`; `None` if singular.
fn solve(rows: &[([f64; 3], f64)], use_cols: [bool; 3]) -> Option<[f64; 3]> {
    let cols: Vec<usize> = (0..3).filter(|&c| use_cols[c]).collect();
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
    let mut beta = [0.0; 3];
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

/// Fits the max form to `points` (see the module doc).
pub fn fit(points: &[Point]) -> Result<Fit, LiveError> {
    let ok = |p: &&Point| p.measured_s > 0.0 && p.bytes > 0.0 && p.flops > 0.0;
    let mut sorted: Vec<&Point> = points.iter().filter(ok).collect();
    if sorted.len() < 3 {
        return Err(LiveError::Shape("calibration needs at least 3 measured points".into()));
    }
    sorted.sort_by(|a, b| (a.flops / a.bytes).total_cmp(&(b.flops / b.bytes)));
    let mut best: Option<(f64, Fit)> = None;
    for split in 0..=sorted.len() {
        let rows: Vec<([f64; 3], f64)> = sorted
            .iter()
            .enumerate()
            .map(|(i, p)| (if i < split { [1.0, p.bytes, 0.0] } else { [1.0, 0.0, p.flops] }, p.measured_s))
            .collect();
        let (memory, compute) = (split > 0, split < sorted.len());
        let with_overhead = solve(&rows, [true, memory, compute]).filter(|b| b[0] >= 0.0);
        let Some(beta) = with_overhead.or_else(|| solve(&rows, [false, memory, compute])) else { continue };
        if (memory && beta[1] <= 0.0) || (compute && beta[2] <= 0.0) {
            continue;
        }
        // An empty regime gets the weakest rate that never binds (just
        // under the tie, so every point stays in the fitted regime).
        let inv_bw = if memory {
            beta[1]
        } else {
            sorted.iter().map(|p| beta[2] * p.flops / p.bytes).fold(f64::INFINITY, f64::min) * (1.0 - 1e-9)
        };
        let inv_fl = if compute {
            beta[2]
        } else {
            sorted.iter().map(|p| beta[1] * p.bytes / p.flops).fold(f64::INFINITY, f64::min) * (1.0 - 1e-9)
        };
        let candidate = Fit {
            overhead_s: beta[0],
            bandwidth_bytes_per_s: 1.0 / inv_bw,
            flops_per_s: 1.0 / inv_fl,
            memory_fitted: memory,
            compute_fitted: compute,
        };
        let err = mape(&candidate, &sorted);
        if err.is_finite() && best.as_ref().is_none_or(|(e, _)| err < *e) {
            best = Some((err, candidate));
        }
    }
    best.map(|(_, f)| f).ok_or_else(|| LiveError::Shape("no positive fit of the step-time model to the points".into()))
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
        effective_memory_bandwidth_bytes_per_s: Some(fit.bandwidth_bytes_per_s),
        effective_flops_per_s: Some(fit.flops_per_s),
        effective_nvlink_bandwidth_bytes_per_s: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(bytes: f64, flops: f64, truth: &Fit) -> Point {
        let mut p = Point { shape: StepShape::default(), bytes, flops, measured_s: 0.0 };
        p.measured_s = truth.predict(&p);
        p
    }

    #[test]
    fn recovers_known_coefficients_from_both_regimes() {
        let truth = Fit {
            overhead_s: 2e-4,
            bandwidth_bytes_per_s: 3e12,
            flops_per_s: 7e14,
            memory_fitted: true,
            compute_fitted: true,
        };
        let points: Vec<Point> =
            (0..12).map(|i| point(1.6e10 * (1.0 + 0.1 * f64::from(i)), 1.6e10 * 2f64.powi(i), &truth)).collect();
        let f = fit(&points).unwrap();
        assert!(f.memory_fitted && f.compute_fitted);
        assert!((f.overhead_s - 2e-4).abs() < 1e-9, "{f:?}");
        assert!((f.bandwidth_bytes_per_s / 3e12 - 1.0).abs() < 1e-6, "{f:?}");
        assert!((f.flops_per_s / 7e14 - 1.0).abs() < 1e-6, "{f:?}");
        let ((m, nm), (c, nc)) = regime_mape(&f, &points);
        assert!(m < 1e-9 && c < 1e-9 && nm > 0 && nc > 0);
    }

    #[test]
    fn one_regime_gives_a_bound_for_the_other() {
        let truth = Fit {
            overhead_s: 0.0,
            bandwidth_bytes_per_s: 1e9,
            flops_per_s: 1e15,
            memory_fitted: true,
            compute_fitted: true,
        };
        let points: Vec<Point> = (1..6).map(|i| point(1e6 * f64::from(i), 1e6, &truth)).collect();
        let f = fit(&points).unwrap();
        assert!(f.memory_fitted && !f.compute_fitted, "{f:?}");
        assert!(points.iter().all(|p| f.memory_bound(p)));
        let compute_only: Vec<Point> = (1..6).map(|i| point(1e3, 1e9 * f64::from(i), &truth)).collect();
        let g = fit(&compute_only).unwrap();
        assert!(!g.memory_fitted && compute_only.iter().all(|p| !g.memory_bound(p)), "{g:?}");
        assert!(fit(&points[..2]).is_err());
    }
}
