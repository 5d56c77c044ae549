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
//! - [`Executor`] (`executor.rs`, with [`LiveError`] below it in `error.rs`,
//!   so the executors and the batch layout depend on neither this file nor
//!   each other's users): runs one step (a [`StepShape`], laid out as a [`Batch`])
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
mod error;
mod executor;
pub mod fidelity;

pub use batch::{Batch, ExecModel, Seq};
pub use error::LiveError;
pub use executor::{copy_rate, median_time, Backend, Executor};

/// Opens the executor for `backend` (not [`Backend::Sim`]) on `model`.
pub fn open(backend: Backend, model: ExecModel) -> Result<Box<dyn Executor>, LiveError> {
    match backend {
        Backend::Cpu => Ok(Box::new(cpu::CpuExecutor::new(model)?)),
        Backend::Cuda => Ok(Box::new(cuda::CudaExecutor::new(model)?)),
        Backend::Sim => Err(LiveError::Shape("the sim backend has no executor".into())),
    }
}
