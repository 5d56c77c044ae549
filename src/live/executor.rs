//! What runs a step for real: the backend choice, the executor interface
//! the CPU and CUDA executors implement, and the timing helpers they share.

use super::batch::ExecModel;
use super::error::LiveError;
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

/// Runs one serving step for real and times it.
///
/// A step is described by the core's [`StepShape`] (sums over sequences);
/// [`Batch::from_shape`](super::Batch::from_shape) turns it into sequences the kernels run. The
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

/// The median of `n` timed runs of `shape` after `warmup` untimed ones.
pub fn median_time(exec: &mut dyn Executor, shape: &StepShape, warmup: u32, n: u32) -> Result<Duration, LiveError> {
    for _ in 0..warmup {
        exec.run(shape)?;
    }
    let mut times = (0..n.max(1)).map(|_| exec.run(shape)).collect::<Result<Vec<_>, _>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}
