//! Flags shared by the subcommands: the thread count (every subcommand),
//! and for those that load scenarios the seed, key overrides, quiet output.

use super::failure::Failure;
use clap::Args;

/// Flags every subcommand takes, before or after its name.
#[derive(Args, Debug, Clone)]
pub struct GlobalFlags {
    /// Threads for the work that runs in parallel (a report's files, sweep points, replications, swarm seeds,
    /// distribution strategies); default one per core. Results are byte-identical for any count.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

impl GlobalFlags {
    /// Sizes rayon's global pool; without `--threads` rayon picks (one
    /// thread per core, or `RAYON_NUM_THREADS`).
    pub(super) fn apply(&self) -> Result<(), Failure> {
        let Some(n) = self.threads else { return Ok(()) };
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.into())
            .build_global()
            .map_err(|e| Failure::failed(anyhow::anyhow!("--threads {n}: cannot start the thread pool: {e}")))
    }
}

/// Flags shared by commands that load scenarios.
#[derive(Args, Debug, Clone)]
pub struct ScenarioFlags {
    /// Master seed (overrides the scenario's `seed`).
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Override a scenario key, e.g. --set batching.max_batch=16 --set batching.max_wait=5ms (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    pub(super) set: Vec<String>,
    /// Run even when the expected work is above the limit (sets run.allow_large = true).
    #[arg(long)]
    pub(super) allow_large: bool,
    /// Print only errors.
    #[arg(long, short)]
    pub(super) quiet: bool,
}

/// Refuses a key path (of `--set`, `--vary`, `--key`) too large to be a
/// scenario key before any work is done on it.
pub(super) fn check_key(flag: &str, key: &str) -> Result<(), Failure> {
    match servesim::input::key_too_large(key) {
        None => Ok(()),
        Some(why) => {
            let mut shown: String = key.chars().take(60).collect();
            if shown.len() < key.len() {
                shown.push_str("...");
            }
            Err(Failure::input(anyhow::anyhow!(
                "{flag} {shown}: {why}\n  hint: scenario keys are at most five levels deep, e.g. \
                 batching.max_batch; `servesim schema` lists them"
            )))
        }
    }
}

impl ScenarioFlags {
    /// The `--set` overrides, each key checked for size.
    pub(super) fn set_overrides(&self) -> Result<&[String], Failure> {
        for raw in &self.set {
            check_key("--set", raw.split_once('=').map_or(raw.as_str(), |(key, _)| key))?;
        }
        Ok(&self.set)
    }

    /// The `--set` overrides, then `--allow-large` as the serving-scenario
    /// override it stands for.
    pub(super) fn overrides(&self) -> Result<Vec<String>, Failure> {
        let allow = self.allow_large.then(|| "run.allow_large=true".to_string());
        Ok(self.set_overrides()?.iter().cloned().chain(allow).collect())
    }

    pub(super) fn load(&self, path: &std::path::Path) -> Result<servesim::scenario::Scenario, Failure> {
        let mut scenario = servesim::scenario::load(path, &self.overrides()?).map_err(Failure::input)?;
        if let Some(seed) = self.seed {
            scenario.seed = seed;
        }
        Ok(scenario)
    }
}
