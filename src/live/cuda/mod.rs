//! The CUDA executor: `kernels/*.cu` compiled by NVRTC at run time and
//! launched through cudarc on device 0.
//!
//! Why run-time compilation: the binary builds with no CUDA toolkit (cudarc
//! loads libcuda and libnvrtc dynamically), and NVRTC targets the device it
//! finds. The kernels include no headers (NVRTC 13 ships none); each file
//! is compiled as `kernels/common.cuh` + the file ([`sources`], in
//! `toolchain.rs` with the library checks and the PTX compile).
//!
//! A step mirrors [`super::cpu::CpuExecutor::step`] kernel for kernel:
//! per layer QKV GEMM, KV write, split attention + combine, O GEMM and
//! residual, gate/up GEMM, SiLU, down GEMM and residual; then the lm_head on
//! every token (as the CPU executor and the step-time model). It is timed with CUDA events around the
//! launches only (the batch's small index arrays and the random input are
//! uploaded before the start event). Weights are random (a hash fill on the
//! device); when one copy of them would fit in L2 a step rotates through
//! enough copies that every step streams from HBM. The KV pool is sized
//! from free memory and aliased as `live::batch` explains.

mod check;
mod toolchain;

pub use check::check_against_cpu;
pub use toolchain::{available, compile, driver_present, nvrtc_present, sources};

use super::batch::{Batch, ExecModel, Layout, BLOCK_TOKENS};
use super::{Backend, Executor, LiveError};
use crate::core::llm::StepShape;
use cudarc::driver::{sys, CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use std::sync::Arc;
use std::time::Duration;

fn cuda(what: &str) -> impl FnOnce(cudarc::driver::DriverError) -> LiveError + '_ {
    move |e| LiveError::Cuda(format!("{what}: {e}"))
}

struct Kernels {
    gemm_skinny: CudaFunction,
    gemm_tiled: CudaFunction,
    split: CudaFunction,
    combine: CudaFunction,
    kv_write: CudaFunction,
    to_bf16: CudaFunction,
    silu_mul: CudaFunction,
    add_to: CudaFunction,
    fill_bf16: CudaFunction,
    fill_f32: CudaFunction,
}

struct Layer {
    qkv: CudaSlice<u16>,
    o: CudaSlice<u16>,
    gate_up: CudaSlice<u16>,
    down: CudaSlice<u16>,
}

/// Step buffers, grown to the largest step seen.
#[derive(Default)]
struct Buffers {
    tokens: usize,
    splits: usize,
    x: Option<CudaSlice<f32>>,
    xb: Option<CudaSlice<u16>>,
    qkv: Option<CudaSlice<f32>>,
    attn: Option<CudaSlice<f32>>,
    proj: Option<CudaSlice<f32>>,
    gate_up: Option<CudaSlice<f32>>,
    act: Option<CudaSlice<u16>>,
    part_out: Option<CudaSlice<f32>>,
    part_ml: Option<CudaSlice<f32>>,
    logits: Option<CudaSlice<f32>>,
}

/// Keys per attention split (split-K over the KV length).
const SPLIT_KEYS: usize = 256;
const THREADS: u32 = 256;

/// The CUDA executor (see the module doc).
pub struct CudaExecutor {
    model: ExecModel,
    stream: Arc<CudaStream>,
    k: Kernels,
    copies: Vec<(Vec<Layer>, CudaSlice<u16>)>,
    step_count: usize,
    kv: Option<Kv>,
    pool_blocks: u64,
    sms: usize,
    buf: Buffers,
    start: CudaEvent,
    end: CudaEvent,
    device: String,
}

// Grid-stride launch for `n` elements.
fn flat(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(THREADS as usize).clamp(1, 65_535) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 }
}

