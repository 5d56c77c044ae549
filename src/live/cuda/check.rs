//! Kernel-level checks of the CUDA executor against the CPU reference.
//!
//! Why here and not in a test file: they drive the executor's private
//! launch helpers (one GEMM, one attention) on chosen inputs, which only a
//! child module can reach. `tests/it/live.rs` runs them where a GPU exists.

use super::{cuda, CudaExecutor, Kv};
use crate::core::llm::StepShape;
use crate::live::batch::Batch;
use crate::live::cpu::{self, KvCache};
use crate::live::LiveError;
use rand::{Rng, SeedableRng};

/// Kernel-level checks against the CPU reference on this device: GEMM and
/// attention outputs (poisoned with NaN before the launch) compared with
/// [`crate::live::cpu`] on the same bf16 inputs. Returns `(name, relative error)`
/// per check: `‖gpu − cpu‖ / ‖cpu‖`.
pub fn check_against_cpu(exec: &CudaExecutor) -> Result<Vec<(String, f64)>, LiveError> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let mut results = Vec::new();
    let rel = |a: &[f32], b: &[f32]| {
        let num: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x - y).powi(2)).sum();
        let den: f64 = b.iter().map(|&y| f64::from(y).powi(2)).sum();
        if a.iter().any(|v| !v.is_finite()) {
            f64::NAN
        } else {
            (num / den).sqrt()
        }
    };
    let st = exec.stream.clone();
    let err = cuda;
    // Both kernels, split and unsplit K, and tails in M, N and K (688 = 21 x 32 + 16).
    for (m, n, k) in [
        (1, 4096, 4096),
        (7, 1024, 14336),
        (64, 328, 688),
        (70, 512, 512),
        (256, 256, 4096),
        (200, 328, 688),
        (1000, 4096, 4096),
    ] {
        let x: Vec<u16> = (0..m * k).map(|_| cpu::bf16(rng.random_range(-1.0..1.0))).collect();
        let w = cpu::random_weights(n, k, &mut rng);
        let mut want = vec![f32::NAN; m * n];
        cpu::gemm(&x, &w, m, n, k, &mut want);
        let (dx, dw) = (st.clone_htod(&x).map_err(err("upload"))?, st.clone_htod(&w).map_err(err("upload"))?);
        let mut dy = st.clone_htod(&vec![f32::NAN; m * n]).map_err(err("upload"))?;
        exec.gemm(&dx, &dw, &mut dy, (m, n, k))?;
        let got = st.clone_dtoh(&dy).map_err(err("download"))?;
        results.push((format!("gemm {m}x{n}x{k}"), rel(&got, &want)));
    }
    // Attention: decodes and a prefill on a cached prefix, small pool.
    let model = exec.model.clone();
    let batch = Batch::from_shape(&StepShape::decode(5, 3000).with_prefill(300, 200));
    let blocks = batch.blocks() + 8;
    let mut cache = KvCache::random(blocks, model.kv_heads as usize, model.head_dim as usize, &mut rng);
    let layout = batch.layout(blocks);
    let tokens = batch.tokens() as usize;
    let qkv: Vec<f32> = (0..tokens * model.qkv_dim()).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut kv =
        Kv { k: st.clone_htod(&cache.k).map_err(err("upload"))?, v: st.clone_htod(&cache.v).map_err(err("upload"))? };
    cache.write(&qkv, &model, &layout);
    let mut want = vec![f32::NAN; tokens * model.q_dim()];
    cache.attend(&qkv, &model, &layout, &mut want);
    let dl = exec.upload(&layout, tokens)?;
    let splits = dl.splits;
    let mut part_out = st.alloc_zeros::<f32>(tokens * model.q_dim() * splits).map_err(err("alloc"))?;
    let mut part_ml = st.alloc_zeros::<f32>(tokens * model.heads as usize * splits * 2).map_err(err("alloc"))?;
    let dqkv = st.clone_htod(&qkv).map_err(err("upload"))?;
    let mut out = st.clone_htod(&vec![f32::NAN; tokens * model.q_dim()]).map_err(err("upload"))?;
    exec.attention(&mut kv, (&mut part_out, &mut part_ml), &dl, &dqkv, &mut out)?;
    let got = st.clone_dtoh(&out).map_err(err("download"))?;
    results.push(("attention (5 decodes x 600 keys + prefill 300 on 200)".into(), rel(&got, &want)));
    let (gk, gv) = (st.clone_dtoh(&kv.k).map_err(err("download"))?, st.clone_dtoh(&kv.v).map_err(err("download"))?);
    let as_f32 = |v: &[u16]| v.iter().map(|&b| cpu::from_bf16(b)).collect::<Vec<f32>>();
    let kv_err = rel(&as_f32(&gk), &as_f32(&cache.k)).max(rel(&as_f32(&gv), &as_f32(&cache.v)));
    results.push(("kv_write (whole pool after the step)".into(), kv_err));
    Ok(results)
}
