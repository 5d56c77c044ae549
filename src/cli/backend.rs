//! Flags shared by the commands that run steps for real (`run --backend`,
//! `calibrate`, `fidelity`): which model shape the executor runs, and
//! opening the executor with bad input (no CUDA, an unknown or oversized
//! model) reported as exit code 2.

use super::Failure;
use servesim::live::{self, Backend, ExecModel, Executor, LiveError};
use servesim::model::profile::ModelProfile;
use servesim::model::profile_lookup::ProfileLookup;

#[derive(clap::Args, Debug, Clone)]
pub struct ExecutorFlags {
    /// Model shape the executor runs, a model profile (random weights, real shapes).
    /// Default: tiny-llama on cpu, llama-3-8b on cuda.
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// Number of layers to run instead of the model's own (a shorter stack of the same shapes).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    layers: Option<u32>,
}

impl ExecutorFlags {
    /// Bad input first: `--backend cuda` where CUDA cannot load.
    pub fn check(backend: Backend) -> Result<(), Failure> {
        match backend {
            Backend::Cuda => live::cuda::available().map_err(Failure::input),
            _ => Ok(()),
        }
    }

    /// The model profile the executor for `backend` runs.
    pub fn model_name(&self, backend: Backend) -> &str {
        let default = if backend == Backend::Cuda { "llama-3-8b" } else { "tiny-llama" };
        self.model.as_deref().unwrap_or(default)
    }

    /// The executor for `backend` (cpu or cuda) on the chosen shape.
    pub fn open(&self, backend: Backend, profiles: &ProfileLookup) -> Result<Box<dyn Executor>, Failure> {
        Self::check(backend)?;
        let profile: ModelProfile = profiles.find(self.model_name(backend)).map_err(Failure::input)?;
        let model = ExecModel::from_profile(&profile, self.layers).map_err(Failure::input)?;
        live::open(backend, model).map_err(|e| match e {
            LiveError::NoCuda(_) | LiveError::Shape(_) => Failure::input(e),
            _ => Failure::failed(e),
        })
    }
}
