//! Subcommands, one file each; shared flags and the exit-code convention.

/// `println!` that stops quietly when stdout is closed (`servesim schema |
/// head`): a reader that has seen enough is not an error to panic on.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod backend;
mod calibrate;
mod distribute;
mod fidelity;
mod run;
mod schema;
mod swarm;
mod sweep;
mod tradeoff;
mod validate;

use clap::{Args, Parser, Subcommand};
use servesim::report::ReportError;
use std::process::ExitCode;

/// A failure with the exit code it maps to.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    /// Bad input: exit code 2.
    pub fn input(error: impl Into<anyhow::Error>) -> Self {
        Failure { code: 2, error: error.into() }
    }

    /// A run or check that failed: exit code 1.
    pub fn failed(error: impl Into<anyhow::Error>) -> Self {
        Failure { code: 1, error: error.into() }
    }
}

/// A destination servesim may not write over is bad input (exit 2); a
/// report that could not be encoded or written is a failed run (exit 1).
impl From<ReportError> for Failure {
    fn from(error: ReportError) -> Self {
        match error {
            ReportError::Refused { .. } => Failure::input(error),
            _ => Failure::failed(error),
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "servesim",
    version,
    about = "Deterministic discrete-event simulator and capacity-planning workbench for LLM inference serving",
    long_about = "Deterministic discrete-event simulator and capacity-planning workbench for LLM inference serving.\n\n\
Start with:\n  servesim run scenarios/single-gpu-batching.toml     # writes reports/single-gpu-batching/\n  \
servesim sweep scenarios/single-gpu-batching.toml --vary workload.rate_per_s=50,100,125 --slo-p99 250ms\n  \
servesim validate                                    # simulator vs queueing theory\n  \
servesim schema                                      # every scenario key, as JSON Schema\n\n\
Same scenario + same seed => byte-identical summary.json."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario file and write its report folder.
    Run(run::RunArgs),
    /// Run a scenario at several values of one key (e.g. the arrival rate) and tabulate the knee.
    Sweep(sweep::SweepArgs),
    /// Sweep a safety threshold: helpfulness (benign pass rate) vs safety (harmful block rate) vs added latency.
    Tradeoff(tradeoff::TradeoffArgs),
    /// Check the simulator against queueing-theory formulas (M/M/c, M/G/1, PS, bulk service, batcher).
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Distribute model weights to a fleet: sequential, fan-out, tree, swarm, rack-aware swarm vs the lower bound.
    Distribute(distribute::DistributeArgs),
    /// Measure real steps (cpu or cuda executor), or take a saved sweep (--refit), fit the step-time model, write a calibrated profile.
    Calibrate(calibrate::CalibrateArgs),
    /// Run a scenario live and simulated with a calibrated profile; per-metric error.
    Fidelity(fidelity::FidelityArgs),
    /// Swarm-test the simulator: draw a whole scenario from each seed, run it, check every invariant.
    Swarm(swarm::SwarmArgs),
}

/// Flags shared by commands that load scenarios.
#[derive(Args, Debug, Clone)]
pub struct ScenarioFlags {
    /// Master seed (overrides the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Override a scenario key, e.g. --set batching.max_batch=16 --set batching.max_wait=5ms (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
    /// Run even when the expected work is above the limit (sets run.allow_large = true).
    #[arg(long)]
    allow_large: bool,
    /// Print only errors.
    #[arg(long, short)]
    quiet: bool,
}

/// Refuses a key path (of `--set`, `--vary`, `--key`) too large to be a
/// scenario key before any work is done on it.
fn check_key(flag: &str, key: &str) -> Result<(), Failure> {
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
    fn set_overrides(&self) -> Result<&[String], Failure> {
        for raw in &self.set {
            check_key("--set", raw.split_once('=').map_or(raw.as_str(), |(key, _)| key))?;
        }
        Ok(&self.set)
    }

    /// The `--set` overrides, then `--allow-large` as the serving-scenario
    /// override it stands for.
    fn overrides(&self) -> Result<Vec<String>, Failure> {
        let allow = self.allow_large.then(|| "run.allow_large=true".to_string());
        Ok(self.set_overrides()?.iter().cloned().chain(allow).collect())
    }

    fn load(&self, path: &std::path::Path) -> Result<servesim::scenario::Scenario, Failure> {
        let mut scenario = servesim::scenario::load(path, &self.overrides()?).map_err(Failure::input)?;
        if let Some(seed) = self.seed {
            scenario.seed = seed;
        }
        Ok(scenario)
    }
}

pub fn dispatch(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Tradeoff(args) => tradeoff::tradeoff(args),
        Command::Validate(args) => validate::validate(args),
        Command::Schema => schema::schema(),
        Command::Distribute(args) => distribute::distribute(args),
        Command::Calibrate(args) => calibrate::calibrate(args),
        Command::Fidelity(args) => fidelity::fidelity(args),
        Command::Swarm(args) => swarm::swarm(args),
    }
}