impl CudaExecutor {
    /// Opens device 0, compiles the kernels for it and allocates the model.
    pub fn new(model: ExecModel) -> Result<CudaExecutor, LiveError> {
        available()?;
        let count = CudaContext::device_count().map_err(|e| LiveError::NoCuda(format!("no CUDA device ({e})")))?;
        if count < 1 {
            return Err(LiveError::NoCuda("the CUDA driver loads but reports no device".into()));
        }
        let ctx = CudaContext::new(0).map_err(cuda("opening device 0"))?;
        let (major, minor) = ctx.compute_capability().map_err(cuda("compute capability"))?;
        let name = ctx.name().map_err(cuda("device name"))?;
        let attr = |a| ctx.attribute(a).map_err(cuda("device attribute"));
        let sms = attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as usize;
        let l2 = attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)? as u64;
        let mut functions = Vec::new();
        for (file, ptx) in compile(&format!("{major}{minor}"))? {
            let module = ctx.load_module(ptx).map_err(|e| LiveError::Cuda(format!("loading kernels/{file}: {e}")))?;
            functions.push(module);
        }
        let f = |m: usize, name: &str| {
            functions[m].load_function(name).map_err(|e| LiveError::Cuda(format!("kernel {name}: {e}")))
        };
        let k = Kernels {
            gemm_skinny: f(0, "gemm_bf16_skinny")?,
            gemm_tiled: f(0, "gemm_bf16_tiled")?,
            split: f(1, "attention_split")?,
            combine: f(1, "attention_combine")?,
            kv_write: f(1, "kv_write")?,
            to_bf16: f(2, "to_bf16")?,
            silu_mul: f(2, "silu_mul")?,
            add_to: f(2, "add_to")?,
            fill_bf16: f(2, "fill_bf16")?,
            fill_f32: f(2, "fill_f32")?,
        };
        let stream = ctx.default_stream();
        let weight_bytes = 2 * model.profile().parameters;
        let n_copies = (4 * l2).div_ceil(weight_bytes.max(1)).clamp(1, 16) as usize;
        let (free, _) = ctx.mem_get_info().map_err(cuda("memory info"))?;
        let block_bytes = 2 * 2 * model.kv_dim() as u64 * BLOCK_TOKENS;
        let weights_total = weight_bytes * n_copies as u64;
        let pool_bytes = (free as u64).saturating_sub(weights_total).saturating_sub(4 << 30).min(16 << 30);
        let pool_blocks = pool_bytes / block_bytes;
        if pool_blocks < 1024 {
            return Err(LiveError::Shape(format!(
                "model `{}` ({:.1} GB of weights x {n_copies}) leaves too little of {:.1} GB free for a KV pool; \
                 use fewer --layers",
                model.name,
                weight_bytes as f64 / 1e9,
                free as f64 / 1e9
            )));
        }
        let mut exec = CudaExecutor {
            kv: None,
            model,
            k,
            copies: Vec::new(),
            step_count: 0,
            pool_blocks,
            sms,
            buf: Buffers::default(),
            start: ctx.new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT)).map_err(cuda("event"))?,
            end: ctx.new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT)).map_err(cuda("event"))?,
            device: format!("{name} (sm_{major}{minor}, {sms} SMs, L2 {} MB)", l2 >> 20),
            stream,
        };
        let mut seed = 1u64;
        for _ in 0..n_copies {
            let (h, i, m) = (exec.model.hidden as usize, exec.model.intermediate as usize, exec.model.clone());
            let mut layers = Vec::new();
            for _ in 0..m.layers {
                layers.push(Layer {
                    qkv: exec.random_weights(m.qkv_dim(), h, &mut seed)?,
                    o: exec.random_weights(h, m.q_dim(), &mut seed)?,
                    gate_up: exec.random_weights(2 * i, h, &mut seed)?,
                    down: exec.random_weights(h, i, &mut seed)?,
                });
            }
            let lm_head = exec.random_weights(m.vocab as usize, h, &mut seed)?;
            exec.copies.push((layers, lm_head));
        }
        let cache_len = pool_blocks as usize * block_bytes as usize / 4;
        let k = exec.random_bf16(cache_len, 1.0, &mut seed)?;
        exec.kv = Some(Kv { k, v: exec.random_bf16(cache_len, 1.0, &mut seed)? });
        exec.stream.synchronize().map_err(cuda("initializing weights"))?;
        Ok(exec)
    }

    fn random_bf16(&self, n: usize, scale: f32, seed: &mut u64) -> Result<CudaSlice<u16>, LiveError> {
        // SAFETY: every element is written by fill_bf16 before any read.
        let mut y = unsafe { self.stream.alloc::<u16>(n) }.map_err(cuda("allocating weights"))?;
        *seed += 1;
        let mut b = self.stream.launch_builder(&self.k.fill_bf16);
        b.arg(&mut y).arg(&n).arg(&*seed).arg(&scale);
        // SAFETY: argument types match fill_bf16's signature.
        unsafe { b.launch(flat(n)) }.map_err(cuda("fill_bf16"))?;
        Ok(y)
    }

    /// `[rows x cols]`, uniform with variance `1 / cols` (as the CPU's).
    fn random_weights(&self, rows: usize, cols: usize, seed: &mut u64) -> Result<CudaSlice<u16>, LiveError> {
        self.random_bf16(rows * cols, (3.0 / cols as f32).sqrt(), seed)
    }

    fn grow(&mut self, tokens: usize, splits: usize) -> Result<(), LiveError> {
        let b = &mut self.buf;
        if tokens <= b.tokens && splits <= b.splits && b.x.is_some() {
            return Ok(());
        }
        let (t, s) = (tokens.max(b.tokens), splits.max(b.splits));
        let m = &self.model;
        let (h, i, v) = (m.hidden as usize, m.intermediate as usize, m.vocab as usize);
        let st = &self.stream;
        let f = |n: usize| st.alloc_zeros::<f32>(n).map_err(cuda("allocating step buffers"));
        let u = |n: usize| st.alloc_zeros::<u16>(n).map_err(cuda("allocating step buffers"));
        *b = Buffers {
            tokens: t,
            splits: s,
            x: Some(f(t * h)?),
            xb: Some(u(t * h.max(m.q_dim()))?),
            qkv: Some(f(t * m.qkv_dim())?),
            attn: Some(f(t * m.q_dim())?),
            proj: Some(f(t * h)?),
            gate_up: Some(f(t * 2 * i)?),
            act: Some(u(t * i)?),
            part_out: Some(f(t * m.heads as usize * s * m.head_dim as usize)?),
            part_ml: Some(f(t * m.heads as usize * s * 2)?),
            logits: Some(f(t * v)?),
        };
        Ok(())
    }

    /// `y[m x n] = x[m x k] * w^T` on tensor cores (`kernels/gemm.cu`): the
    /// weight-streaming kernel for decode-sized `m <= 64`, the tiled one
    /// above. K is split while the grid has too few blocks to fill the GPU
    /// (skinny: 4 blocks of 4 warps per SM; tiled: 2 blocks of 8 warps),
    /// keeping at least 256 (skinny) or 512 (tiled) of K per split; split
    /// partial sums are added atomically into a zeroed `y`.
    fn gemm(
        &self,
        x: &CudaSlice<u16>,
        w: &CudaSlice<u16>,
        y: &mut CudaSlice<f32>,
        (m, n, k): (usize, usize, usize),
    ) -> Result<(), LiveError> {
        if !(n.is_multiple_of(8) && k.is_multiple_of(16)) {
            return Err(LiveError::Shape(format!(
                "GEMM {m}x{n}x{k}: the CUDA kernels need N % 8 == 0 and K % 16 == 0 (model dimensions)"
            )));
        }
        let skinny = m <= 64;
        let (kernel, block, tile_m, tile_n, chunk, min_chunks, per_sm) = if skinny {
            (&self.k.gemm_skinny, 128, 64, 32, 64, 4, 4)
        } else {
            (&self.k.gemm_tiled, 256, 128, 128, 32, 16, 2)
        };
        let blocks = n.div_ceil(tile_n) * m.div_ceil(tile_m);
        let chunks = k.div_ceil(chunk);
        let wanted = (per_sm * self.sms).div_ceil(blocks).clamp(1, (chunks / min_chunks).max(1));
        let per_split = chunks.div_ceil(wanted);
        let splits = chunks.div_ceil(per_split);
        if splits > 1 {
            self.stream.memset_zeros(&mut y.slice_mut(..m * n)).map_err(cuda("memset"))?;
        }
        let cfg = LaunchConfig {
            grid_dim: (n.div_ceil(tile_n) as u32, m.div_ceil(tile_m) as u32, splits as u32),
            block_dim: (block, 1, 1),
            shared_mem_bytes: 0,
        };
        let (m, n, k, per_split) = (m as i32, n as i32, k as i32, per_split as i32);
        let mut b = self.stream.launch_builder(kernel);
        b.arg(x).arg(w).arg(y).arg(&m).arg(&n).arg(&k).arg(&per_split);
        // SAFETY: shapes checked by the caller against the buffers' sizes.
        unsafe { b.launch(cfg) }.map_err(cuda(if skinny { "gemm_bf16_skinny" } else { "gemm_bf16_tiled" }))?;
        Ok(())
    }

    fn to_bf16(&self, x: &CudaSlice<f32>, n: usize, y: &mut CudaSlice<u16>) -> Result<(), LiveError> {
        let mut b = self.stream.launch_builder(&self.k.to_bf16);
        b.arg(x).arg(&n).arg(y);
        // SAFETY: x and y hold at least n elements.
        unsafe { b.launch(flat(n)) }.map_err(cuda("to_bf16"))?;
        Ok(())
    }

    fn add(&self, x: &mut CudaSlice<f32>, y: &CudaSlice<f32>, n: usize) -> Result<(), LiveError> {
        let n32 = n as i32;
        let mut b = self.stream.launch_builder(&self.k.add_to);
        b.arg(x).arg(y).arg(&n32);
        // SAFETY: both hold at least n elements.
        unsafe { b.launch(flat(n)) }.map_err(cuda("add_to"))?;
        Ok(())
    }

    /// Attention of every step token over its cache; `qkv` holds the step's
    /// QKV rows, `out` receives `[token x q_dim]`. Writes the new K/V first.
    fn attention(
        &self,
        kv: &mut Kv,
        parts: (&mut CudaSlice<f32>, &mut CudaSlice<f32>),
        per_token: &DeviceLayout,
        qkv: &CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
    ) -> Result<(), LiveError> {
        let m = &self.model;
        let (tokens, splits) = (per_token.tokens, per_token.splits);
        let (qkv_stride, q_dim) = (m.qkv_dim() as i32, m.q_dim() as i32);
        let (heads, kv_heads, hd) = (m.heads as i32, m.kv_heads as i32, m.head_dim as i32);
        let split_keys = SPLIT_KEYS as i32;
        let mut b = self.stream.launch_builder(&self.k.kv_write);
        b.arg(qkv).arg(&qkv_stride).arg(&q_dim);
        b.arg(&per_token.seq).arg(&per_token.pos).arg(&per_token.table_start).arg(&per_token.table);
        b.arg(&kv_heads).arg(&hd).arg(&mut kv.k).arg(&mut kv.v);
        let cfg = LaunchConfig { grid_dim: (tokens as u32, 1, 1), block_dim: (128, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: the layout's blocks are < pool_blocks; positions < ctx_len.
        unsafe { b.launch(cfg) }.map_err(cuda("kv_write"))?;
        let group = m.heads / m.kv_heads;
        let (part_out, part_ml) = parts;
        let mut b = self.stream.launch_builder(&self.k.split);
        b.arg(qkv).arg(&qkv_stride).arg(&kv.k).arg(&kv.v);
        b.arg(&per_token.seq).arg(&per_token.pos).arg(&per_token.table_start).arg(&per_token.table);
        b.arg(&heads).arg(&kv_heads).arg(&hd).arg(&split_keys).arg(&mut *part_out).arg(&mut *part_ml);
        let cfg = LaunchConfig {
            grid_dim: (splits as u32, m.kv_heads, tokens as u32),
            block_dim: (32 * group, 1, 1),
            shared_mem_bytes: group * m.head_dim * 4,
        };
        // SAFETY: part buffers hold tokens x heads x splits (grow()).
        unsafe { b.launch(cfg) }.map_err(cuda("attention_split"))?;
        let splits_i = splits as i32;
        let mut b = self.stream.launch_builder(&self.k.combine);
        b.arg(&*part_out).arg(&*part_ml).arg(&heads).arg(&hd).arg(&splits_i).arg(out);
        let cfg =
            LaunchConfig { grid_dim: (m.heads, tokens as u32, 1), block_dim: (m.head_dim, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: out holds tokens x q_dim.
        unsafe { b.launch(cfg) }.map_err(cuda("attention_combine"))?;
        Ok(())
    }

    /// Uploads a batch's per-token arrays.
    fn upload(&self, layout: &Layout, tokens: usize) -> Result<DeviceLayout, LiveError> {
        let (seq, pos): (Vec<i32>, Vec<i32>) = (0..tokens)
            .map(|t| {
                let (s, p) = layout.token_place(t);
                (s as i32, p as i32)
            })
            .unzip();
        let max_ctx = layout.ctx_len.iter().copied().max().unwrap_or(1) as usize;
        let st = &self.stream;
        let up = |v: &[i32]| st.clone_htod(v).map_err(cuda("uploading the batch layout"));
        Ok(DeviceLayout {
            tokens,
            splits: max_ctx.div_ceil(SPLIT_KEYS).max(1),
            seq: up(&seq)?,
            pos: up(&pos)?,
            table_start: up(&layout.table_start)?,
            table: up(&layout.table)?,
        })
    }

    /// Enqueues one step (no timing, no synchronization).
    fn enqueue(&mut self, dl: &DeviceLayout) -> Result<(), LiveError> {
        let mut b = std::mem::take(&mut self.buf);
        let mut kv = self.kv.take().ok_or_else(|| LiveError::Cuda("KV pool not allocated".into()))?;
        let result = self.enqueue_with(&mut b, &mut kv, dl);
        (self.buf, self.kv) = (b, Some(kv));
        result
    }

    fn enqueue_with(&self, b: &mut Buffers, kv: &mut Kv, dl: &DeviceLayout) -> Result<(), LiveError> {
        let m = &self.model;
        let (t, h, i) = (dl.tokens, m.hidden as usize, m.intermediate as usize);
        let (layers, lm_head) = &self.copies[self.step_count % self.copies.len()];
        let missing = || LiveError::Cuda("step buffers not allocated".into());
        let Buffers { x, xb, qkv, attn, proj, gate_up, act, part_out, part_ml, logits, .. } = b;
        let x = x.as_mut().ok_or_else(missing)?;
        let xb = xb.as_mut().ok_or_else(missing)?;
        let qkv = qkv.as_mut().ok_or_else(missing)?;
        let attn = attn.as_mut().ok_or_else(missing)?;
        let proj = proj.as_mut().ok_or_else(missing)?;
        let gate_up = gate_up.as_mut().ok_or_else(missing)?;
        let act = act.as_mut().ok_or_else(missing)?;
        let part_out = part_out.as_mut().ok_or_else(missing)?;
        let part_ml = part_ml.as_mut().ok_or_else(missing)?;
        let logits = logits.as_mut().ok_or_else(missing)?;
        for layer in layers {
            self.to_bf16(x, t * h, xb)?;
            self.gemm(xb, &layer.qkv, qkv, (t, m.qkv_dim(), h))?;
            self.attention(kv, (&mut *part_out, &mut *part_ml), dl, qkv, attn)?;
            self.to_bf16(attn, t * m.q_dim(), xb)?;
            self.gemm(xb, &layer.o, proj, (t, h, m.q_dim()))?;
            self.add(x, proj, t * h)?;
            self.to_bf16(x, t * h, xb)?;
            self.gemm(xb, &layer.gate_up, gate_up, (t, 2 * i, h))?;
            let (t32, i32_) = (t as i32, i as i32);
            let mut k = self.stream.launch_builder(&self.k.silu_mul);
            k.arg(&*gate_up).arg(&t32).arg(&i32_).arg(&mut *act);
            // SAFETY: gate_up holds t x 2i, act t x i.
            unsafe { k.launch(flat(t * i)) }.map_err(cuda("silu_mul"))?;
            self.gemm(act, &layer.down, proj, (t, h, i))?;
            self.add(x, proj, t * h)?;
        }
        self.to_bf16(x, t * h, xb)?;
        self.gemm(xb, lm_head, logits, (t, m.vocab as usize, h))
    }
}

/// The paged KV pool (K and V), shared by all layers (see `live::batch`).
struct Kv {
    k: CudaSlice<u16>,
    v: CudaSlice<u16>,
}

/// A batch's per-token arrays on the device.
struct DeviceLayout {
    tokens: usize,
    splits: usize,
    seq: CudaSlice<i32>,
    pos: CudaSlice<i32>,
    table_start: CudaSlice<i32>,
    table: CudaSlice<i32>,
}

impl Executor for CudaExecutor {
    fn backend(&self) -> Backend {
        Backend::Cuda
    }
    fn model(&self) -> &ExecModel {
        &self.model
    }
    fn run(&mut self, shape: &StepShape) -> Result<Duration, LiveError> {
        let batch = Batch::for_step(shape)?;
        let tokens = batch.tokens() as usize;
        let layout = batch.layout(self.pool_blocks);
        let dl = self.upload(&layout, tokens)?;
        self.grow(tokens, dl.splits)?;
        let x = self.buf.x.as_mut().ok_or_else(|| LiveError::Cuda("step buffers not allocated".into()))?;
        let n = tokens * self.model.hidden as usize;
        let seed = 0x1234_5678u64 + self.step_count as u64;
        let one = 1.0f32;
        let mut b = self.stream.launch_builder(&self.k.fill_f32);
        b.arg(&mut *x).arg(&n).arg(&seed).arg(&one);
        // SAFETY: x holds at least tokens x hidden.
        unsafe { b.launch(flat(n)) }.map_err(cuda("fill_f32"))?;
        self.start.record(&self.stream).map_err(cuda("event record"))?;
        self.enqueue(&dl)?;
        self.end.record(&self.stream).map_err(cuda("event record"))?;
        let ms = self.start.elapsed_ms(&self.end).map_err(cuda("running the step"))?;
        self.step_count += 1;
        Ok(Duration::from_secs_f64(f64::from(ms) / 1e3))
    }
    fn device(&self) -> String {
        self.device.clone()
    }
    fn copy_bandwidth(&mut self) -> Result<f64, LiveError> {
        const BYTES: usize = 1 << 30;
        let src = self.random_bf16(BYTES / 2, 1.0, &mut 7)?;
        // SAFETY: only written (by the copy) before any read.
        let mut dst = unsafe { self.stream.alloc::<u16>(BYTES / 2) }.map_err(cuda("allocating the copy"))?;
        super::copy_rate(BYTES, || {
            self.start.record(&self.stream).map_err(cuda("event record"))?;
            self.stream.memcpy_dtod(&src, &mut dst).map_err(cuda("device-to-device copy"))?;
            self.end.record(&self.stream).map_err(cuda("event record"))?;
            let ms = self.start.elapsed_ms(&self.end).map_err(cuda("device-to-device copy"))?;
            Ok(Duration::from_secs_f64(f64::from(ms) / 1e3))
        })
    }
}
