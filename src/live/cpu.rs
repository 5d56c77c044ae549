//! The CPU executor: the step's math in plain Rust.
//!
//! Why: it is the correctness reference for the CUDA kernels (the same
//! operations on the same bf16 inputs, fp32 accumulation, checked here
//! against an fp64 reference), and it lets the live driver, calibration
//! and fidelity run end to end where no GPU exists (CI). It is meant for
//! small shapes (`profiles/models/tiny-llama.toml`); it refuses models over
//! [`MAX_WEIGHTS`] weights rather than allocate gigabytes.
//!
//! One step, per layer: fused QKV projection, KV written into the paged
//! cache, attention of every new token over its sequence's cache (causal),
//! O projection and residual, gated FFN (SiLU) and residual; then the
//! lm_head on every token (as the step-time model counts it). GEMMs take bf16 activations and
//! weights and accumulate in fp32, as the kernels do. Single-threaded,
//! timed with the wall clock. O(tokens x weights + tokens x keys).

use super::batch::{Batch, ExecModel, Layout, BLOCK_TOKENS};
use super::{Backend, Executor, LiveError};
use crate::core::llm::StepShape;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};

/// Largest model (weights) the CPU executor accepts.
pub const MAX_WEIGHTS: u64 = 1 << 28;
/// KV pool of the CPU executor, bytes (K and V together).
const POOL_BYTES: u64 = 64 << 20;

/// bf16 bits of `x`, rounded to nearest even (NaN stays NaN).
pub fn bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// The value of bf16 bits.
pub fn from_bf16(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// `y[m x n] = x[m x k] * w[n x k]^T`: bf16 in, fp32 accumulate. `w` is
/// row-major by output (the layout the tensor-core kernel streams).
pub fn gemm(x: &[u16], w: &[u16], m: usize, n: usize, k: usize, y: &mut [f32]) {
    gemm_f32(&widen(&x[..m * k]), &widen(&w[..n * k]), m, n, k, y);
}

/// [`gemm`] on bf16 values already widened to f32 (exact), so that the
/// executor converts its weights once, not every step.
pub fn gemm_f32(x: &[f32], w: &[f32], m: usize, n: usize, k: usize, y: &mut [f32]) {
    for (j, wj) in w[..n * k].chunks_exact(k).enumerate() {
        for (i, xi) in x[..m * k].chunks_exact(k).enumerate() {
            y[i * n + j] = dot(xi, wj);
        }
    }
}

/// bf16 bits to f32 values.
pub fn widen(v: &[u16]) -> Vec<f32> {
    v.iter().map(|&b| from_bf16(b)).collect()
}

/// `v` rounded to bf16 (kept as f32): what a kernel's bf16 activation holds.
fn round_bf16(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&a| from_bf16(bf16(a))).collect()
}

/// fp32 dot product in 8 independent lanes (so it vectorizes), summed
/// pairwise at the end.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        let (x, y): (&[f32; 8], &[f32; 8]) = (x.try_into().unwrap_or(&[0.0; 8]), y.try_into().unwrap_or(&[0.0; 8]));
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    let quads = [lanes[0] + lanes[4], lanes[1] + lanes[5], lanes[2] + lanes[6], lanes[3] + lanes[7]];
    (quads[0] + quads[2]) + (quads[1] + quads[3]) + tail
}

