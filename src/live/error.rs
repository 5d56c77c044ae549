//! How a live run fails. Below everything else in `live`: the batch
//! layout, the executors and the drivers all return it.

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
