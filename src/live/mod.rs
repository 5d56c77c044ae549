//! The live backend: the same LLM scheduling core, driven by the wall clock,
//! with every step run for real.
//!
//! Why it exists: the step-time model (`model::step`) is a roofline with
//! three coefficients (overhead, effective bandwidth, effective FLOP/s).
//! Datasheet peaks times guessed efficiencies are only a start; the live
//! backend measures what a real step costs, fits the coefficients
//! ([`calibrate`]) and checks that the simulator, given them, predicts the
//! latencies a live run shows ([`fidelity`]).
//!
//! Pieces:
//! - [`Executor`]: runs one step (a [`StepShape`], laid out as a [`Batch`])
//!   of a transformer with random weights and real shapes ([`ExecModel`])
//!   and returns the measured duration. [`cpu::CpuExecutor`] is plain Rust,
//!   the correctness reference for the kernels and what keeps the live path
//!   tested where no GPU exists; [`cuda::CudaExecutor`] runs `kernels/*.cu`
//!   through cudarc (NVRTC at run time, CUDA events for timing).
//! - [`driver`]: the live driver; it reuses the sim driver's loop with steps
//!   that run on an executor's worker thread and end in wall-clock time.
//!
//! cudarc loads libcuda and libnvrtc on first use and panics if they are
//! missing, so [`open`] checks `is_culib_present()` first and returns
//! [`LiveError::NoCuda`]: one clear line, never a panic.

pub mod batch;
pub mod calibrate;
pub mod cpu;
pub mod cuda;
pub mod driver;
pub mod fidelity;

pub use batch::{Batch, ExecModel, Seq};

use crate::core::llm::StepShape;
use std::time::Duration;

/// Where steps run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// The step-time model under the virtual clock (no executor).
    Sim,
    /// The plain-Rust reference executor, wall clock.
    Cpu,
    /// CUDA kernels through cudarc, wall clock.
    Cuda,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sim => "sim",
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        }
    }
}

/// A live-backend failure. Every variant is fatal for the run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// No usable CUDA driver or NVRTC: a user error (exit 2), not a crash.
    #[error("no CUDA driver found: {0}")]
    NoCuda(String),
    /// A shape the executor cannot run (bad model dimensions, empty step).
    #[error("{0}")]
    Shape(String),
    /// A CUDA call or kernel compile failed while running.
    #[error("CUDA: {0}")]
    Cuda(String),
    /// The executor's worker thread went away.
    #[error("executor stopped: {0}")]
    Stopped(String),
}

/// Runs one serving step for real and times it.
///
/// A step is described by the core's [`StepShape`] (sums over sequences);
/// [`Batch::from_shape`] turns it into sequences the kernels run. The
/// duration is what the device took: CUDA events around the step on a GPU,
/// the wall clock on the CPU. O(work of the step).
pub trait Executor: Send {
    fn backend(&self) -> Backend;
    /// The model shape it runs (weights random, shapes real).
    fn model(&self) -> &ExecModel;
    /// Runs `shape` once and returns how long it took.
    fn run(&mut self, shape: &StepShape) -> Result<Duration, LiveError>;
    /// A device description for reports ("NVIDIA H100 80GB HBM3", "cpu: 2 threads").
    fn device(&self) -> String;
    /// Memory bandwidth of a large copy on the device, bytes read plus
    /// bytes written per second (median of repeats): the ceiling a
    /// weight-streaming decode step is measured against.
    fn copy_bandwidth(&mut self) -> Result<f64, LiveError>;
}

/// Bytes read plus written per second by `copy`, which moves `bytes` once
/// and returns how long it took: median of 9 after one warm-up.
pub fn copy_rate(bytes: usize, mut copy: impl FnMut() -> Result<Duration, LiveError>) -> Result<f64, LiveError> {
    copy()?;
    let mut times = (0..9).map(|_| copy()).collect::<Result<Vec<_>, _>>()?;
    times.sort();
    Ok(2.0 * bytes as f64 / times[4].as_secs_f64().max(1e-12))
}

/// Opens the executor for `backend` (not [`Backend::Sim`]) on `model`.
pub fn open(backend: Backend, model: ExecModel) -> Result<Box<dyn Executor>, LiveError> {
    match backend {
        Backend::Cpu => Ok(Box::new(cpu::CpuExecutor::new(model)?)),
        Backend::Cuda => Ok(Box::new(cuda::CudaExecutor::new(model)?)),
        Backend::Sim => Err(LiveError::Shape("the sim backend has no executor".into())),
    }
}

/// The median of `n` timed runs of `shape` after `warmup` untimed ones.
pub fn median_time(exec: &mut dyn Executor, shape: &StepShape, warmup: u32, n: u32) -> Result<Duration, LiveError> {
    for _ in 0..warmup {
        exec.run(shape)?;
    }
    let mut times = (0..n.max(1)).map(|_| exec.run(shape)).collect::<Result<Vec<_>, _>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}