/// A paged KV cache: `k` and `v` are `[block][kv_head][slot][head_dim]` bf16.
#[derive(Debug, Clone)]
pub struct KvCache {
    pub k: Vec<u16>,
    pub v: Vec<u16>,
    pub blocks: u64,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl KvCache {
    /// A pool of `blocks` blocks filled with random values (never zeros).
    pub fn random(blocks: u64, kv_heads: usize, head_dim: usize, rng: &mut ChaCha8Rng) -> KvCache {
        let len = blocks as usize * kv_heads * BLOCK_TOKENS as usize * head_dim;
        let mut fill = || (0..len).map(|_| bf16(rng.random_range(-1.0..1.0))).collect::<Vec<u16>>();
        KvCache { k: fill(), v: fill(), blocks, kv_heads, head_dim }
    }

    /// Element index of `(block, head, slot, d)`.
    pub fn index(&self, block: i32, head: usize, slot: usize, d: usize) -> usize {
        ((block as usize * self.kv_heads + head) * BLOCK_TOKENS as usize + slot) * self.head_dim + d
    }

    /// Physical block and slot of position `pos` of sequence `seq`.
    fn place(layout: &Layout, seq: usize, pos: u64) -> (i32, usize) {
        let entry = layout.table_start[seq] as usize + (pos / BLOCK_TOKENS) as usize;
        (layout.table[entry], (pos % BLOCK_TOKENS) as usize)
    }

    /// Stores the new tokens' K and V (columns `q_dim..` of `qkv`, rows =
    /// step tokens) at their positions, rounded to bf16.
    pub fn write(&mut self, qkv: &[f32], model: &ExecModel, layout: &Layout) {
        let (q_dim, kv_dim, row) = (model.q_dim(), model.kv_dim(), model.qkv_dim());
        let tokens = *layout.token_start.last().unwrap_or(&0) as usize;
        for t in 0..tokens {
            let (seq, pos) = layout.token_place(t);
            let (block, slot) = Self::place(layout, seq, pos);
            for h in 0..self.kv_heads {
                for d in 0..self.head_dim {
                    let i = self.index(block, h, slot, d);
                    self.k[i] = bf16(qkv[t * row + q_dim + h * self.head_dim + d]);
                    self.v[i] = bf16(qkv[t * row + q_dim + kv_dim + h * self.head_dim + d]);
                }
            }
        }
    }

    /// Causal attention of every step token (queries: columns `..q_dim` of
    /// `qkv`) over its sequence's keys `0..=position`, grouped-query (query
    /// head `h` reads KV head `h / (heads / kv_heads)`), scale
    /// `1/sqrt(head_dim)`, fp32. Writes `out[token x q_dim]`.
    pub fn attend(&self, qkv: &[f32], model: &ExecModel, layout: &Layout, out: &mut [f32]) {
        let (hd, row, q_dim) = (self.head_dim, model.qkv_dim(), model.q_dim());
        let group = (model.heads / model.kv_heads) as usize;
        let scale = 1.0 / (hd as f32).sqrt();
        let tokens = *layout.token_start.last().unwrap_or(&0) as usize;
        let (mut scores, mut key_f32) = (Vec::new(), vec![0.0f32; hd]);
        for t in 0..tokens {
            let (seq, pos) = layout.token_place(t);
            for h in 0..model.heads as usize {
                let q = &qkv[t * row + h * hd..t * row + (h + 1) * hd];
                let kvh = h / group;
                scores.clear();
                for key in 0..=pos {
                    let (block, slot) = Self::place(layout, seq, key);
                    let base = self.index(block, kvh, slot, 0);
                    key_f32.iter_mut().zip(&self.k[base..base + hd]).for_each(|(f, &b)| *f = from_bf16(b));
                    scores.push(dot(q, &key_f32) * scale);
                }
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for s in scores.iter_mut() {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                let o = &mut out[t * q_dim + h * hd..t * q_dim + (h + 1) * hd];
                o.fill(0.0);
                for (key, p) in scores.iter().enumerate() {
                    let (block, slot) = Self::place(layout, seq, key as u64);
                    let base = self.index(block, kvh, slot, 0);
                    for (od, &vb) in o.iter_mut().zip(&self.v[base..base + hd]) {
                        *od += p / sum * from_bf16(vb);
                    }
                }
            }
        }
    }
}

/// Random bf16 weights `[rows x cols]`, uniform with variance `1 / cols`.
pub fn random_weights(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Vec<u16> {
    let a = (3.0 / cols as f32).sqrt();
    (0..rows * cols).map(|_| bf16(rng.random_range(-a..a))).collect()
}

/// One layer's bf16 weights, widened to f32 once.
struct Layer {
    qkv: Vec<f32>,
    o: Vec<f32>,
    gate_up: Vec<f32>,
    down: Vec<f32>,
}

/// The reference executor (see the module doc).
pub struct CpuExecutor {
    model: ExecModel,
    layers: Vec<Layer>,
    lm_head: Vec<f32>,
    cache: KvCache,
    rng: ChaCha8Rng,
}

impl CpuExecutor {
    pub fn new(model: ExecModel) -> Result<CpuExecutor, LiveError> {
        if model.profile().parameters > MAX_WEIGHTS {
            return Err(LiveError::Shape(format!(
                "model `{}` has {} weights; the CPU executor runs at most {MAX_WEIGHTS} (use a small shape such as \
                 tiny-llama, or --backend cuda)",
                model.name,
                model.profile().parameters
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(0x5e57_ca11);
        let (h, i) = (model.hidden as usize, model.intermediate as usize);
        let layers = (0..model.layers)
            .map(|_| Layer {
                qkv: widen(&random_weights(model.qkv_dim(), h, &mut rng)),
                o: widen(&random_weights(h, model.q_dim(), &mut rng)),
                gate_up: widen(&random_weights(2 * i, h, &mut rng)),
                down: widen(&random_weights(h, i, &mut rng)),
            })
            .collect();
        let lm_head = widen(&random_weights(model.vocab as usize, h, &mut rng));
        let block_bytes = 2 * 2 * (model.kv_dim() as u64) * BLOCK_TOKENS;
        let cache =
            KvCache::random(POOL_BYTES / block_bytes, model.kv_heads as usize, model.head_dim as usize, &mut rng);
        Ok(CpuExecutor { model, layers, lm_head, cache, rng })
    }

    /// Runs one step and returns the logits of every step token (the
    /// lm_head is applied to every token, prefill included, as the
    /// step-time model counts it; engines apply it to each prompt's last
    /// token only, a difference a calibrated profile does not absorb).
    pub fn step(&mut self, batch: &Batch) -> Vec<f32> {
        let m = &self.model;
        let layout = batch.layout(self.cache.blocks);
        let (t, h, i) = (batch.tokens() as usize, m.hidden as usize, m.intermediate as usize);
        let mut x: Vec<f32> = (0..t * h).map(|_| self.rng.random_range(-1.0..1.0)).collect();
        let (mut qkv, mut attn) = (vec![0.0; t * m.qkv_dim()], vec![0.0; t * m.q_dim()]);
        let (mut proj, mut gate_up, mut act) = (vec![0.0; t * h], vec![0.0; t * 2 * i], vec![0.0; t * i]);
        for layer in &self.layers {
            gemm_f32(&round_bf16(&x), &layer.qkv, t, m.qkv_dim(), h, &mut qkv);
            self.cache.write(&qkv, m, &layout);
            self.cache.attend(&qkv, m, &layout, &mut attn);
            gemm_f32(&round_bf16(&attn), &layer.o, t, h, m.q_dim(), &mut proj);
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
            gemm_f32(&round_bf16(&x), &layer.gate_up, t, 2 * i, h, &mut gate_up);
            for (row, out) in gate_up.chunks_exact(2 * i).zip(act.chunks_exact_mut(i)) {
                let (g, u) = row.split_at(i);
                for ((o, &g), &u) in out.iter_mut().zip(g).zip(u) {
                    *o = g / (1.0 + (-g).exp()) * u;
                }
            }
            gemm_f32(&round_bf16(&act), &layer.down, t, h, i, &mut proj);
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
        }
        let mut logits = vec![0.0; t * m.vocab as usize];
        gemm_f32(&round_bf16(&x), &self.lm_head, t, m.vocab as usize, h, &mut logits);
        logits
    }
}

impl Executor for CpuExecutor {
    fn backend(&self) -> Backend {
        Backend::Cpu
    }
    fn model(&self) -> &ExecModel {
        &self.model
    }
    fn run(&mut self, shape: &StepShape) -> Result<Duration, LiveError> {
        let batch = Batch::for_step(shape)?;
        let start = Instant::now();
        std::hint::black_box(self.step(&batch));
        Ok(start.elapsed())
    }
    fn device(&self) -> String {
        "cpu (plain Rust, 1 thread)".into()
    }
    fn copy_bandwidth(&mut self) -> Result<f64, LiveError> {
        const BYTES: usize = 64 << 20;
        let (src, mut dst) = (vec![1u8; BYTES], vec![0u8; BYTES]);
        super::copy_rate(BYTES, || {
            let start = Instant::now();
            dst.copy_from_slice(std::hint::black_box(&src));
            std::hint::black_box(&dst);
            Ok(start.elapsed())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ‖a − b‖ / ‖b‖, NaN if any element of `a` is NaN (an unwritten,
    /// poisoned output).
    pub(crate) fn rel_err(a: &[f32], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        let num: f64 = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - y).powi(2)).sum();
        let den: f64 = b.iter().map(|y| y * y).sum();
        (num / den).sqrt()
    }

    fn tiny() -> ExecModel {
        ExecModel {
            name: "t".into(),
            layers: 1,
            hidden: 64,
            heads: 4,
            kv_heads: 2,
            head_dim: 16,
            intermediate: 96,
            vocab: 80,
        }
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        assert_eq!(bf16(1.0), 0x3f80);
        assert_eq!(from_bf16(bf16(3.140625)), 3.140625);
        assert_eq!(bf16(f32::from_bits(0x3f80_8000)), 0x3f80, "tie to even (down)");
        assert_eq!(bf16(f32::from_bits(0x3f81_8000)), 0x3f82, "tie to even (up)");
        assert!(from_bf16(bf16(f32::NAN)).is_nan());
    }

    /// fp32 accumulation of bf16 products: relative error <= 1e-5 for
    /// K <= 1024 (about sqrt(K) x 2^-24 for random signs).
    #[test]
    fn gemm_matches_fp64_with_poisoned_output() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (m, n, k) in [(1, 48, 1024), (7, 40, 96), (33, 16, 512)] {
            let x: Vec<u16> = (0..m * k).map(|_| bf16(rng.random_range(-2.0..2.0))).collect();
            let w = random_weights(n, k, &mut rng);
            let mut y = vec![f32::NAN; m * n];
            gemm(&x, &w, m, n, k, &mut y);
            let reference: Vec<f64> = (0..m * n)
                .map(|e| {
                    let (i, j) = (e / n, e % n);
                    (0..k).map(|l| f64::from(from_bf16(x[i * k + l])) * f64::from(from_bf16(w[j * k + l]))).sum()
                })
                .collect();
            let err = rel_err(&y, &reference);
            assert!(err <= 1e-5, "({m}, {n}, {k}): relative error {err}");
        }
    }

    /// fp64 attention over the same bf16 cache.
    pub(crate) fn attention_f64(qkv: &[f32], m: &ExecModel, layout: &Layout, cache: &KvCache) -> Vec<f64> {
        let (hd, row) = (m.head_dim as usize, m.qkv_dim());
        let tokens = *layout.token_start.last().unwrap() as usize;
        let mut out = vec![0.0f64; tokens * m.q_dim()];
        for t in 0..tokens {
            let (seq, pos) = layout.token_place(t);
            for h in 0..m.heads as usize {
                let kvh = h / (m.heads / m.kv_heads) as usize;
                let keys: Vec<(f64, usize)> = (0..=pos)
                    .map(|key| {
                        let (block, slot) = KvCache::place(layout, seq, key);
                        let base = cache.index(block, kvh, slot, 0);
                        let dot: f64 = (0..hd)
                            .map(|d| f64::from(qkv[t * row + h * hd + d]) * f64::from(from_bf16(cache.k[base + d])))
                            .sum();
                        (dot / (hd as f64).sqrt(), base)
                    })
                    .collect();
                let max = keys.iter().map(|k| k.0).fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = keys.iter().map(|k| (k.0 - max).exp()).sum();
                for (s, base) in keys {
                    for d in 0..hd {
                        out[t * m.q_dim() + h * hd + d] +=
                            (s - max).exp() / sum * f64::from(from_bf16(cache.v[base + d]));
                    }
                }
            }
        }
        out
    }

    /// Decodes and a prefill chunk on a cached prefix, in one step, over a
    /// shuffled pool: fp32 attention within 1e-5 of fp64 (norm-wise).
    #[test]
    fn attention_matches_fp64_with_poisoned_output() {
        let m = tiny();
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let batch = Batch::from_shape(&StepShape::decode(3, 150).with_prefill(37, 21));
        let mut cache = KvCache::random(64, m.kv_heads as usize, m.head_dim as usize, &mut rng);
        let mut layout = batch.layout(cache.blocks);
        // Scatter blocks over the pool (a real allocator's free list).
        layout.table.iter_mut().for_each(|b| *b = (*b * 37 + 5) % 64);
        let tokens = batch.tokens() as usize;
        let qkv: Vec<f32> = (0..tokens * m.qkv_dim()).map(|_| rng.random_range(-1.0..1.0)).collect();
        cache.write(&qkv, &m, &layout);
        let mut out = vec![f32::NAN; tokens * m.q_dim()];
        cache.attend(&qkv, &m, &layout, &mut out);
        let err = rel_err(&out, &attention_f64(&qkv, &m, &layout, &cache));
        assert!(err <= 1e-5, "relative error {err}");
    }

    #[test]
    fn the_executor_runs_steps_and_refuses_huge_models() {
        let mut exec = CpuExecutor::new(tiny()).unwrap();
        let logits = exec.step(&Batch::from_shape(&StepShape::decode(2, 40).with_prefill(9, 0)));
        assert_eq!(logits.len(), 11 * 80);
        assert!(logits.iter().all(|v| v.is_finite()));
        assert!(exec.run(&StepShape::decode(1, 10)).unwrap() > Duration::ZERO);
        assert!(exec.run(&StepShape::default()).is_err());
        let big = ExecModel { hidden: 8192, intermediate: 28672, layers: 80, ..tiny() };
        assert!(CpuExecutor::new(big).is_err());
    }
}
