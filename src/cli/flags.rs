//! Flags shared by the subcommands that load scenarios: the seed, key
//! overrides, quiet output.

use super::failure::Failure;
use clap::Args;

/// Flags shared by commands that load scenarios.
#[derive(Args, Debug, Clone)]
pub struct ScenarioFlags {
    /// Master seed (overrides the scenario's `seed`).
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Override a scenario key, e.g. --set batching.max_batch=16 --set batching.max_wait=5ms (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    pub(super) set: Vec<String>,
    /// Print only errors.
    #[arg(long, short)]
    pub(super) quiet: bool,
}

impl ScenarioFlags {
    pub(super) fn load(&self, path: &std::path::Path) -> Result<servesim::scenario::Scenario, Failure> {
        let mut scenario = servesim::scenario::load(path, &self.set).map_err(Failure::input)?;
        if let Some(seed) = self.seed {
            scenario.seed = seed;
        }
        Ok(scenario)
    }
}
